#!/usr/bin/python3
"""Corpus BLEU reference values from an independent implementation.

sacreBLEU is not in Debian; NLTK is (python3-nltk), and its corpus_bleu
with uniform 4-gram weights and no smoothing computes the same formula as
sacreBLEU's default corpus BLEU whenever every n-gram order has at least
one match and no hypothesis segment is shorter than 4 words (for such a
segment NLTK adds 1 to the n-gram total of each order it lacks, where
sacreBLEU adds 0): clipped n-gram counts summed over the corpus, the closest
reference length per segment (the shorter one on a tie), brevity penalty
exp(1 - r/c) when c < r, geometric mean of the four precisions. So this
script draws random pre-tokenized corpora (1-3 references, lengths 0-30,
a small vocabulary so that 4-grams do match), keeps those where every order
matches and every hypothesis has 4 words or more, and writes NLTK's score next to them for tests/test_bleu.c, which
scores them with recur's rc_bleu_corpus (tokenizer "none").

    /usr/bin/python3 scripts/make_bleu_reference.py > tests/fixtures/bleu_nltk.txt

Format: a line "case SEGMENTS REFS BLEU" (BLEU in 0-100, %.17g), then per
segment one "H tokens..." line and REFS "R tokens..." lines.
"""
import random
import sys

import nltk
from nltk.translate.bleu_score import corpus_bleu


def sentence(rng, vocab, n):
    return [rng.choice(vocab) for _ in range(n)]


def noisy_copy(rng, vocab, src):
    """A reference near the hypothesis: some words replaced, dropped, added."""
    out = []
    for w in src:
        r = rng.random()
        if r < 0.15:
            continue
        out.append(rng.choice(vocab) if r < 0.35 else w)
        if rng.random() < 0.1:
            out.append(rng.choice(vocab))
    return out


def main():
    rng = random.Random(20261126)
    print(f"# corpus BLEU from NLTK {nltk.__version__} (corpus_bleu, weights 0.25 x 4, no smoothing);"
          " scripts/make_bleu_reference.py")
    made = 0
    while made < 40:
        n_refs = rng.randint(1, 3)
        n_seg = rng.randint(1, 12)
        vocab = [f"w{i}" for i in range(rng.randint(3, 12))] + [",", ".", "der", "die"]
        hyps, refs = [], []
        for _ in range(n_seg):
            base = sentence(rng, vocab, rng.randint(0, 30))
            hyp = noisy_copy(rng, vocab, base) if rng.random() < 0.7 else sentence(rng, vocab, rng.randint(0, 30))
            hyps.append(hyp)
            refs.append([noisy_copy(rng, vocab, base) for _ in range(n_refs)])
        # every order must have a match (else NLTK returns 0 where sacreBLEU smooths)
        ok = True
        for n in range(1, 5):
            num = 0
            for h, rs in zip(hyps, refs):
                hc = nltk.ngrams(h, n)
                from collections import Counter
                hcount = Counter(hc)
                maxref = Counter()
                for r in rs:
                    for g, c in Counter(nltk.ngrams(r, n)).items():
                        maxref[g] = max(maxref[g], c)
                num += sum(min(c, maxref[g]) for g, c in hcount.items())
            ok = ok and num > 0
        # and no empty reference (recur, like sacreBLEU with a variable number
        # of references, reads an empty one as "no reference")
        if not ok or min(len(h) for h in hyps) < 4 or min(len(r) for rs in refs for r in rs) == 0:
            continue
        score = 100.0 * corpus_bleu(refs, hyps, weights=(0.25, 0.25, 0.25, 0.25))
        print(f"case {n_seg} {n_refs} {score:.17g}")
        for h, rs in zip(hyps, refs):
            print("H " + " ".join(h))
            for r in rs:
                print("R " + " ".join(r))
        made += 1


if __name__ == "__main__":
    sys.exit(main())
