#!/usr/bin/env python3
"""Makes the PyTorch parity cases for recur's four tree models.

One case per model (rnn, rntn, tree-lstm, childsum-lstm): random weights
under recur's parameter names, a batch of random trees over the words
w2..w24 (ids 2..24: 0 and 1 are recur's <unk> and <eos>) with random
labels - trees of many sizes, a left chain of depth 30 and a right chain of
depth 24 (SST's deepest sentences are that deep), a one-word tree, and for
the child-sum model nodes of up to 4 children - and, from the reference
model of scripts/tree_reference.py (node by node, torch autograd, float64),
the loss (mean cross-entropy over all nodes of all trees) and its gradient
for every parameter. Tensors are "<case>/param/NAME", "<case>/grad/NAME",
"<case>/loss"; metadata "<case>/model", "<case>/trees" (one bracketed tree
a line), "<case>/hidden". tests/test_tree_parity.c rebuilds each model
with src/tasks/treenet.c's code and compares.

usage: make_tree_parity.py OUT.safetensors [--seed N] [--quick]
"""
import argparse
import os
import random
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recur_safetensors import write  # noqa: E402
from tree_reference import Model, depth, parse_tree, tree_text  # noqa: E402

KINDS = ("rnn", "rntn", "tree-lstm", "childsum-lstm")
V, D, C = 25, 6, 5  # vocabulary (ids 2..24 used), state size, classes


def random_tree(rng, n_leaves, arity_max, chain=None):
    """A random tree over n_leaves words; chain 'left' / 'right' makes the
    deepest binary one (depth n_leaves - 1)."""
    leaves = [(rng.randrange(5), "w%d" % rng.randrange(2, V)) for _ in range(n_leaves)]

    def build(items):
        if len(items) == 1:
            return items[0]
        if chain == "right":
            parts = [items[:1], items[1:]]
        elif chain == "left":
            parts = [items[:-1], items[-1:]]
        else:
            k = min(len(items), rng.randint(2, arity_max))
            cuts = sorted(rng.sample(range(1, len(items)), k - 1))
            parts = [items[a:b] for a, b in zip([0] + cuts, cuts + [len(items)])]
        return (rng.randrange(5), [build(p) for p in parts])

    return build(leaves)


def random_params(kind, g):
    """Weights large enough that no unit is linear and no gate constant."""
    def u(*shape, k):
        return ((torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * k).float()

    p = {"embedding.weight": u(V, D, k=0.8)}
    if kind in ("rnn", "rntn"):
        p["compose.weight"] = u(D, 2 * D, k=0.5)
        p["compose.bias"] = u(D, k=0.3)
        if kind == "rntn":
            p["compose.tensor_u"] = u(2 * D, D, 2 * D, k=0.15 * 2 * D)  # V = U / (2D)
    else:
        G, n_in = (5, 2 * D) if kind == "tree-lstm" else (3, D)
        p["leaf.weight"] = u(3 * D, D, k=0.5)
        p["leaf.bias"] = u(3 * D, k=0.3)
        p["compose.weight"] = u(G * D, n_in, k=0.4)
        p["compose.bias"] = u(G * D, k=0.3)
        if kind == "childsum-lstm":
            p["compose.weight_f"] = u(D, D, k=0.4)
            p["compose.bias_f"] = u(D, k=0.3)
    p["head.weight"] = u(C, D, k=0.6)
    p["head.bias"] = u(C, k=0.2)
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--quick", action="store_true", help="smaller trees (fresh random checks)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    tensors, meta = {}, {}
    for kind in KINDS:
        arity = 4 if kind == "childsum-lstm" else 2
        sizes = (2, 5, 13) if a.quick else (2, 5, 9, 17, 26, 40)
        trees = [random_tree(rng, n, arity) for n in sizes]
        chains = (12, 9) if a.quick else (31, 25)
        trees += [random_tree(rng, chains[0], 2, "left"), random_tree(rng, chains[1], 2, "right")]
        trees.append(random_tree(rng, 1, 2))
        p32 = random_params(kind, g)
        # torch computes in float64 from the float32 weights the file holds.
        params = {k: v.double().requires_grad_() for k, v in p32.items()}
        z, y, _ = Model(kind, params).logits(trees, lambda w: int(w[1:]))
        loss = -torch.log_softmax(z, 1)[torch.arange(len(y)), y].mean()
        loss.backward()
        name = kind.replace("-", "_")
        for k, t in p32.items():
            tensors["%s/param/%s" % (name, k)] = t.numpy().astype(np.float32)
            tensors["%s/grad/%s" % (name, k)] = params[k].grad.numpy().astype(np.float32)
        tensors["%s/loss" % name] = np.array([loss.item()], dtype=np.float32)
        meta["%s/model" % name] = kind
        meta["%s/hidden" % name] = str(D)
        meta["%s/trees" % name] = "\n".join(tree_text(t) for t in trees)
        assert all(parse_tree(tree_text(t)) == t for t in trees)
        meta["%s/depth" % name] = str(max(depth(t) for t in trees))
    names = [k.replace("-", "_") for k in KINDS]
    meta["cases"] = ",".join(names)
    meta["torch_version"] = torch.__version__
    write(a.out, tensors, meta)
    print("%s: %s" % (a.out, ", ".join("%s (depth %s)" % (n, meta[n + "/depth"]) for n in names)))


if __name__ == "__main__":
    main()
