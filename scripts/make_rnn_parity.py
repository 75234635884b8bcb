#!/usr/bin/env python3
"""Makes the PyTorch parity cases for recur's recurrent layer.

Each case is a torch.nn.RNN / LSTM / GRU with random weights, a random input
(and sometimes random initial states and variable lengths), the outputs
torch computes, and the gradients of  sum(y*dy) + sum(h_n*dh) + sum(c_n*dc)
with respect to the input, the initial states and every parameter, for
random dy, dh, dc. All cases go into one safetensors file: tensors are named
"<case>/<name>", and each case's configuration is in the metadata as
"<case>/<field>". The C test (tests/test_rnn_parity.c) rebuilds each layer,
loads the weights, and compares everything.

usage: make_rnn_parity.py OUT.safetensors [--seed N] [--quick]
"""
import argparse
import itertools
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recur_safetensors import write  # noqa: E402

T, B, I, H, P = 5, 3, 3, 4, 2
LENGTHS = [5, 1, 3]  # all different, with length 1 and the full length

CELLS = ["RNN_TANH", "RNN_RELU", "LSTM", "LSTM_PROJ", "GRU"]


def make_module(cell, layers, bidir, bias, batch_first):
    kw = dict(input_size=I, hidden_size=H, num_layers=layers, bias=bias,
              batch_first=batch_first, bidirectional=bidir)
    if cell == "RNN_TANH":
        return torch.nn.RNN(nonlinearity="tanh", **kw), "RNN_TANH", 0
    if cell == "RNN_RELU":
        return torch.nn.RNN(nonlinearity="relu", **kw), "RNN_RELU", 0
    if cell == "LSTM":
        return torch.nn.LSTM(**kw), "LSTM", 0
    if cell == "LSTM_PROJ":
        return torch.nn.LSTM(proj_size=P, **kw), "LSTM", P
    return torch.nn.GRU(**kw), "GRU", 0


def run_case(g, cell, layers, bidir, bias, batch_first, varlen, with_h0):
    mod, mode, proj = make_module(cell, layers, bidir, bias, batch_first)
    for p in mod.parameters():
        with torch.no_grad():
            p.copy_(torch.empty_like(p).uniform_(-0.6, 0.6, generator=g))
    D = 2 if bidir else 1
    S = proj if proj else H
    is_lstm = mode == "LSTM"
    xshape = (B, T, I) if batch_first else (T, B, I)
    x = torch.empty(xshape).uniform_(-1, 1, generator=g).requires_grad_()
    h0 = torch.empty(layers * D, B, S).uniform_(-0.5, 0.5, generator=g).requires_grad_()
    c0 = torch.empty(layers * D, B, H).uniform_(-0.5, 0.5, generator=g).requires_grad_()
    state = None
    if with_h0:
        state = (h0, c0) if is_lstm else h0
    if varlen:
        lengths = torch.tensor(LENGTHS)
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=batch_first, enforce_sorted=False)
        out, st = mod(packed, state)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out, batch_first=batch_first, total_length=T)
    else:
        y, st = mod(x, state)
    hn, cn = (st if is_lstm else (st, None))
    dy = torch.empty_like(y).uniform_(-1, 1, generator=g)
    dh = torch.empty_like(hn).uniform_(-1, 1, generator=g)
    loss = (y * dy).sum() + (hn * dh).sum()
    tensors = {"x": x, "y": y, "h_n": hn, "dy": dy, "dh_n": dh}
    if is_lstm:
        dc = torch.empty_like(cn).uniform_(-1, 1, generator=g)
        loss = loss + (cn * dc).sum()
        tensors.update({"c_n": cn, "dc_n": dc})
    loss.backward()
    tensors["grad/x"] = x.grad
    if with_h0:
        tensors["h0"] = h0
        tensors["grad/h0"] = h0.grad
        if is_lstm:
            tensors["c0"] = c0
            tensors["grad/c0"] = c0.grad
    if varlen:
        tensors["lengths"] = torch.tensor(LENGTHS, dtype=torch.float32)
    for name, p in mod.named_parameters():
        tensors["param/" + name] = p
        tensors["grad/" + name] = p.grad
    meta = {
        "mode": mode, "input_size": str(I), "hidden_size": str(H),
        "num_layers": str(layers), "bias": str(bias).lower(),
        "batch_first": str(batch_first).lower(), "bidirectional": str(bidir).lower(),
        "proj_size": str(proj), "dropout": "0.0",
    }
    return {k: v.detach().numpy().astype(np.float32) for k, v in tensors.items()}, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--quick", action="store_true",
                    help="one case per cell and layout (for fresh random checks)")
    a = ap.parse_args()
    g = torch.Generator().manual_seed(a.seed)
    tensors, meta, names = {}, {}, []
    k = 0
    for cell in CELLS:
        combos = list(itertools.product([1, 2, 3], [False, True], [True, False]))
        if a.quick:
            combos = [combos[(a.seed + j) % len(combos)] for j in (0, 5)]
        for layers, bidir, bias in combos:
            # batch_first, variable lengths and given initial states vary with
            # the case number so that each meets every other option.
            batch_first = bool(k % 2)
            varlen = bool((k // 2) % 2) or layers == 3
            with_h0 = bool((k // 4) % 2) or (layers == 2 and bidir)
            name = "c%03d" % k
            t, m = run_case(g, cell, layers, bidir, bias, batch_first, varlen, with_h0)
            for key, v in t.items():
                tensors[name + "/" + key] = v
            for key, v in m.items():
                meta[name + "/" + key] = v
            names.append(name)
            k += 1
    meta["cases"] = ",".join(names)
    meta["torch_version"] = torch.__version__
    write(a.out, tensors, meta)
    print("%s: %d cases" % (a.out, len(names)))


if __name__ == "__main__":
    main()
