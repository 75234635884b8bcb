#!/usr/bin/env python3
"""torch2recur.py MODULE.pt OUT.safetensors

Converts a torch.nn.RNN, LSTM or GRU saved whole (torch.save(module, path))
into a recur model file: safetensors with the layer's configuration in
__metadata__ (see recur_safetensors.recurrent_metadata) and its state_dict
as float32 tensors under the same names.

torch.load unpickles the file, which can run code: convert only files you
trust. Errors are one line on stderr, with exit status 1.
"""

import argparse
import inspect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recur_safetensors as rs  # noqa: E402

PROG = "torch2recur"


def die(msg):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(1)


def load_module(torch, path):
    if not os.path.isfile(path):
        die(f"{path}: no such file")
    kwargs = {"map_location": "cpu"}
    # A whole module is a pickle of its class: newer torch refuses that
    # unless asked (weights_only=False); torch 1.13 has the flag too.
    if "weights_only" in inspect.signature(torch.load).parameters:
        kwargs["weights_only"] = False
    try:
        return torch.load(path, **kwargs)
    except Exception as e:  # anything: not a torch file, truncated, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        die(f"{path}: torch.load failed: {type(e).__name__}: {first}")


def config_of(torch, m, path):
    nn = torch.nn
    if isinstance(m, dict):
        die(f"{path}: holds a dict (a state_dict or a checkpoint?), not a module; save the "
            "whole layer with torch.save(module, path)")
    if not isinstance(m, (nn.RNN, nn.LSTM, nn.GRU)):
        die(f"{path}: holds a {type(m).__module__}.{type(m).__qualname__}, expected a "
            "torch.nn.RNN, LSTM or GRU")
    mode = m.mode
    if isinstance(m, nn.RNN):
        want = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}.get(m.nonlinearity)
        if want is None or mode != want:
            die(f"{path}: RNN with nonlinearity {m.nonlinearity!r} and mode {mode!r}")
    elif mode != ("LSTM" if isinstance(m, nn.LSTM) else "GRU"):
        die(f"{path}: {type(m).__name__} with mode {mode!r}")
    proj = int(getattr(m, "proj_size", 0) or 0)
    try:
        meta = rs.recurrent_metadata(mode, m.input_size, m.hidden_size, m.num_layers,
                                     m.bias, m.batch_first, m.dropout, m.bidirectional, proj)
    except ValueError as e:
        die(f"{path}: {e}")
    return meta


def main():
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Convert a whole torch.nn.RNN/LSTM/GRU (torch.save(module, path)) into "
                    "a recur model file (safetensors).")
    ap.add_argument("module", help="the .pt file made with torch.save(module, path)")
    ap.add_argument("out", help="the .safetensors file to write")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        die("PyTorch is not installed (Debian: apt-get install python3-torch)")

    m = load_module(torch, args.module)
    meta = config_of(torch, m, args.module)
    cfg = rs.parse_recurrent_metadata(meta, args.module)
    want = rs.recurrent_param_shapes(cfg)
    sd = m.state_dict()
    if list(sd) != list(want):
        missing = [k for k in want if k not in sd]
        extra = [k for k in sd if k not in want]
        die(f"{args.module}: the state_dict is not a plain {meta['mode']} layer's "
            f"(missing {missing or 'none'}, unexpected {extra or 'none'})")
    tensors = {}
    converted = set()
    for name, t in sd.items():
        if tuple(t.shape) != want[name]:
            die(f"{args.module}: {name} has shape {list(t.shape)}, expected {list(want[name])}")
        if not t.is_floating_point():
            die(f"{args.module}: {name} has dtype {t.dtype}, expected floating point")
        if t.dtype != torch.float32:
            converted.add(str(t.dtype))
        tensors[name] = t.detach().to("cpu", torch.float32).contiguous().numpy()
    if converted:
        print(f"{PROG}: note: converted {', '.join(sorted(converted))} parameters to float32",
              file=sys.stderr)
    try:
        rs.write(args.out, tensors, meta)
    except OSError as e:
        die(f"{args.out}: cannot write: {e.strerror or e}")
    n = sum(a.size for a in tensors.values())
    print(f"{args.out}: {meta['mode']}, input {meta['input_size']}, hidden "
          f"{meta['hidden_size']}, {meta['num_layers']} layer(s)"
          f"{', bidirectional' if cfg['bidirectional'] else ''}"
          f"{', proj ' + meta['proj_size'] if cfg['proj_size'] else ''}: "
          f"{len(tensors)} tensors, {n} parameters")


if __name__ == "__main__":
    main()
