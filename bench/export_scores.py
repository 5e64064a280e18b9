"""Scores export figures: 1,000,000 items x 384 to CSV and to HDF5, seconds and peak memory.

    python -m bench.export_scores [--quick] [--n N] [--dim D]

The features file is synthetic (tests/h5fixtures.write_synthetic: random
L2-normalised float16 rows, contiguous, as featurize writes them), cached in
bench/cache; 200 items are labelled (100 positive, 100 negative) so that the
export refits the sampler's classifier as `annotate export` does. Each export runs
in a fresh process (`annotate export ... --format scores|scores-h5`): seconds
inside `main()` (wall and CPU) and for the whole command, and peak memory sampled every 5 ms from
/proc: anonymous (the process's own memory) and file-backed (pages of the
memory-mapped features file, page cache that the kernel can drop). Goal: under
10 s for 1,000,000 scores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out" / "export_scores.json"
CACHE = ROOT / "cache"

CHILD = r"""
import json, sys, threading, time
peak = {"RssAnon": 0, "RssFile": 0}
stop = False
def sample():
    while not stop:
        with open("/proc/self/status") as fh:
            for line in fh:
                k = line.split(":")[0]
                if k in peak:
                    peak[k] = max(peak[k], int(line.split()[1]))
        time.sleep(0.005)
th = threading.Thread(target=sample, daemon=True); th.start()
from tui.cli import main
t = time.perf_counter()
c = time.process_time()
rc = main(sys.argv[1:])
dt, cpu = time.perf_counter() - t, time.process_time() - c
stop = True; th.join()
print(json.dumps({"rc": rc, "main_s": dt, "cpu_s": cpu, "peak_anon_mb": peak["RssAnon"] / 1024,
                  "peak_file_mb": peak["RssFile"] / 1024}))
"""


def features_file(n: int, d: int, log) -> Path:
    sys.path.insert(0, str(ROOT.parent / "tests"))
    from h5fixtures import write_synthetic

    from tui.store.features import FeatureFile
    from tui.store.labels import LabelStore
    from tui.learn.sampler import default_labels_path

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"export_scores_{n}x{d}.h5"
    if not path.exists():
        t = time.perf_counter()
        tmp = path.with_name(path.name + ".part")
        write_synthetic(tmp, n, d)
        os.replace(tmp, path)
        log(f"wrote {path} in {time.perf_counter() - t:.1f} s")
    labels = default_labels_path(path)
    labels.unlink(missing_ok=True)
    with FeatureFile(path) as f, LabelStore(labels, f.id, annotator="bench") as st:
        for i in range(200):
            st.record(f.key(i * (n // 200)), "pos" if i % 2 else "neg")
    return path


def run_export(features: Path, fmt: str, out: Path) -> dict:
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD, "export", str(features), "--format",
                          fmt, "-o", str(out)], capture_output=True, text=True,
                         cwd=ROOT.parent, timeout=600)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"export {fmt} failed:\n{res.stderr}")
    fig = json.loads(res.stdout.strip().splitlines()[-1])
    return {"seconds": round(fig["main_s"], 2), "cpu_seconds": round(fig["cpu_s"], 2),
            "command_seconds": round(wall, 2),
            "peak_anon_mb": round(fig["peak_anon_mb"]), "peak_file_mb": round(fig["peak_file_mb"]),
            "bytes": out.stat().st_size}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 items instead of 1,000,000")
    ap.add_argument("--n", type=int, default=None, help="number of items")
    ap.add_argument("--dim", type=int, default=384, help="embedding dimension (default 384)")
    a = ap.parse_args(argv)
    n = a.n or (100_000 if a.quick else 1_000_000)
    features = features_file(n, a.dim, print)
    fig: dict = {"command": "python -m bench.export_scores" + (" --quick" if a.quick else ""),
                 "items": n, "dim": a.dim, "features_mb": round(features.stat().st_size / 2**20),
                 "note": "2-core machine shared with other jobs: timings are indicative; "
                         "seconds = inside main(), command_seconds = with interpreter start"}
    out_dir = CACHE / "export_scores_out"
    out_dir.mkdir(exist_ok=True)
    for fmt, name in (("scores", "scores.csv"), ("scores-h5", "scores.h5")):
        fig[fmt] = run_export(features, fmt, out_dir / name)
        print(f"{fmt:10} {n:,} items: {fig[fmt]['seconds']} s, CPU {fig[fmt]['cpu_seconds']} s "
              f"({fig[fmt]['command_seconds']} s with start-up), peak anonymous "
              f"{fig[fmt]['peak_anon_mb']} MB, file-backed "
              f"{fig[fmt]['peak_file_mb']} MB, {fig[fmt]['bytes'] / 2**20:.0f} MB written")
        (out_dir / name).unlink()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fig, indent=2) + "\n")
    print(f"figures in {OUT}")
    return fig


if __name__ == "__main__":
    main()
