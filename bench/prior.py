"""A score to start from (issue 16 part 4): `--prior COLUMN` against none, and random.

A simulated detector gives every item a score: a logistic regression (scikit-learn's
defaults: unweighted, so calibrated-ish) on 7x7 mean-pooled pixels, fit on 50 labelled
images of the train split outside the pool (a weak model of another kind than the
embedding, as a detector is). A simulated annotator answers one-vs-rest from the true
classes (10% positives); after each answer the classifier is refit, with and without
the score as a side input (tui.learn.side_model), and the strategies pick as the
sampler does (a prior: the cold start follows the score). Reported: test AP (2,000
test images, their own detector scores) after 10..200 answers and positives found in
the first 20, 50, 100 and 200 answers; means over tasks x seeds (each seed its own
detector, from other 50 images). "detector alone" is the score's own AP, and the
positives among its top-scored pool items: following the score without learning.

Run: python -m bench.prior [--quick] [--jobs 2] [--scales 1 3 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.fmnist_embed import CLASSES
from bench.side_common import data, finish, print_table, run, run_jobs, table
from tui.learn.quality import average_precision
from tui.learn.side_inputs import SideInputs, prior_from_values
from tui.learn.side_model import PRIOR_SCALE

CHECKPOINTS = (10, 20, 50, 100, 200)
FOUND_AT = (20, 50, 100, 200)
DETECTOR_TRAIN = 50
_DATA = None


def detector_scores(px, other_px, other_y, cls, seed):
    """P(cls) for every row by a weak pixel model fit on DETECTOR_TRAIN other images."""
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(500 + seed)
    pos = np.flatnonzero(other_y == cls)
    tr = rng.choice(len(other_y), DETECTOR_TRAIN, replace=False)
    if not (other_y[tr] == cls).any():            # at least one positive to learn from
        tr[0] = rng.choice(pos)
    m = LogisticRegression(max_iter=1000).fit(other_px[tr], other_y[tr] == cls)
    return m.predict_proba(px)[:, 1]


def one(job):
    global _DATA
    arm, strategy, use_prior, scale, cls, seed, budget = job
    if _DATA is None:
        _DATA = data()
    X, y, px, opx, oy, n_pool = _DATA
    score = detector_scores(px, opx, oy, cls, seed)
    side = SideInputs(prior_from_values(score.tolist(), "score")) if use_prior else None
    t = time.time()
    cps = tuple(c for c in CHECKPOINTS if c <= budget)
    curve, answers = run(X, y == cls, n_pool, side, strategy, seed, budget, set(cps),
                         prior_scale=scale)
    top = np.argsort(-score[:n_pool])                  # following the score alone
    return {"arm": arm, "task": CLASSES[cls], "seed": seed,
            "ap": {str(k): v for k, v in curve.items()},
            "found": {str(f): int(answers[:f].sum()) for f in FOUND_AT if f <= budget},
            "detector_ap": average_precision(y[n_pool:] == cls, score[n_pool:]),
            "detector_found": {str(f): int((y[top[:f]] == cls).sum())
                               for f in FOUND_AT if f <= budget},
            "seconds": time.time() - t}


def arms(scales):
    out = [("random", "random", False, PRIOR_SCALE),
           ("random --prior", "random", True, PRIOR_SCALE)]
    for s in ("maxprob", "entropy"):
        out.append((s, s, False, PRIOR_SCALE))
        for sc in scales:
            out.append((f"{s} --prior" + ("" if sc == PRIOR_SCALE else f" (scale {sc:g})"),
                        s, True, sc))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 tasks, 1 seed, 100 answers")
    ap.add_argument("--tasks", type=int, nargs="*", default=[2, 4, 6, 8],
                    help="class indices (default: pullover, coat, shirt, bag)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--scales", type=float, nargs="*", default=[PRIOR_SCALE],
                    help=f"prior column scales to compare (default: the built-in {PRIOR_SCALE:g})")
    ap.add_argument("--jobs", type=int, default=1)
    a = ap.parse_args(argv)
    if a.quick:
        a.tasks, a.seeds, a.budget = [6, 8], 1, 100
    t0 = time.time()
    arm_list = arms(a.scales)
    jobs = [(name, s, p, sc, c, seed, a.budget) for seed in range(a.seeds) for c in a.tasks
            for name, s, p, sc in arm_list]
    runs = run_jobs(one, jobs, a.jobs, lambda r: print(
        f"  {r['arm']:28s} {r['task']:9s} seed {r['seed']} AP@{max(map(int, r['ap']))} "
        f"{r['ap'][str(max(map(int, r['ap'])))]:.3f} found {list(r['found'].values())} "
        f"({r['seconds']:.0f} s)", flush=True))
    cps = [c for c in CHECKPOINTS if c <= a.budget]
    fa = [f for f in FOUND_AT if f <= a.budget]
    rows = table(runs, [n for n, *_ in arm_list], cps, fa)
    det = [r for r in runs if r["arm"] == "random"]
    rows["detector alone"] = {"runs": len(det),
                              "ap": {str(c): float(np.mean([r["detector_ap"] for r in det]))
                                     for c in cps},
                              "found": {str(f): float(np.mean([r["detector_found"][str(f)]
                                                               for r in det])) for f in fa}}
    print(f"\n{len(a.tasks)} tasks ({', '.join(CLASSES[c] for c in a.tasks)}) x {a.seeds} "
          f"seeds, 10% positives; means; test AP after N answers, positives in the first N")
    print_table(rows, cps, fa)
    per_task = {CLASSES[c]: table([r for r in runs if r["task"] == CLASSES[c]],
                                  [n for n, *_ in arm_list], cps, fa) for c in a.tasks}
    finish("prior_quick" if a.quick else "prior", a, rows, runs, {"per_task": per_task}, t0)


if __name__ == "__main__":
    main()
