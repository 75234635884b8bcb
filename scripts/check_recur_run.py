#!/usr/bin/env python3
"""Checks that torch.nn.RNN / LSTM / GRU modules, saved whole, converted with
scripts/torch2recur.py and run by `recur run`, give torch's outputs within
1e-5 (relative to each tensor's largest magnitude).

usage: check_recur_run.py RECUR_BINARY [--seed N] [--cases N]

Random configurations (cell, sizes, layers, directions, bias, batch_first,
proj_size, initial states, variable lengths) are drawn from the seed. Prints
one line per case and exits 1 if any differs.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def random_case(rng):
    mode = rng.choice(["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
    cfg = dict(input_size=rng.randint(1, 12), hidden_size=rng.randint(2, 24),
               num_layers=rng.randint(1, 3), bias=rng.random() < 0.7,
               batch_first=rng.random() < 0.5, bidirectional=rng.random() < 0.5)
    if mode == "LSTM":
        cls = torch.nn.LSTM
        if rng.random() < 0.4:
            cfg["proj_size"] = rng.randint(1, cfg["hidden_size"] - 1)
    elif mode == "GRU":
        cls = torch.nn.GRU
    else:
        cls = torch.nn.RNN
        cfg["nonlinearity"] = "tanh" if mode == "RNN_TANH" else "relu"
    if cfg["num_layers"] > 1 and rng.random() < 0.3:
        cfg["dropout"] = 0.3  # inactive in eval mode; must be carried over
    return mode, cls(**cfg).eval(), cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("recur")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=12)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    torch.manual_seed(a.seed)
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        for k in range(a.cases):
            mode, mod, cfg = random_case(rng)
            T, B = rng.randint(1, 9), rng.randint(1, 5)
            D = 2 if cfg["bidirectional"] else 1
            L = cfg["num_layers"]
            H = cfg["hidden_size"]
            P = cfg.get("proj_size", 0) or H
            x = torch.randn((B, T, cfg["input_size"]) if cfg["batch_first"]
                            else (T, B, cfg["input_size"]))
            files = {"input": x}
            state = None
            if rng.random() < 0.5:
                h0 = torch.randn(L * D, B, P)
                files["h0"] = h0
                state = h0
                if mode == "LSTM":
                    c0 = torch.randn(L * D, B, H)
                    files["c0"] = c0
                    state = (h0, c0)
            lengths = None
            if rng.random() < 0.5:
                lengths = [rng.randint(1, T) for _ in range(B)]
                lengths[0] = T
            with torch.no_grad():
                if lengths:
                    packed = torch.nn.utils.rnn.pack_padded_sequence(
                        x, torch.tensor(lengths), batch_first=cfg["batch_first"],
                        enforce_sorted=False)
                    out, st = mod(packed, state)
                    y, _ = torch.nn.utils.rnn.pad_packed_sequence(
                        out, batch_first=cfg["batch_first"], total_length=T)
                else:
                    y, st = mod(x, state)
            hn, cn = st if mode == "LSTM" else (st, None)
            pt = os.path.join(d, "m.pt")
            model = os.path.join(d, "m.safetensors")
            torch.save(mod, pt)
            subprocess.run([sys.executable, os.path.join(HERE, "torch2recur.py"), pt, model],
                           check=True, stdout=subprocess.DEVNULL)
            cmd = [a.recur, "run", model, "--output", os.path.join(d, "y.npy"),
                   "--hn", os.path.join(d, "hn.npy")]
            for name, t in files.items():
                np.save(os.path.join(d, name + ".npy"), t.numpy())
                cmd += ["--" + name, os.path.join(d, name + ".npy")]
            if lengths:
                np.save(os.path.join(d, "len.npy"), np.array(lengths, dtype=np.int64))
                cmd += ["--lengths", os.path.join(d, "len.npy")]
            if cn is not None:
                cmd += ["--cn", os.path.join(d, "cn.npy")]
            r = subprocess.run(cmd, capture_output=True, text=True)
            worst = 0.0
            if r.returncode != 0:
                print("case %d %s: recur run failed: %s" % (k, cfg, r.stderr.strip()))
                bad += 1
                continue
            for name, want in (("y", y), ("hn", hn), ("cn", cn)):
                if want is None:
                    continue
                got = np.load(os.path.join(d, name + ".npy"))
                want = want.numpy()
                if got.shape != want.shape:
                    worst = float("inf")
                    break
                scale = max(float(np.abs(want).max()), 1e-3)
                worst = max(worst, float(np.abs(got - want).max()) / scale)
            ok = worst <= 1e-5
            bad += not ok
            print("case %d %s %s T=%d B=%d lengths=%s: %s (worst relative error %.2e)"
                  % (k, mode, {k2: v for k2, v in cfg.items() if k2 != "nonlinearity"},
                     T, B, lengths, "ok" if ok else "DIFFERS", worst))
    print("%d of %d cases differ" % (bad, a.cases))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
