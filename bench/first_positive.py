"""First positive (issue 16): how soon the cold start finds a rare class, against random.

Until both classes are seen there is no model, and the cold start alone decides what
is shown: a rare class that it misses costs the person tens of answers of nothing.
This measures, for maxprob and entropy (default 10% random share) and random:
answers to the first positive (median and mean over seeds) and positives in the
first 100 answers (mean), on
- fmnist: the ten Fashion-MNIST tasks of bench/active_learning.py at 1%;
- elpv: ELPV solar cells at 1.5% defective (bench/pools.py);
- digits: scikit-learn's digits, each digit against the rest at 1% (bench/pools.py).
The loop is bench.active_learning.run_ours (the sampler's own choose and Fitter, a
refit after every answer, as a person's pace that waits for each refit gives). A run
stops once it has 100 answers and a positive, or at LIMIT answers (then its first
positive counts as LIMIT). maxprob and entropy share the seed and the cold start, so
their first positives are the same; they differ from the second positive on.

Goal (issue 16), on every task: the median answers to the first positive at most
random's median, and the positives in 100 at least random's mean.

Run: .venv/bin/python -m bench.first_positive [--quick] [--jobs 2] [--seeds 12]
     [--baseline bench/out/first_positive_before.json]   (figures of another run beside)
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench import active_learning as AL
from bench.fmnist_embed import CLASSES, load_embeddings
from tui.learn import strategies as S
from tui.learn.ranking import cold_sample

LIMIT = 1000
SWEEP = (0, 1, 2, 4, 8, 12, 16)     # medoids in front, for medoid_sweep
STRATEGIES = ("maxprob", "entropy", "random")
QUICK = {"fmnist": [4, 6, 8], "elpv": [1], "digits": [3]}
_POOLS: dict = {}


def pool_data(kind: str):
    """(X float32, labels, {task: name}, prevalence) of one kind of pool, cached per process."""
    if kind not in _POOLS:
        if kind == "fmnist":
            X, y, _, _ = load_embeddings(log=None)
            _POOLS[kind] = (X.astype(np.float32), y, dict(enumerate(CLASSES)), 0.01)
        elif kind == "elpv":
            from bench.pools import elpv
            X, defective = elpv(log=None)
            _POOLS[kind] = (X, defective.astype(np.int8), {1: "defective"}, 0.015)
        else:
            from bench.pools import digits
            X, y = digits(log=None)
            _POOLS[kind] = (X, y, {d: f"digit {d}" for d in range(10)}, 0.01)
    return _POOLS[kind]


def one_run(job) -> dict:
    kind, task, seed, strategy = job
    X, labels, names, prevalence = pool_data(kind)
    rows = AL.task_pool(labels, task, prevalence, seed)
    Xp, yp = X[rows], labels[rows] == task
    t0 = time.time()
    _, answers = AL.run_ours(Xp, yp, Xp, yp, strategy, 0.1, seed, LIMIT, AL.DEFAULT_C,
                             stop=lambda ys: len(ys) >= 100 and ys.any())
    hits = np.flatnonzero(answers)
    extra = {}
    if strategy == "random":        # the medoids' labels, in the order the cold start shows them
        extra["medoid_labels"] = yp[cold_sample(len(rows), Xp.__getitem__, seed).medoids[:SWEEP[-1]]]\
            .astype(int).tolist()
    return {**extra, "pool": kind, "task": names[task], "seed": seed, "strategy": strategy,
            "pool_size": len(rows), "pool_pos": int(yp.sum()),
            "first": int(hits[0]) + 1 if len(hits) else LIMIT,
            "second": int(hits[1]) + 1 if len(hits) > 1 else None,
            "found100": int(answers[:100].sum()), "seconds": round(time.time() - t0, 1)}


def summarise(runs: list[dict]) -> dict:
    """{pool|task: {strategy: median_first, mean_first, found100}, goal met by each}."""
    out = {}
    for key in dict.fromkeys(f'{r["pool"]}|{r["task"]}' for r in runs):
        per = {}
        for s in STRATEGIES:
            rs = [r for r in runs if f'{r["pool"]}|{r["task"]}' == key and r["strategy"] == s]
            if rs:
                first = [r["first"] for r in rs]
                per[s] = {"median_first": float(np.median(first)), "mean_first": float(np.mean(first)),
                          "found100": float(np.mean([r["found100"] for r in rs])), "seeds": len(rs)}
        rnd = per.get("random")
        for s in ("maxprob", "entropy"):
            if s in per and rnd:
                per[s]["goal_first"] = per[s]["median_first"] <= rnd["median_first"]
                per[s]["goal_found100"] = per[s]["found100"] >= rnd["found100"]
        out[key] = per
    return out


def print_table(summary: dict, baseline: dict | None = None) -> None:
    base = baseline or {}
    print("answers to the first positive (median / mean over seeds; maxprob and entropy share it) "
          "and positives in 100 (mean)")
    cols = ("random", "maxprob", "entropy")
    head = f"{'pool':7s} {'task':11s} {'first: random':>14s} {'ours':>11s}"
    head += f" {'before':>11s}" if base else ""
    head += f" | {'in 100: random':>14s} {'maxprob':>8s} {'entropy':>8s}"
    head += f" {'before mp/en':>13s}" if base else ""
    print(head + " | goal")
    met = {"first": 0, "found100": 0, "n": 0}
    for key, per in summary.items():
        if not all(c in per for c in cols):
            continue
        pool, task = key.split("|")
        f = lambda d: f'{d["median_first"]:.0f} / {d["mean_first"]:.0f}'  # noqa: E731
        b = base.get(key, {})
        line = f"{pool:7s} {task:11s} {f(per['random']):>14s} {f(per['maxprob']):>11s}"
        if base:
            line += f" {f(b['maxprob']) if 'maxprob' in b else '-':>11s}"
        line += (f" | {per['random']['found100']:14.1f} {per['maxprob']['found100']:8.1f}"
                 f" {per['entropy']['found100']:8.1f}")
        if base:
            bb = f"{b['maxprob']['found100']:.1f}/{b['entropy']['found100']:.1f}" if 'entropy' in b else "-"
            line += f" {bb:>13s}"
        ok_first = per["maxprob"]["goal_first"]
        ok_100 = per["maxprob"]["goal_found100"] and per["entropy"]["goal_found100"]
        met["first"] += ok_first
        met["found100"] += ok_100
        met["n"] += 1
        print(line + " | " + ("first ok" if ok_first else "FIRST LATE") + ", " +
              ("100 ok" if ok_100 else "100 SHORT"))
    print(f"goal met: first positive on {met['first']} of {met['n']} tasks, "
          f"positives in 100 on {met['found100']} of {met['n']}")


def medoid_sweep(runs: list[dict]) -> dict:
    """What K medoids in front would give, K in SWEEP, from random's runs: the cold start
    puts medoid r (from 1) at answer 2r - 1 and random's own draws between, so the first
    positive comes at min(2r - 1 for the first positive medoid, k + min(k, K)) where k is
    random's first positive (exact but for the rare draw that hits a medoid already shown).
    {K: {"met": tasks whose median is at most random's, "tasks", "median", "mean",
    "worst_late": the most a task's median is above random's}}."""
    rnd = [r for r in runs if r["strategy"] == "random" and "medoid_labels" in r]
    out = {}
    for K in SWEEP:
        per: dict = {}
        for r in rnd:
            hit = [i for i, y in enumerate(r["medoid_labels"][:K]) if y]
            k = r["first"]
            ours = k + min(k, K)
            if hit:
                ours = min(ours, 2 * hit[0] + 1)
            per.setdefault((r["pool"], r["task"]), ([], []))
            per[(r["pool"], r["task"])][0].append(ours)
            per[(r["pool"], r["task"])][1].append(k)
        if not per:
            return out
        late = [float(np.median(o) - np.median(k)) for o, k in per.values()]
        every = [x for o, _ in per.values() for x in o]
        out[K] = {"met": sum(x <= 0 for x in late), "tasks": len(per), "worst_late": max(late),
                  "median": float(np.median(every)), "mean": float(np.mean(every))}
    return out


def print_sweep(sweep: dict) -> None:
    print("medoids in front (COLD_MEDOIDS = %d built): goal met on tasks, worst median late, "
          "median / mean first positive over every task-seed" % S.COLD_MEDOIDS)
    for K, v in sweep.items():
        print(f"  K={K:2d}: {v['met']:2d} of {v['tasks']}, late by at most {v['worst_late']:.0f}, "
              f"{v['median']:.0f} / {v['mean']:.0f}" + ("   (random)" if K == 0 else ""))


def print_second(runs: list[dict]) -> None:
    """What follows the first positive: the model (both classes seen) takes over at once."""
    for kind in dict.fromkeys(r["pool"] for r in runs):
        for s in STRATEGIES:
            rs = [r for r in runs if r["pool"] == kind and r["strategy"] == s and r["first"] < LIMIT]
            gaps = [r["second"] - r["first"] for r in rs if r["second"] is not None]
            if rs:
                print(f"{kind:7s} {s:8s}: a second positive within the run in {len(gaps)} of {len(rs)} "
                      f"runs, median {np.median(gaps) if gaps else float('nan'):.0f} answers after the first")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5 tasks (fmnist coat, shirt, bag; elpv; digit 3), 3 seeds")
    ap.add_argument("--pools", nargs="*", default=["fmnist", "elpv", "digits"],
                    choices=["fmnist", "elpv", "digits"])
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--baseline", help="a first_positive JSON of another run, shown beside")
    a = ap.parse_args(argv)
    seeds = 3 if a.quick else a.seeds
    for kind in a.pools:                       # embed (or read the caches) once, before forking
        pool_data(kind)
    tasks = {k: (QUICK[k] if a.quick else sorted(pool_data(k)[2])) for k in a.pools}
    jobs = [(k, t, seed, s) for seed in range(seeds) for k in a.pools for t in tasks[k]
            for s in STRATEGIES]
    t0 = time.time()
    with ProcessPoolExecutor(a.jobs, initializer=AL._one_blas_thread) if a.jobs > 1 else AL._Serial() as ex:
        runs = list(ex.map(one_run, jobs))
    summary = summarise(runs)
    baseline = json.loads(open(a.baseline).read())["summary"] if a.baseline else None
    print_table(summary, baseline)
    print_second(runs)
    sweep = medoid_sweep(runs)
    print_sweep(sweep)
    AL.OUT.mkdir(parents=True, exist_ok=True)
    name = "first_positive_quick" if a.quick else "first_positive"
    (AL.OUT / f"{name}.json").write_text(json.dumps(
        {"args": vars(a), "seconds": time.time() - t0, "summary": summary, "medoid_sweep": sweep,
         "runs": runs}, indent=1))
    print(f"wrote {AL.OUT / (name + '.json')} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
