#!/usr/bin/python3
"""recur side by side with PyTorch: `make bench-compare` runs this.

For every workload (LSTM and GRU; training and inference of (i)-(iii),
generation (iv)) it runs recur (build/bench/bench_rnn) and PyTorch
(bench/torch_rnn.py with Debian's python3-torch) in turns, --rounds times,
each in a process of its own, and the BLAS ceiling (bench_rnn --ceiling:
every matrix product of one iteration timed alone with OpenBLAS at its
shape) in the same turns. It prints, per workload: the median tokens/s of
each side, the median and range of the per-round ratio recur / PyTorch,
the same ratio from CPU time (per iteration, all threads: what other jobs
on a shared machine change least), the GFLOP/s recur achieves per CPU
second as a fraction of the ceiling's (also per CPU second), and the peak
resident memory of each side (getrusage in its own process; PyTorch's
includes what `import torch` takes, given apart in the notes).

Threads: before the rounds, each side tries its candidate settings on
workload (i) (LSTM, training) in turns and keeps the fastest: recur with
1 or 2 threads (rc_set_threads); PyTorch with torch.set_num_threads x
OPENBLAS_NUM_THREADS of 1x1, 1x2 and 2x1 (2x2 would put 4 threads on 2
cores). --recur-threads / --torch-threads T:B fix them instead.
--threads-each picks them per workload instead (one run of each candidate
before its rounds; the choice is printed at the end of its line, recur /
PyTorch). recur's threads are its own pool's (OpenBLAS at one thread).

usage: compare.py [--recur BIN] [--ceiling BIN] [--rounds N] [--seconds S]
                  [--only REGEX] [--recur-threads N] [--torch-threads T:B]
                  [--threads-each]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name, arguments (the same for both sides), modes
SHAPES = [
    ("i", "--input 128 --hidden 256 --batch 32 --steps 100 --layers 1", ["train", "infer"]),
    ("ii", "--input 64 --hidden 512 --batch 64 --steps 50 --layers 2", ["train", "infer"]),
    ("iii", "--vocab 65 --embed 64 --hidden 512 --layers 2 --batch 32 --steps 64",
     ["train", "infer"]),
    ("iv", "--vocab 65 --embed 64 --hidden 512 --layers 2", ["gen"]),
]


def workloads():
    for name, args, modes in SHAPES:
        for cell in ("lstm", "gru"):
            for mode in modes:
                yield f"{name} {cell} {mode}", f"--cell {cell} --mode {mode} {args}".split()


def run_json(cmd, env=None):
    """The last line of cmd's output, as JSON (what bench_rnn and torch_rnn.py print)."""
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {' '.join(cmd)} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


class Sides:
    def __init__(self, a):
        self.a = a

    def recur(self, args, threads):
        return run_json([self.a.recur, *args, "--seconds", str(self.a.seconds),
                         "--threads", str(threads)])

    def torch(self, args, threads):
        t, b = threads
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(b), OMP_NUM_THREADS=str(t))
        return run_json(["/usr/bin/python3", os.path.join(HERE, "torch_rnn.py"), *args,
                         "--seconds", str(self.a.seconds), "--threads", str(t)], env)

    def ceiling(self, args, threads):
        if not self.a.ceiling:
            return None
        return run_json([self.a.ceiling, "--ceiling", *args, "--threads", str(threads)])


def pick(fixed, cands, run):
    """The candidate with the most tokens/s in one run each (or the fixed one)."""
    if fixed:
        return int(fixed) if ":" not in fixed else tuple(int(v) for v in fixed.split(":"))
    return max(cands, key=lambda c: run(c)["tokens_per_s"])


def calibrate(s, a):
    """The fastest thread setting of each side on (i) LSTM training."""
    args = dict(workloads())["i lstm train"]
    recur_c = [int(a.recur_threads)] if a.recur_threads else [1, 2]
    torch_c = ([tuple(int(v) for v in a.torch_threads.split(":"))] if a.torch_threads
               else [(1, 1), (1, 2), (2, 1)])
    best = {}
    for side, cands, fn in (("recur", recur_c, s.recur), ("torch", torch_c, s.torch)):
        if len(cands) == 1:
            best[side] = cands[0]
            continue
        score = {c: [] for c in cands}
        for _ in range(2):
            for c in cands:
                score[c].append(fn(args, c)["tokens_per_s"])
        best[side] = max(cands, key=lambda c: statistics.median(score[c]))
        print(f"# threads {side}: " + ", ".join(
            f"{c}: {statistics.median(v):.0f} tok/s" for c, v in score.items()), flush=True)
    return best["recur"], best["torch"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recur", default="build/bench/bench_rnn")
    ap.add_argument("--ceiling", default="build/bench/bench_rnn",
                    help="a bench_rnn built with OpenBLAS ('' for none)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--only", default="", help="a regular expression: the workloads it finds")
    ap.add_argument("--recur-threads", default="")
    ap.add_argument("--torch-threads", default="")
    ap.add_argument("--threads-each", action="store_true",
                    help="pick each side's threads per workload (one run of each candidate, "
                         "before the rounds) instead of once on (i) LSTM training")
    a = ap.parse_args()
    if a.ceiling and not os.path.exists(a.ceiling):
        print(f"# no {a.ceiling} (a bench_rnn built with OpenBLAS): no ceiling")
        a.ceiling = ""
    s = Sides(a)
    started = time.time()
    load0 = os.getloadavg()
    if a.threads_each:  # picked per workload below
        rt0, tt0 = rt, tt = 1, (1, 1)
    else:
        rt0, tt0 = rt, tt = calibrate(s, a)
    blas = s.recur(['--mode', 'infer', '--input', '1', '--hidden', '1', '--batch', '1',
                    '--steps', '1', '--seconds', '0'], rt)['blas']
    threads = ("threads per workload (end of each line: recur / PyTorch "
               "torch.set_num_threads x OPENBLAS_NUM_THREADS)" if a.threads_each else
               f"threads {rt}; PyTorch: torch.set_num_threads({tt[0]}) x "
               f"OPENBLAS_NUM_THREADS={tt[1]}")
    print(f"# recur: {a.recur} ({blas}), {threads}; {a.rounds} rounds of about {a.seconds} s "
          "per side", flush=True)
    head = (f"{'workload':<18}{'recur tok/s':>12}{'torch tok/s':>12}{'ratio':>7}{'(range)':>13}"
            f"{'cpu ratio':>10}{'GFLOP/s':>9}{'ceiling':>9}{'frac':>6}{'recur MB':>10}"
            f"{'torch MB':>10}")
    print(head)
    print("-" * len(head), flush=True)
    rows = []
    for name, args in workloads():
        if a.only and not re.search(a.only, name):
            continue
        R, P, C, ratios, cpu_ratios, fracs, loops = [], [], [], [], [], [], []
        rt, tt = rt0, tt0
        if a.threads_each:
            rt = pick(a.recur_threads, [1, 2], lambda c: s.recur(args, c))
            tt = pick(a.torch_threads, [(1, 1), (1, 2), (2, 1)], lambda c: s.torch(args, c))
        for k in range(a.rounds):
            order = ("recur", "torch") if k % 2 == 0 else ("torch", "recur")
            got = {}
            for side in order:
                got[side] = s.recur(args, rt) if side == "recur" else s.torch(args, tt)
            c = s.ceiling(args, rt)
            R.append(got["recur"])
            P.append(got["torch"])
            ratios.append(got["recur"]["tokens_per_s"] / got["torch"]["tokens_per_s"])
            if c:
                C.append(c)
                fracs.append(c["blas_cpu_s_per_iter"] / got["recur"]["cpu_s_per_iter"])
                if got["recur"]["loop_cpu_s_per_iter"] > 0:
                    loops.append(c["blas_loop_cpu_s_per_iter"] /
                                 got["recur"]["loop_cpu_s_per_iter"])
            cpu_ratios.append(got["torch"]["cpu_s_per_iter"] / got["recur"]["cpu_s_per_iter"])
        med = statistics.median
        rec = {
            "workload": name,
            "recur_tps": med(r["tokens_per_s"] for r in R),
            "torch_tps": med(p["tokens_per_s"] for p in P),
            "ratio": med(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "cpu_ratio": med(cpu_ratios),
            "gflops": med(r["gflop_per_iter"] / r["cpu_s_per_iter"] for r in R),
            "ceiling_gflops": (med(c["gflop_per_iter"] / c["blas_cpu_s_per_iter"] for c in C)
                               if C else None),
            "fraction": med(fracs) if fracs else None,
            "loop_fraction": med(loops) if loops else None,
            "recur_mb": max(r["maxrss_kb"] for r in R) / 1024,
            "torch_mb": max(p["maxrss_kb"] for p in P) / 1024,
            "torch_import_mb": max(p["base_rss_kb"] for p in P) / 1024,
        }
        rec["threads"] = f"{rt} / {tt[0]}x{tt[1]}"
        rows.append(rec)
        cg = f"{rec['ceiling_gflops']:9.1f}" if C else f"{'-':>9}"
        fr = f"{rec['fraction']:6.2f}" if fracs else f"{'-':>6}"
        print(f"{name:<18}{rec['recur_tps']:12.0f}{rec['torch_tps']:12.0f}{rec['ratio']:7.2f}"
              f"{'(%.2f-%.2f)' % (rec['ratio_min'], rec['ratio_max']):>13}"
              f"{rec['cpu_ratio']:10.2f}{rec['gflops']:9.1f}"
              f"{cg}{fr}{rec['recur_mb']:10.0f}{rec['torch_mb']:10.0f}"
              + (f"  {rec['threads']}" if a.threads_each else ""), flush=True)
    print("-" * len(head))
    for r in rows:
        if r["loop_fraction"] is not None and r["workload"].startswith("ii "):
            print(f"# recurrent loop of '{r['workload']}': {r['loop_fraction']:.2f} of the BLAS "
                  "ceiling on its per-step products (median over rounds)")
    print("# ratio: recur / PyTorch tokens/s (wall clock), the median over rounds and its range;"
          " cpu ratio: the same from CPU seconds per iteration (what other jobs on the machine"
          " change least); GFLOP/s: recur's matrix-product GFLOP per CPU second; ceiling: the"
          " same for OpenBLAS alone on the same products; frac: GFLOP/s / ceiling (median of the"
          " rounds' ratios); MB: peak resident memory")
    imp = max(r["torch_import_mb"] for r in rows) if rows else 0
    load1 = os.getloadavg()
    print(f"# PyTorch's peak includes about {imp:.0f} MB that `import torch` takes before any "
          f"model exists")
    print(f"# {time.time() - started:.0f} s; load average {load0[0]:.1f} at the start, "
          f"{load1[0]:.1f} at the end ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
