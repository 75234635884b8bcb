#!/usr/bin/env python3
"""The tiny-shakespeare character LSTM of docs/results.md, trained in PyTorch
for a fixed wall time, to compare with recur on the same machine.

Same data split (the last 10% of the file held out), vocabulary (characters
of the training part, plus <unk> at id 0), model (embedding -> dropout ->
torch.nn.LSTM -> dropout -> linear), truncated BPTT over `batch` parallel
streams with the state carried between windows, Adam, gradient clipping at
norm 5, and a cosine learning-rate schedule with linear warm-up; because the
number of steps that fit in the time is not known in advance, the schedule
follows the elapsed fraction of the time budget. Validation at the end, the
same way recur's `eval --last-fraction 0.1` does it.

usage: torch_charlm.py DATA --seconds S [--threads N] [model flags as recur's]
Prints one JSON line with the validation loss, steps and tokens/s.
"""
import argparse
import json
import math
import time

import torch


def streams(ids, batch):
    n = len(ids) // batch
    return torch.tensor(ids[: n * batch], dtype=torch.long).view(batch, n).t().contiguous()


class CharLM(torch.nn.Module):
    def __init__(self, vocab, embed, hidden, layers, dropout):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embed)
        self.drop = torch.nn.Dropout(dropout)
        self.rnn = torch.nn.LSTM(embed, hidden, layers, dropout=dropout)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, x, state):
        y, state = self.rnn(self.drop(self.embedding(x)), state)
        return self.head(self.drop(y)), state


def evaluate(model, data, bptt, batch):
    model.eval()
    s = streams(data, batch)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, s.size(0) - 1, bptt):
            T = min(bptt, s.size(0) - 1 - i)
            logits, state = model(s[i:i + T], state)
            loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)),
                                                     s[i + 1:i + 1 + T].reshape(-1))
            total += loss.item() * T * batch
            count += T * batch
    model.train()
    return total / count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--valid-fraction", type=float, default=0.1)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bptt", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    text = open(a.data, encoding="utf-8").read()
    cut = len(text) - int(len(text) * a.valid_fraction)
    train_text, valid_text = text[:cut], text[cut:]
    vocab = ["<unk>"] + sorted(set(train_text))
    index = {c: i for i, c in enumerate(vocab)}
    train = [index[c] for c in train_text]
    valid = [index.get(c, 0) for c in valid_text]
    model = CharLM(len(vocab), a.embed, a.hidden, a.layers, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    s = streams(train, a.batch)
    start = time.monotonic()
    step, pos, state, tokens = 0, 0, None, 0
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= a.seconds:
            break
        if pos + 1 >= s.size(0):
            pos, state = 0, None
        T = min(a.bptt, s.size(0) - 1 - pos)
        if step < a.warmup:
            lr = a.lr * (step + 1) / a.warmup
        else:
            frac = min(1.0, elapsed / a.seconds)
            lr = 0.01 * a.lr + 0.5 * (a.lr - 0.01 * a.lr) * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr
        if state is not None:
            state = tuple(h.detach() for h in state)
        logits, state = model(s[pos:pos + T], state)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, len(vocab)),
                                                 s[pos + 1:pos + 1 + T].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        pos += T
        step += 1
        tokens += T * a.batch
    train_seconds = time.monotonic() - start
    vl = evaluate(model, valid, a.bptt, a.batch)
    print(json.dumps({"peer": "pytorch " + torch.__version__, "threads": a.threads,
                      "steps": step, "train_seconds": round(train_seconds, 1),
                      "tokens_per_second": round(tokens / train_seconds, 1),
                      "valid_loss": round(vl, 4)}))


if __name__ == "__main__":
    main()
