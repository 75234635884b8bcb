#!/usr/bin/env python3
"""recur2torch.py IN.safetensors OUT.pt

The way back from torch2recur.py: builds the torch.nn.RNN, LSTM or GRU that
a recur model file's __metadata__ describes, loads its tensors as the
state_dict (strictly: every name and shape must match), and saves the whole
module with torch.save(module, OUT.pt). Errors are one line on stderr, with
exit status 1.
"""

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recur_safetensors as rs  # noqa: E402

PROG = "recur2torch"


def die(msg):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(1)


def build(torch, cfg):
    nn = torch.nn
    common = dict(input_size=cfg["input_size"], hidden_size=cfg["hidden_size"],
                  num_layers=cfg["num_layers"], bias=cfg["bias"],
                  batch_first=cfg["batch_first"], dropout=cfg["dropout"],
                  bidirectional=cfg["bidirectional"])
    with warnings.catch_warnings():
        # dropout with one layer: torch warns, and the file says what it says
        warnings.simplefilter("ignore")
        mode = cfg["mode"]
        if mode == "LSTM":
            return nn.LSTM(proj_size=cfg["proj_size"], **common)
        if mode == "GRU":
            return nn.GRU(**common)
        return nn.RNN(nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **common)


def main():
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Convert a recur model file (safetensors) of a recurrent layer into a "
                    "whole torch.nn.RNN/LSTM/GRU saved with torch.save.")
    ap.add_argument("model", help="the .safetensors file")
    ap.add_argument("out", help="the .pt file to write")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        die("PyTorch is not installed (Debian: apt-get install python3-torch)")

    try:
        tensors, meta = rs.read(args.model)
    except OSError as e:
        die(f"{args.model}: {e.strerror or e}")
    except rs.FormatError as e:
        die(str(e))
    try:
        cfg = rs.parse_recurrent_metadata(meta, args.model)
    except rs.FormatError as e:
        die(str(e))

    m = build(torch, cfg)
    sd = m.state_dict()
    missing = [k for k in sd if k not in tensors]
    extra = [k for k in tensors if k not in sd]
    if missing or extra:
        die(f"{args.model}: tensors do not match a {cfg['mode']} layer of this configuration "
            f"(missing {missing or 'none'}, unexpected {extra or 'none'})")
    new = {}
    for k, ref in sd.items():
        a = tensors[k]
        if tuple(a.shape) != tuple(ref.shape):
            die(f"{args.model}: {k} has shape {list(a.shape)}, expected {list(ref.shape)}")
        if a.dtype.kind != "f":
            die(f"{args.model}: {k} has dtype {a.dtype}, expected floating point")
        new[k] = torch.from_numpy(a.astype("float32", copy=True))
    m.load_state_dict(new, strict=True)

    tmp = args.out + ".tmp"
    try:
        with open(tmp, "wb") as f:
            torch.save(m, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, args.out)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        die(f"{args.out}: cannot write: {e.strerror or e}")
    print(f"{args.out}: {type(m).__name__}({cfg['input_size']}, {cfg['hidden_size']}, "
          f"num_layers={cfg['num_layers']}) with {len(new)} tensors")


if __name__ == "__main__":
    main()
