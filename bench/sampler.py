"""Sampler speed: pool scoring, refit times, record()/next() latency under a fit, memory.

Synthetic L2-normalised float16 features in HDF5 files written in the README
format (tests/h5fixtures.write_synthetic), kept in bench/cache/ between runs.
Full sizes: 1,000,000 x 768 (1.5 GB) and 10,000,000 x 384 (7.7 GB); `--quick`
uses 200,000 x 768 and 1,000,000 x 384. Scoring of the big file runs in a child
process so that its peak resident memory can be compared with the file size.

Run: .venv/bin/python -m bench.sampler [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.h5fixtures import write_synthetic
from tui.store.features import FeatureFile
from tui.learn.sampler import Sampler
from tui.learn.trainer import Fitter

HERE = Path(__file__).resolve().parent
CACHE, OUT = HERE / "cache", HERE / "out"


def synthetic(n: int, d: int) -> Path:
    path = CACHE / f"synthetic_{n}x{d}.h5"
    if not path.exists():
        need = n * d * 2 * 1.2
        free = shutil.disk_usage(CACHE).free
        if free < need:
            sys.exit(f"{CACHE}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed for {path.name}")
        t = time.time()
        tmp = path.with_suffix(".tmp")
        write_synthetic(tmp, n, d)
        os.replace(tmp, path)
        print(f"  wrote {path.name} ({path.stat().st_size / 1e9:.2f} GB) in {time.time() - t:.0f} s")
    return path


def score_timing(path: Path, reps: int = 3) -> dict:
    """Child process: open, score every row (X @ w) `reps` times; times and peak RSS."""
    code = f"""
import json, resource, time, numpy as np
from tui.store.features import FeatureFile
t = time.perf_counter(); f = FeatureFile({str(path)!r}); t_open = time.perf_counter() - t
w = np.random.default_rng(0).standard_normal(f.dim).astype(np.float32)
times = []
for _ in range({reps}):
    t = time.perf_counter(); s = f.dot(w, 0.1); times.append(time.perf_counter() - t)
    top = np.argpartition(-s, 64)[:64]
idx = np.random.default_rng(1).choice(f.n, 2000, replace=False)
err = float(np.abs(s[idx] - (f.rows(idx) @ w + 0.1)).max())
print(json.dumps(dict(open_s=t_open, score_s=times, storage=f.storage, max_abs_err=err,
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=HERE.parent)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["file_mb"] = path.stat().st_size / 2**20
    r["rss_over_file"] = r["peak_rss_mb"] / r["file_mb"]
    return r


def refit_timing(path: Path, sizes=(1000, 20000)) -> dict:
    f = FeatureFile(path)
    rng = np.random.default_rng(0)
    w = rng.standard_normal(f.dim).astype(np.float32)
    Fitter(f.dim).fit(f.rows([0, 1]), np.array([True, False]), 0)   # import scikit-learn first
    out = {}
    for n in sizes:
        idx = np.sort(rng.choice(f.n, n, replace=False))
        X = f.rows(idx)
        y = (X @ w + 0.02 * rng.standard_normal(n)) > np.quantile(X @ w, 0.9)
        fit = Fitter(f.dim)
        cold = fit.fit(X[:-1], y[:-1], 1).fit_seconds
        warm = fit.fit(X, y, 2).fit_seconds                   # one more answer, warm start
        out[str(n)] = {"cold_s": cold, "warm_s": warm}
    f.close()
    return out


def latency(path: Path, n_labels: int, n_answers: int) -> dict:
    """record()/next() latency while the background thread fits and scores the whole pool."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-sampler-"))
    try:
        s = Sampler(path, labels=tmp / "labels.sqlite", random_share=0.1, poll=0.5)
        rng = np.random.default_rng(0)
        w = rng.standard_normal(s.features.dim).astype(np.float32)

        def truth(key):
            return bool(s.features.rows([s.features.index_of(key)])[0] @ w > 0.05)

        for _ in range(n_labels):                            # labels so the fits have work
            k = s.next()
            s.record(k, truth(k))
        s.wait_idle()
        v0 = s.model_version or 0
        rec, nxt, busy = [], [], 0
        for _ in range(n_answers):
            t = time.perf_counter()
            k = s.next()
            nxt.append(time.perf_counter() - t)
            busy += s._loop.busy
            t = time.perf_counter()
            s.record(k, truth(k))
            rec.append(time.perf_counter() - t)
            time.sleep(0.02)                                 # a (very fast) person
        s.wait_idle()
        fits = (s.model_version or 0) - v0
        s.close()
        pct = lambda a, q: float(np.percentile(np.asarray(a) * 1000, q))  # noqa: E731
        return {"labels_before": n_labels, "answers": n_answers, "fits_during": fits,
                "answers_while_training": busy,
                "record_ms": {"p50": pct(rec, 50), "p99": pct(rec, 99), "max": pct(rec, 100)},
                "next_ms": {"p50": pct(nxt, 50), "p99": pct(nxt, 99), "max": pct(nxt, 100)}}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    sizes = [(200_000, 768), (1_000_000, 384)] if a.quick else [(1_000_000, 768), (10_000_000, 384)]
    res = {"quick": a.quick, "cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: timings are indicative")
    for n, d in sizes:
        p = synthetic(n, d)
        r = score_timing(p)
        res[f"score_{n}x{d}"] = r
        print(f"score {n:,} x {d}: best {min(r['score_s']):.2f} s (all {', '.join(f'{x:.2f}' for x in r['score_s'])}), "
              f"{r['storage']}, max error {r['max_abs_err']:.1e}, open {r['open_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB "
              f"= {r['rss_over_file']:.2f} x file ({r['file_mb']:.0f} MB)")
    p768 = synthetic(*sizes[0])
    res["refit"] = refit_timing(p768)
    for n, r in res["refit"].items():
        print(f"refit at {int(n):,} labels: cold {r['cold_s']:.3f} s, warm (one more answer) {r['warm_s']:.3f} s")
    lat = latency(p768, 200 if a.quick else 1000, 100 if a.quick else 300)
    res["latency"] = lat
    print(f"under a concurrent fit+score of {sizes[0][0]:,} x {sizes[0][1]} ({lat['fits_during']} fits, "
          f"{lat['answers_while_training']}/{lat['answers']} answers while training): "
          f"record p50 {lat['record_ms']['p50']:.2f} ms p99 {lat['record_ms']['p99']:.2f} ms; "
          f"next p50 {lat['next_ms']['p50']:.3f} ms p99 {lat['next_ms']['p99']:.3f} ms")
    res["peak_rss_mb_this_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sampler.json").write_text(json.dumps(res, indent=1))
    print(f"wrote {OUT / 'sampler.json'}")


if __name__ == "__main__":
    main()
