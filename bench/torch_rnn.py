#!/usr/bin/python3
"""PyTorch's side of `make bench-compare` (bench/compare.py): the same
workload as bench/bench_rnn.c, timed, as one JSON line.

usage: torch_rnn.py --cell lstm|gru --mode train|infer|gen [--input I]
                    --hidden H --batch B --steps T --layers L
                    [--vocab V --embed E] [--seconds S] [--threads N]

The thread counts are set before torch is imported: torch's own threads
(torch.set_num_threads, OpenMP) from --threads, and OpenBLAS's, which torch
calls for its matrix products, from the environment (OPENBLAS_NUM_THREADS;
compare.py sets it). Timing as in bench_rnn.c: one warm-up iteration, then
about S seconds; peak resident memory from getrusage, and what it was once
torch was imported, before the model existed.
"""
import argparse
import json
import os
import resource
import sys
import time


def maxrss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    ap.add_argument("--mode", default="train", choices=["train", "infer", "gen"])
    ap.add_argument("--input", type=int, default=0)
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=0)
    ap.add_argument("--embed", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    base = maxrss_kb()
    lm = a.vocab > 0
    Cell = torch.nn.LSTM if a.cell == "lstm" else torch.nn.GRU
    rnn = Cell(a.embed if lm else a.input, a.hidden, a.layers)
    params = list(rnn.parameters())
    if lm:
        emb = torch.nn.Embedding(a.vocab, a.embed)
        head = torch.nn.Linear(a.hidden, a.vocab)
        params += list(emb.parameters()) + list(head.parameters())
    T, B = a.steps, a.batch
    if lm:
        ids = torch.randint(0, a.vocab, (T, B))
        targets = torch.randint(0, a.vocab, (T * B,))
    else:
        x = torch.rand(T, B, a.input) * 2 - 1
        target = torch.rand(T, B, a.hidden) * 2 - 1

    def loss_of_batch():
        if lm:
            y, _ = rnn(emb(ids))
            return torch.nn.functional.cross_entropy(head(y).view(-1, a.vocab), targets)
        y, _ = rnn(x)
        return torch.nn.functional.mse_loss(y, target)

    if a.mode == "train":
        opt = torch.optim.Adam(params, lr=1e-3)

        def iteration():
            opt.zero_grad()
            loss = loss_of_batch()
            loss.backward()
            opt.step()
            return loss.item()

        tokens_per_iter = T * B
    elif a.mode == "infer":
        def iteration():
            with torch.no_grad():
                return loss_of_batch().item()

        tokens_per_iter = T * B
    else:
        if not lm:
            sys.exit("torch_rnn.py: gen needs --vocab and --embed")
        gen = torch.Generator().manual_seed(4)
        state = [None, torch.zeros(1, 1, dtype=torch.long)]

        def iteration():  # 64 characters, one at a time, state carried
            with torch.no_grad():
                h, nxt = state
                for _ in range(64):
                    y, h = rnn(emb(nxt), h)
                    p = torch.softmax(head(y[-1]), -1)
                    nxt = torch.multinomial(p, 1, generator=gen).view(1, 1)
                state[0], state[1] = h, nxt
            return 0.0

        tokens_per_iter = 64

    loss = iteration()  # warm-up
    iters = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while True:
        loss = iteration()
        iters += 1
        if time.perf_counter() - t0 >= a.seconds and iters >= 2:
            break
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({
        "side": "torch", "tokens_per_s": iters * tokens_per_iter / dt, "iters": iters,
        "seconds": dt, "s_per_iter": dt / iters,
        "cpu_s_per_iter": cpu / iters, "maxrss_kb": maxrss_kb(),
        "base_rss_kb": base, "threads": a.threads,
        "blas_threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0")),
        "torch": torch.__version__, "loss": loss}))


if __name__ == "__main__":
    main()
