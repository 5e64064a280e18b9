"""`make bench`: run every benchmark in turn, each in its own process.

Each benchmark prints its figures and writes ``bench/out/NAME.json``; this
runner only sequences them (one at a time: the machine has two cores and the
figures are only worth something when nothing else runs) and says which
failed. ``make bench BENCH_ARGS=--quick`` gives a short run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BENCHMARKS = [
    "refs_check",
    "labels_store",
    "backbones",
    "featurize",
    "sampler",
    "tui_latency",
    "fidelity",
    "export_scores",
    "annotate_kill",
    "active_learning",
    "sampled_scoring",
    "cold_start",
    "threshold_honesty",
    "disagreements",
    "prior",
    "condition",
    "first_positive",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs of every benchmark")
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}")
    failed = []
    for name in names:
        cmd = [sys.executable, "-m", f"bench.{name}"] + (["--quick"] if args.quick else [])
        print(f"\n=== {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"=== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
