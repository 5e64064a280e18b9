"""Cold-start variants against the one built: maxprob's positives in its first 100 answers.

Why: before issue 16, at 1% the original loop found more shirts in 100 answers than
ours (0.6 against 0.2): a shirt has no cluster of its own, so the 64 medoids shown
first found none. This measures variants of the cold start on the label-efficiency
data (bench/active_learning.py: 10 one-against-rest tasks at 1%, 5 seeds, maxprob
without random share, the same loop), to show what each costs on the other tasks:
- built: the medoids of the 8 most distinct of 64 clusters, each followed by a uniform
  pick, then uniform picks (strategies.COLD_MEDOIDS; before issue 16: all 64 medoids,
  then half k-means++ and half uniform; bench/first_positive.py compares the two);
- members: one uniform random member of each of those clusters instead of its medoid;
- medoids+25%: a quarter of the medoid phase's picks uniform;
- 32 clusters.

Run: .venv/bin/python -m bench.cold_start [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench import active_learning as AL
from bench.fmnist_embed import CLASSES, load_embeddings
from tui.learn import ranking
from tui.learn import strategies as S

VARIANTS = ("built", "members", "medoids+25%", "32 clusters")
_medoids, _choose = S.cluster_medoids, S.choose


def members(X, k, rng, iters=10):
    """cluster_medoids' k-means, then a uniform random member of each cluster."""
    assign, _ = S.kmeans(X, min(k, len(X)), rng, iters)
    kept = np.unique(assign)
    return (np.asarray([rng.choice(np.flatnonzero(assign == j)) for j in kept], np.int64),
            np.searchsorted(kept, assign))


def quarter_uniform(strategy, k, candidates, rng, **kw):
    """The medoid phase with a quarter of its picks uniform."""
    cold = kw.get("cold")
    if kw.get("proba") is None and cold is not None and candidates[cold.medoids[:S.COLD_MEDOIDS]].any() \
            and rng.random() < 0.25:
        return S.random(len(candidates), k, rng, candidates), ["random"] * k
    return _choose(strategy, k, candidates, rng, **kw)


def run(job) -> dict:
    variant, cls, seed = job
    S.cluster_medoids = members if variant == "members" else _medoids
    S.choose = quarter_uniform if variant == "medoids+25%" else _choose
    ranking.COLD_CLUSTERS = 32 if variant == "32 clusters" else 64
    X, y, Xt, yt = load_embeddings(log=None)
    rows = AL.task_pool(y, cls, 0.01, seed)
    _, answers = AL.run_ours(X[rows].astype(np.float32), y[rows] == cls, Xt.astype(np.float32),
                             yt == cls, "maxprob", 0.0, seed, 100, AL.DEFAULT_C)
    hits = np.flatnonzero(answers)
    return {"variant": variant, "task": CLASSES[cls], "seed": seed,
            "found100": int(answers.sum()), "first": int(hits[0]) + 1 if len(hits) else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 seed")
    ap.add_argument("--jobs", type=int, default=1)
    a = ap.parse_args(argv)
    load_embeddings()
    seeds = 1 if a.quick else 5
    jobs = [(v, c, s) for v in VARIANTS for c in range(10) for s in range(seeds)]
    t0 = time.time()
    with ProcessPoolExecutor(a.jobs, initializer=AL._one_blas_thread) if a.jobs > 1 else AL._Serial() as ex:
        runs = list(ex.map(run, jobs))
    print("maxprob-0 at 1%: positives in the first 100 answers, mean over seeds")
    print(f"{'variant':12s} " + " ".join(f"{c[:8]:>8s}" for c in CLASSES) + "  first find (median)")
    table = {}
    for v in VARIANTS:
        rs = [r for r in runs if r["variant"] == v]
        per = {c: float(np.mean([r["found100"] for r in rs if r["task"] == c])) for c in CLASSES}
        first = float(np.median([r["first"] or 10**4 for r in rs]))
        table[v] = {"found100": per, "median_first": first}
        print(f"{v:12s} " + " ".join(f"{per[c]:8.1f}" for c in CLASSES) + f"  {first:.0f}")
    AL.OUT.mkdir(parents=True, exist_ok=True)
    name = "cold_start_quick" if a.quick else "cold_start"
    (AL.OUT / f"{name}.json").write_text(json.dumps({"table": table, "runs": runs}, indent=1))
    print(f"wrote {AL.OUT / (name + '.json')} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
