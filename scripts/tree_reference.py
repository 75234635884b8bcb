#!/usr/bin/env python3
"""A PyTorch reference for recur's four tree models, node by node.

The recursive net, the RNTN, the binary Tree-LSTM and the child-sum
Tree-LSTM (docs/recursive.md), written directly from their equations with
one recursive call per node: no level batching, no hand-written gradients
(torch's autograd), so it checks recur's level layout, child order and
backward passes independently.

    tree_reference.py eval MODEL TREES [--limit N]
        recur's model file on bracketed trees: loss per node and root /
        all-node accuracy, to set beside `recur eval MODEL TREES`.

scripts/make_tree_parity.py uses the same Model for the parity fixture of
tests/test_tree_parity.c.

The model (as src/tasks/treenet.c builds it, without dropout):
    leaf vectors x = E[word]
    rnn/rntn:   leaf h = x;  inner h = tanh(W [h_l; h_r] + b (+ q)),
                q_k = [h_l; h_r]^T V[:, k, :] [h_l; h_r]      V [2D x D x 2D]
                V = U / (2D), U the parameter "compose.tensor_u"
    tree-lstm:  leaf gates [i o u] = W_x x + b_x, c = s(i) tanh(u),
                h = s(o) tanh(c); inner [i o u f_l f_r] = W [h_l; h_r] + b,
                c = s(i) tanh(u) + s(f_l) c_l + s(f_r) c_r, h = s(o) tanh(c)
    childsum:   inner [i o u] = W_iou sum_k h_k + b_iou,
                f_k = s(W_f h_k + b_f), c = s(i) tanh(u) + sum_k f_k c_k
    every node: logits = W_s h + b_s; loss = mean over nodes of -log p(label)
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recur_safetensors import read  # noqa: E402


# ------------------------------------------------------------- trees --

def parse_tree(text):
    """'(3 (2 a) (3 b))' -> (label, word) for a leaf, (label, [children])."""
    toks = text.replace("(", " ( ").replace(")", " ) ").split()
    pos = 0

    def node():
        nonlocal pos
        assert toks[pos] == "(", text
        label = int(toks[pos + 1])
        pos += 2
        if toks[pos] != "(":
            word = toks[pos]
            assert toks[pos + 1] == ")", text
            pos += 2
            return (label, word)
        kids = []
        while toks[pos] == "(":
            kids.append(node())
        assert toks[pos] == ")", text
        pos += 1
        return (label, kids)

    return node()


def tree_text(t):
    label, body = t
    if isinstance(body, str):
        return "(%d %s)" % (label, body)
    return "(%d %s)" % (label, " ".join(tree_text(k) for k in body))


def depth(t):
    return 0 if isinstance(t[1], str) else 1 + max(depth(k) for k in t[1])


# ------------------------------------------------------------- model --

class Model:
    """params: name -> tensor, the names recur's model files use."""

    def __init__(self, kind, params):
        self.kind, self.p = kind, params

    def tensor(self):
        """The RNTN's V: recur's parameter is U = 2D V ("compose.tensor_u");
        files from before that change hold V ("compose.tensor")."""
        if "compose.tensor_u" in self.p:
            u = self.p["compose.tensor_u"]
            return u / u.shape[0]
        return self.p["compose.tensor"]

    def word(self, w):
        return self.p["embedding.weight"][w]

    def node(self, t, word_id, out):
        """Returns the node's (h, c); appends (h, label) of every node to out
        in post-order (children first, the root last)."""
        p, kind = self.p, self.kind
        label, body = t
        if isinstance(body, str):
            x = self.word(word_id(body))
            if kind in ("rnn", "rntn"):
                h, c = x, None
            else:
                a = p["leaf.weight"] @ x + p["leaf.bias"]
                H = a.shape[0] // 3
                i, o, u = torch.sigmoid(a[:H]), torch.sigmoid(a[H:2 * H]), torch.tanh(a[2 * H:])
                c = i * u
                h = o * torch.tanh(c)
        else:
            kids = [self.node(k, word_id, out) for k in body]
            if kind in ("rnn", "rntn", "tree-lstm"):
                assert len(kids) == 2, "%s needs binary trees" % kind
            if kind in ("rnn", "rntn"):
                v = torch.cat([kids[0][0], kids[1][0]])
                z = p["compose.weight"] @ v + p["compose.bias"]
                if kind == "rntn":
                    z = z + torch.einsum("i,ikj,j->k", v, self.tensor(), v)
                h, c = torch.tanh(z), None
            elif kind == "tree-lstm":
                v = torch.cat([kids[0][0], kids[1][0]])
                g = p["compose.weight"] @ v + p["compose.bias"]
                H = g.shape[0] // 5
                i, o, u = torch.sigmoid(g[:H]), torch.sigmoid(g[H:2 * H]), torch.tanh(g[2 * H:3 * H])
                fl, fr = torch.sigmoid(g[3 * H:4 * H]), torch.sigmoid(g[4 * H:])
                c = i * u + fl * kids[0][1] + fr * kids[1][1]
                h = o * torch.tanh(c)
            else:
                s = sum(k[0] for k in kids)
                g = p["compose.weight"] @ s + p["compose.bias"]
                H = g.shape[0] // 3
                i, o, u = torch.sigmoid(g[:H]), torch.sigmoid(g[H:2 * H]), torch.tanh(g[2 * H:])
                c = i * u
                for hk, ck in kids:
                    c = c + torch.sigmoid(p["compose.weight_f"] @ hk + p["compose.bias_f"]) * ck
                h = o * torch.tanh(c)
        out.append((h, label))
        return h, c

    def logits(self, trees, word_id):
        """All nodes of all trees, tree after tree, each in post-order:
        (logits [n x C], labels [n], is_root [n])."""
        hs, labels, roots = [], [], []
        for t in trees:
            out = []
            self.node(t, word_id, out)
            hs += [h for h, _ in out]
            labels += [y for _, y in out]
            roots += [0] * (len(out) - 1) + [1]
        H = torch.stack(hs)
        z = H @ self.p["head.weight"].T + self.p["head.bias"]
        return z, torch.tensor(labels), torch.tensor(roots, dtype=torch.bool)


# -------------------------------------------------------------- eval --

def cmd_eval(a):
    tensors, meta = read(a.model)
    kind = meta["model"]
    assert meta["classes"] == "5", "eval: 5-class models only"
    params = {k: torch.tensor(v, dtype=torch.float64) for k, v in tensors.items()}
    vocab = {w: i for i, w in enumerate(json.loads(meta["vocab"])["tokens"])}
    lower = meta.get("lowercase", "true") == "true"
    m = Model(kind, params)
    trees = []
    with open(a.trees) as f:
        for line in f:
            if line.strip():
                trees.append(parse_tree(line.strip()))
            if a.limit and len(trees) >= a.limit:
                break

    def word_id(w):
        return vocab.get(w.lower() if lower else w, 0)

    with torch.no_grad():
        z, y, root = m.logits(trees, word_id)
        lp = torch.log_softmax(z, 1)
        loss = -lp[torch.arange(len(y)), y].mean().item()
        pred = z.argmax(1)
        print("%s: %d trees, %d nodes; %s model (torch, float64)" % (a.trees, len(trees), len(y), kind))
        print("  fine-grained (5 classes): root %.2f%%  all nodes %.2f%%" % (
            100 * (pred[root] == y[root]).double().mean().item(),
            100 * (pred == y).double().mean().item()))
        print("  loss %.4f nats per node" % loss)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval")
    e.add_argument("model")
    e.add_argument("trees")
    e.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    cmd_eval(a)


if __name__ == "__main__":
    main()
