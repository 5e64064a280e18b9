"""Above the full-scan limit: what scoring a sample costs the maxprob search (issue 4).

Above tui.learn.ranking.FULL_SCAN_MAX (12M) items, each fit scores a fresh random sample
of SAMPLE_ROWS (2M) rows plus the neighbours of the latest positives found, instead
of the whole pool. A pool that size cannot be simulated here a thousand times, so
the same shares are simulated on the label-efficiency data (bench/active_learning.py:
Fashion-MNIST embedded by effnet-lite0, the 10 one-against-rest tasks with positives
subsampled to 1%, 5 seeds, 500 answers, maxprob without random share): the pool scored
whole, against a fresh sample of 4% of it per fit (2M of a pool of 50M), with and
without the neighbours. Sampling and neighbours run through tui.learn.ranking.Ranker.score
on a real features file, in bench/active_learning.py's loop.

Run: .venv/bin/python -m bench.sampled_scoring [--quick] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.active_learning import OUT, _one_blas_thread, _Serial, run_ours, task_pool
from bench.fmnist_embed import CLASSES, load_embeddings
from tests.h5fixtures import write_features
from tui.learn import ranking
from tui.store.features import FeatureFile
from tui.learn.trainer import DEFAULT_C

MODES = ("whole", "sample4", "sample4+near")


def run(args) -> dict:
    mode, cls, prevalence, seed, budget = args
    X, y, Xt, yt = load_embeddings(log=None)
    rows = task_pool(y, cls, prevalence, seed)
    truth = y[rows] == cls
    with tempfile.TemporaryDirectory() as d:
        write_features(Path(d) / "f.h5", X[rows].astype(np.float32))
        with FeatureFile(str(Path(d) / "f.h5")) as f:
            share = {"whole": None, "sample4": 0.04}[mode.split("+")[0]]
            ranking.FULL_SCAN_MAX = 10**12 if share is None else 0
            ranking.SAMPLE_ROWS = 0 if share is None else round(share * f.n)
            ranking.ANCHORS = 32 if mode.endswith("+near") else 0
            ranker = ranking.Ranker(f, seed)
            _, answers = run_ours(f.rows(np.arange(f.n)), truth, Xt.astype(np.float32), yt == cls,
                                  "maxprob", 0.0, seed, budget, DEFAULT_C, score=ranker.score)
    found = np.cumsum(answers)
    return {"mode": mode, "task": CLASSES[cls], "prevalence": prevalence, "seed": seed,
            "pool_pos": int(truth.sum()), "found100": int(found[99]), "found500": int(found[-1]),
            "found": found[::10].tolist()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 tasks, 1 seed")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--jobs", type=int, default=1)
    a = ap.parse_args(argv)
    tasks = [6, 8] if a.quick else list(range(10))
    seeds = 1 if a.quick else a.seeds
    load_embeddings()
    jobs = [(m, c, 0.01, s, a.budget) for s in range(seeds) for c in tasks for m in MODES]
    t0 = time.time()
    with ProcessPoolExecutor(a.jobs, initializer=_one_blas_thread) if a.jobs > 1 else _Serial() as ex:
        runs = list(ex.map(run, jobs))
    table = {}
    for m in MODES:
        per_task = {t: [r for r in runs if r["mode"] == m and r["task"] == CLASSES[t]] for t in tasks}
        table[m] = {"found100": float(np.mean([r["found100"] for r in runs if r["mode"] == m])),
                    "found500": float(np.mean([r["found500"] for r in runs if r["mode"] == m])),
                    "per_task_found500": {CLASSES[t]: float(np.mean([r["found500"] for r in v]))
                                          for t, v in per_task.items()}}
    OUT.mkdir(parents=True, exist_ok=True)
    name = "sampled_scoring_quick" if a.quick else "sampled_scoring"
    (OUT / f"{name}.json").write_text(json.dumps({"args": vars(a), "table": table, "runs": runs,
                                                  "seconds": time.time() - t0}, indent=1))
    print(f"maxprob at 1%, {len(tasks)} tasks x {seeds} seeds, mean positives found "
          f"(of {runs[0]['pool_pos']} in each pool)")
    print(f"{'scoring':15s} {'in 100':>7s} {'in ' + str(a.budget):>7s}")
    for m, r in table.items():
        print(f"{m:15s} {r['found100']:7.1f} {r['found500']:7.1f}")
    print(f"wrote {OUT / (name + '.json')} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
