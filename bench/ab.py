#!/usr/bin/python3
"""Two builds of recur against each other: is a change faster?

Runs the same bench_rnn workload with two binaries (the build before a
change and the build after it) in turns, --rounds pairs, the side that goes
first alternating, and prints the median of the pairs' ratios new / base
with its quartiles and range. On a machine whose speed drifts from one
minute to the next (this project's: 20-40%), only such pairs give a ratio;
two separate runs of a table do not. A second copy of the same binary as
--new is the control: the spread of its ratios around 1 is the noise.

usage: ab.py --base BIN --new BIN [--rounds N] [--seconds S] -- BENCH_ARGS...

    cp build/bench/bench_rnn /tmp/bench_before     # before the change
    make build/bench/bench_rnn                      # after it
    bench/ab.py --base /tmp/bench_before --new build/bench/bench_rnn --rounds 20 -- \\
        --cell lstm --mode infer --input 64 --hidden 512 --batch 64 --steps 50 \\
        --layers 2 --threads 2
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import run_json  # noqa: E402  (runs a bench, reads its JSON line)


def fail(msg):
    sys.exit("ab.py: " + msg)


def tokens_per_s(binary, args, seconds):
    return float(run_json([binary] + args + ["--seconds", str(seconds)])["tokens_per_s"])


def main():
    ap = argparse.ArgumentParser(description="two bench_rnn binaries in turns; "
                                 "the median ratio new / base")
    ap.add_argument("--base", required=True, help="bench_rnn before the change")
    ap.add_argument("--new", required=True, help="bench_rnn after the change")
    ap.add_argument("--rounds", type=int, default=10, help="pairs of runs (default 10)")
    ap.add_argument("--seconds", type=float, default=1.5,
                    help="each run's timed seconds (default 1.5)")
    ap.add_argument("bench_args", nargs=argparse.REMAINDER,
                    help="after --: the workload, as bench_rnn takes it")
    a = ap.parse_args()
    args = a.bench_args[1:] if a.bench_args[:1] == ["--"] else a.bench_args
    if a.rounds < 1:
        fail("--rounds must be at least 1, got %d" % a.rounds)
    if not a.seconds > 0:
        fail("--seconds must be above 0, got %g" % a.seconds)
    if not args:
        fail("no workload: give bench_rnn's arguments after --")
    for b in (a.base, a.new):
        if not os.access(b, os.X_OK):
            fail("%s: not an executable file" % b)

    base, new, ratio = [], [], []
    for i in range(a.rounds):
        if i % 2 == 0:
            x = tokens_per_s(a.base, args, a.seconds)
            y = tokens_per_s(a.new, args, a.seconds)
        else:
            y = tokens_per_s(a.new, args, a.seconds)
            x = tokens_per_s(a.base, args, a.seconds)
        base.append(x)
        new.append(y)
        ratio.append(y / x)
        print("pair %2d: base %9.0f  new %9.0f tokens/s  new/base %.3f" % (i + 1, x, y, y / x),
              flush=True)
    q = statistics.quantiles(ratio, n=4) if len(ratio) >= 2 else [ratio[0]] * 3
    print("base %.0f, new %.0f tokens/s (medians); new/base: median %.3f, quartiles %.3f-%.3f, "
          "range %.3f-%.3f, %d pairs" % (statistics.median(base), statistics.median(new),
                                         statistics.median(ratio), q[0], q[2], min(ratio),
                                         max(ratio), a.rounds))


if __name__ == "__main__":
    main()
