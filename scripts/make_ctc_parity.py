#!/usr/bin/env python3
"""Makes the PyTorch parity cases for recur's CTC loss.

Each case is a batch of random log-probabilities [T x B x C] (a log_softmax
of random logits), concatenated targets, per-sequence input and target
lengths, a blank id (0, C-1 or one in the middle), a reduction (mean, sum,
none) and zero_infinity, with what torch.nn.functional.ctc_loss gives: the
loss, and the gradient with respect to log_probs of sum(loss * dloss) for a
random dloss of the loss's shape. Torch runs in float64 on the float32
values that are stored, so the only differences left are recur's float32
outputs.

The sequences of a case mix these kinds of target:
  random      any labels, any feasible length
  repeats     runs of equal labels (each pair needs a blank between)
  full        exactly as long as the input allows (labels + repeats = T_b)
  impossible  one label more than the input allows (loss +inf, or 0 with
              zero_infinity; torch's gradient is then NaN, or 0)
  empty       no labels at all (only blanks)
and input lengths vary from 1 to T. (Not 0: for an empty input torch 1.13
reads its alpha table at step -1, so its number means nothing; recur gives
an empty input with an empty target loss 0, tested on its own.)

Tensors are "<case>/log_probs", "<case>/targets" (float32 ids; absent when
every target is empty), "<case>/input_lengths", "<case>/target_lengths",
"<case>/loss", "<case>/dloss", "<case>/grad"; the metadata holds
"<case>/blank", "<case>/reduction" and "<case>/zero_infinity" ("0"/"1"),
and "cases", the case names. The C test is tests/test_ctc.c.

usage: make_ctc_parity.py OUT.safetensors [--seed N] [--quick]
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recur_safetensors import write  # noqa: E402

KINDS = ["random", "repeats", "full", "impossible", "empty"]
REDUCTIONS = ["mean", "sum", "none"]


def cost(labels):
    """Fewest frames that can emit labels: one each, plus a blank between
    equal neighbours."""
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)


def make_target(rng, kind, tb, ids):
    if kind == "empty":
        return []
    if kind in ("full", "impossible"):
        out = []
        while True:
            room = tb - cost(out)
            if room <= 0:
                break
            choices = ids if room >= 2 or not out else [i for i in ids if i != out[-1]]
            if not choices:
                break
            out.append(int(rng.choice(choices)))
        if kind == "impossible":
            # One more label makes it one frame (or two) too long.
            out.append(int(rng.choice(ids)))
            assert cost(out) > tb
        return out
    if kind == "repeats":
        out = []
        while True:
            lab = out[-1] if out and rng.random() < 0.6 else int(rng.choice(ids))
            if cost(out + [lab]) > tb:
                break
            out.append(lab)
        return out
    # random: any feasible length
    out = []
    want = int(rng.integers(0, tb + 1))
    while len(out) < want:
        lab = int(rng.choice(ids))
        if cost(out + [lab]) > tb:
            break
        out.append(lab)
    return out


def run_case(rng, T, B, C, blank, reduction, zero_inf, kinds, lengths, scale):
    ids = [i for i in range(C) if i != blank]
    targets, tlens = [], []
    for b in range(B):
        t = make_target(rng, kinds[b], lengths[b], ids)
        targets += t
        tlens.append(len(t))
    logits = torch.tensor(rng.normal(0.0, scale, size=(T, B, C)), dtype=torch.float64)
    # Round to float32 first: torch sees exactly what recur will.
    lp32 = logits.log_softmax(2).float()
    lp = lp32.double().requires_grad_()
    loss = torch.nn.functional.ctc_loss(
        lp, torch.tensor(targets, dtype=torch.long), torch.tensor(lengths, dtype=torch.long),
        torch.tensor(tlens, dtype=torch.long), blank=blank, reduction=reduction,
        zero_infinity=zero_inf)
    if loss.dim() == 0:
        loss = loss.reshape(1)
    dloss = torch.tensor(rng.uniform(0.5, 1.5, size=loss.shape), dtype=torch.float64)
    (loss * dloss).sum().backward()
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    tensors = {
        "log_probs": lp32.numpy(),
        "input_lengths": f32(lengths),
        "target_lengths": f32(tlens),
        "loss": f32(loss.detach().numpy()),
        "dloss": f32(dloss.numpy()),
        "grad": f32(lp.grad.numpy()),
    }
    if targets:
        tensors["targets"] = f32(targets)
    meta = {"blank": str(blank), "reduction": reduction, "zero_infinity": str(int(zero_inf))}
    return tensors, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--quick", action="store_true",
                    help="a few random cases (for fresh random checks)")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    tensors, meta, names = {}, {}, []
    # Every blank position meets every reduction with zero_infinity on and
    # off; the quick set draws a few of these combinations.
    combos = [(bp, red, zi) for bp in ("first", "last", "middle") for red in REDUCTIONS
              for zi in (False, True)]
    if a.quick:
        combos = [combos[int(i)] for i in rng.choice(len(combos), size=8, replace=False)]
    else:
        combos = combos * 2  # twice over, with other sizes and targets
    for k, (bp, red, zi) in enumerate(combos):
        T = int(rng.integers(3, 11))
        B = int(rng.integers(2, 5))
        C = int(rng.integers(2, 7)) if k % 4 else 2  # C = 2: a single label
        blank = {"first": 0, "last": C - 1, "middle": C // 2}[bp]
        kinds = [KINDS[(k + b) % len(KINDS)] for b in range(B)]
        lengths = [int(rng.integers(1, T + 1)) for _ in range(B)]
        lengths[k % B] = T
        scale = [1.0, 3.0, 6.0][k % 3]  # flat to peaked
        name = "c%03d" % k
        t, m = run_case(rng, T, B, C, blank, red, zi, kinds, lengths, scale)
        for key, v in t.items():
            tensors[name + "/" + key] = v
        for key, v in m.items():
            meta[name + "/" + key] = v
        names.append(name)
    meta["cases"] = ",".join(names)
    meta["torch_version"] = torch.__version__
    write(a.out, tensors, meta)
    print("%s: %d cases" % (a.out, len(names)))


if __name__ == "__main__":
    main()
