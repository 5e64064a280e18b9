"""Benchmark: read a 1,000,000-line .txt reference list and run the full
``python -m refs check`` on it (the target: under 10 s on a 2-core machine).

The list points at 1,000 real image files, each named ~1,000 times with a
different box, so the check's ``stat`` calls are real; one line in 100 has a
quoted path with spaces (the ``shlex`` path); each image also appears once
as a whole image.

    .venv/bin/python -m bench.refs_check            # 1,000,000 lines
    .venv/bin/python -m bench.refs_check --quick    # 100,000 lines

Prints the figures and writes them to bench/out/refs_check.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache" / "refs_check"
OUT = ROOT / "bench" / "out" / "refs_check.json"
N_IMAGES = 1000


def make_images(folder: Path) -> list[str]:
    """1,000 small real JPEG files (one sample photo, written once)."""
    from PIL import Image

    names = [f"{'dir with space' if i % 100 == 0 else 'imgs'}/img_{i:04d}.jpg"
             for i in range(N_IMAGES)]
    if not all((folder / n).is_file() for n in names):
        src = ROOT / "refs" / "example_images" / "china.jpg"
        im = Image.open(src)
        im.load()
        for n in names:
            (folder / n).parent.mkdir(parents=True, exist_ok=True)
            im.save(folder / n, quality=60)
    return names


def make_refs(n_lines: int) -> Path:
    path = CACHE / f"refs_{n_lines}.txt"
    if path.is_file():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    names = make_images(CACHE)
    rng = random.Random(0)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("# benchmark refs list\n")
        for i in range(n_lines - 1):
            name = names[i % N_IMAGES]
            p = f'"{name}"' if " " in name else name
            if i // N_IMAGES == 1:  # one whole-image line per image
                f.write(f"{p}\n")
                continue
            x, y = rng.uniform(-2, 150), rng.uniform(-2, 100)
            f.write(f"{p} {x:.1f} {y:.1f} {x + rng.uniform(1, 40):.1f} "
                    f"{y + rng.uniform(1, 40):.1f}\n")
    os.replace(tmp, path)
    return path


def item_cost(n: int = 200_000) -> float:
    """Seconds per million ``Item`` constructions (hashing the key): the share
    of the reading time that the key costs."""
    from refs import Item

    box = (1.0, 2.0, 30.5, 40.0)
    paths = ["/data/imgs/img_%04d.jpg" % (i % 1000) for i in range(n)]
    t = time.process_time()
    for i, p in enumerate(paths):
        Item(p, box, line=i)
    return (time.process_time() - t) * 1_000_000 / n


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100,000 lines instead of 1,000,000")
    args = ap.parse_args(argv)
    n = 100_000 if args.quick else 1_000_000

    from refs import read_refs

    t = time.perf_counter()
    path = make_refs(n)
    gen_s = time.perf_counter() - t
    load = os.getloadavg()[0]

    t, c = time.perf_counter(), time.process_time()
    refs = read_refs(path)
    read_s, read_cpu = time.perf_counter() - t, time.process_time() - c
    n_items = len(refs.items)
    del refs

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "refs", "check", str(path)],
                          cwd=ROOT, capture_output=True, text=True)
    check_s = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    check_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        raise SystemExit(f"python -m refs check exited {proc.returncode}")

    res = {
        "lines": n, "items": n_items, "distinct_images": N_IMAGES,
        "read_refs_s": round(read_s, 3), "read_refs_lines_per_s": round(n / read_s),
        "read_refs_cpu_s": round(read_cpu, 3),
        "check_cli_s": round(check_s, 3), "check_cli_lines_per_s": round(n / check_s),
        "check_cli_cpu_s": round(check_cpu, 3),
        "item_construction_s_per_million": round(item_cost(), 3),
        "refs_file_mb": round(path.stat().st_size / 1e6, 1), "generate_s": round(gen_s, 2),
        "load_average_1min_at_start": round(load, 2), "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "command": "python -m bench.refs_check" + (" --quick" if args.quick else ""),
    }
    print(f"refs file: {n:,} lines ({res['refs_file_mb']} MB), {N_IMAGES:,} distinct images,"
          f" {n_items:,} items; load average {load:.2f} on {os.cpu_count()} CPUs")
    print("(wall seconds depend on what else runs; CPU seconds of this single-threaded work\n"
          " are what it takes on an idle core)")
    print(f"read_refs:             {read_s:6.2f} s wall, {read_cpu:6.2f} s CPU, "
          f"{n / read_s:10,.0f} lines/s")
    print(f"python -m refs check:  {check_s:6.2f} s wall, {check_cpu:6.2f} s CPU, "
          f"{n / check_s:10,.0f} lines/s  (start, read, stat, summary)")
    print(f"Item() with its key:   {res['item_construction_s_per_million']:6.2f} s CPU per million"
          " (included in the figures above)")
    print("check output:\n  " + proc.stdout.strip().replace("\n", "\n  "))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
