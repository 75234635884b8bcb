#!/usr/bin/python3
"""music_reference.py - `recur train music`'s model and training, in PyTorch.

The same model (torch.nn.RNN/LSTM/GRU over 88-key frames, dropout, a
linear head, one sigmoid per key), the same loss (Bernoulli NLL summed over
the keys, averaged over the predicted frames of a batch; padding masked),
the same batching (pieces shuffled, sorted by length within groups of 8
batches, batches shuffled), Adam, clipping by global norm, and the same
measure on the validation split after each epoch. What it is for: telling
whether a learning curve of recur's comes from the model and its
hyperparameters (PyTorch's curve is the same) or from recur's training
(it is not). It prints one line per epoch:

    epoch E  train T  valid V  seconds S

Usage (Debian's python3-torch):
    /usr/bin/python3 scripts/music_reference.py DATA.json --cell gru --hidden 192 \
        --dropout 0.2 --batch 4 --lr 2e-3 --epochs 10
"""
import argparse
import json
import math
import random
import time

import torch

KEYS = 88


def roll(piece):
    """A piece (list of frames of MIDI notes 21-108) as a [T x 88] tensor."""
    x = torch.zeros(len(piece), KEYS)
    for t, frame in enumerate(piece):
        for note in frame:
            x[t, note - 21] = 1.0
    return x


class Model(torch.nn.Module):
    def __init__(self, cell, hidden, layers, dropout):
        super().__init__()
        kind = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.rnn = kind(KEYS, hidden, num_layers=layers,
                        dropout=dropout if layers > 1 else 0.0)
        self.drop = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(hidden, KEYS)

    def forward(self, x, lengths):
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        y, _ = self.rnn(packed)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=x.shape[0])
        return self.head(self.drop(y))


def batch(rolls, ids):
    """Inputs piece[:-1], targets piece[1:], padded to [T x B x 88], a mask."""
    lengths = [rolls[i].shape[0] - 1 for i in ids]
    T, B = max(lengths), len(ids)
    x, y, m = torch.zeros(T, B, KEYS), torch.zeros(T, B, KEYS), torch.zeros(T, B)
    for b, i in enumerate(ids):
        L = lengths[b]
        x[:L, b] = rolls[i][:-1]
        y[:L, b] = rolls[i][1:]
        m[:L, b] = 1.0
    return x, y, m, torch.tensor(lengths)


def nll(model, x, y, m, lengths):
    """Summed over keys, averaged over the unmasked frames."""
    logits = model(x, lengths)
    per = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
    return (per.sum(-1) * m).sum() / m.sum()


def evaluate(model, rolls, B=16):
    model.eval()
    ids = sorted((i for i in range(len(rolls)) if rolls[i].shape[0] >= 2),
                 key=lambda i: rolls[i].shape[0])
    total, frames = 0.0, 0.0
    with torch.no_grad():
        for s in range(0, len(ids), B):
            x, y, m, L = batch(rolls, ids[s:s + B])
            total += nll(model, x, y, m, L).item() * m.sum().item()
            frames += m.sum().item()
    model.train()
    return total / frames


def epoch_batches(rolls, B, rng):
    ids = [i for i in range(len(rolls)) if rolls[i].shape[0] >= 2]
    rng.shuffle(ids)
    group = 8 * B
    for g in range(0, len(ids), group):
        ids[g:g + group] = sorted(ids[g:g + group], key=lambda i: rolls[i].shape[0])
    batches = [ids[s:s + B] for s in range(0, len(ids), B)]
    rng.shuffle(batches)
    return batches


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: no limit)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = random.Random(a.seed)
    data = json.load(open(a.data))
    train = [roll(p) for p in data["train"]]
    valid = [roll(p) for p in data["valid"]]
    model = Model(a.cell, a.hidden, a.layers, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    start = time.time()
    print(f"# {a}", flush=True)
    for epoch in range(1, a.epochs + 1):
        total, frames = 0.0, 0.0
        for ids in epoch_batches(train, a.batch, rng):
            x, y, m, L = batch(train, ids)
            loss = nll(model, x, y, m, L)
            opt.zero_grad()
            loss.backward()
            if a.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            total += loss.item() * m.sum().item()
            frames += m.sum().item()
        v = evaluate(model, valid)
        print(f"epoch {epoch}  train {total / frames:.4f}  valid {v:.4f}  "
              f"seconds {time.time() - start:.0f}", flush=True)
        if a.seconds and time.time() - start > a.seconds:
            break
    if not math.isfinite(v):
        raise SystemExit("the validation NLL is not finite")


if __name__ == "__main__":
    main()
