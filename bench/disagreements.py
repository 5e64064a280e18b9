"""Review by disagreement (issue 15): do R's first items hold the wrong answers?

Data: Fashion-MNIST embedded by bench/fmnist_embed.py (the seeded 10,000 training
images, EfficientNet-Lite0 at 112 px). Tasks: one class against the rest at its
natural 10%, as bench/active_learning.py. For each task and seed, 1,000 items
are answered from the true labels, chosen
- uniformly at random from the pool, or
- by the sampler's loop (entropy with the default 10% random share, refit after
  every answer: bench.active_learning.run_ours, the sampler's own functions);
then 5% of those answers (50) are flipped, chosen at random. R's ranking
(tui.learn.disagreements.rank: the sampler's classifier, 5-fold out-of-fold
P(pos), by self-confidence and by per-class thresholds) is compared with 50
answered items drawn at random (what a person re-checking at random would see;
2.5 flips expected): how many flipped answers each set of 50 holds, mean over
tasks and seeds.

The flips are made after the picking, so the loop picked with true answers; a
person's slips during the loop would also have steered its picks.

Run: .venv/bin/python -m bench.disagreements [--quick]
(--quick: 2 tasks, 2 seeds, about 3 minutes here; the full run: 10 tasks, 3 seeds,
39 minutes on the busy 2-core machine, nearly all of it the active-learning loop
picking.) Figures of the full run (issue 15), flips among the first 50, mean
(sd) over 30 runs: self-confidence 35.6 (5.0) uniform, 20.2 (8.2) active;
per-class thresholds 16.2 (11.4), 18.0 (7.4); the in-sample model 6.5 (3.2),
13.6 (3.9); random 2.5.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.fmnist_embed import CLASSES, load_embeddings
from tui.learn import disagreements as D
from tui.learn.trainer import DEFAULT_C, refit

OUT = Path(__file__).resolve().parent / "out"
SELECTIONS = ("uniform", "active")
BASELINES = ("in_sample", "random")
RANDOM_DRAWS = 1000


def answered_rows(X, y, Xt, yt, selection: str, n: int, seed: int) -> np.ndarray:
    """Rows of the pool that get an answer, in the order answered."""
    if selection == "uniform":
        return np.random.default_rng([seed, 7]).choice(len(y), n, replace=False)
    from bench.active_learning import run_ours

    picked: list[int] = []
    run_ours(X, y, Xt, yt, "entropy", 0.1, seed, n, DEFAULT_C, picked=picked)
    return np.asarray(picked, np.int64)


def one_run(X, y, Xt, yt, selection, n, flip, top, seed, task) -> dict:
    t0 = time.perf_counter()
    rows = answered_rows(X, y, Xt, yt, selection, n, seed)
    rng = np.random.default_rng([seed, task, 11])
    wrong = rng.choice(len(rows), round(flip * len(rows)), replace=False)
    answers = y[rows].copy()
    answers[wrong] = ~answers[wrong]
    is_wrong = np.zeros(len(rows), bool)
    is_wrong[wrong] = True
    t_pick = time.perf_counter() - t0
    out = {"selection": selection, "seed": seed, "answered": len(rows), "flipped": len(wrong),
           "answered_pos": int(answers.sum()), "pick_seconds": t_pick}
    for method in D.METHODS:
        t = time.perf_counter()
        order, p = D.rank(X[rows], answers, method=method, seed=seed)
        conf = np.where(answers, p, 1 - p)
        out[method] = {"in_top": int(is_wrong[order[:top]].sum()),
                       "in_top2x": int(is_wrong[order[:2 * top]].sum()),
                       "disagreeing": int((conf < 0.5).sum()),
                       "flipped_disagreeing": int((is_wrong & (conf < 0.5)).sum()),
                       "seconds": time.perf_counter() - t}
    # the sampler's own model, fit on every answer (the flipped ones too): not out of fold
    p = refit(X[rows], answers).proba(X[rows])
    conf = np.where(answers, p, 1 - p)
    out["in_sample"] = {"in_top": int(is_wrong[np.argsort(conf, kind="stable")[:top]].sum())}
    # a person re-checking answers at random: the mean of RANDOM_DRAWS draws of `top`
    draws = [is_wrong[rng.choice(len(rows), top, replace=False)].sum() for _ in range(RANDOM_DRAWS)]
    out["random"] = {"in_top": float(np.mean(draws))}
    return out


def summarise(runs, top) -> dict:
    rows = {}
    for sel in sorted({r["selection"] for r in runs}, key=SELECTIONS.index):
        rs = [r for r in runs if r["selection"] == sel]
        row = {"runs": len(rs), "flipped": float(np.mean([r["flipped"] for r in rs]))}
        for m in D.METHODS + BASELINES:
            v = np.asarray([r[m]["in_top"] for r in rs], float)
            row[m] = {"in_top_mean": float(v.mean()), "in_top_sd": float(v.std()),
                      "in_top_min": float(v.min())}
            if m in D.METHODS:
                for k in ("in_top2x", "disagreeing", "flipped_disagreeing", "seconds"):
                    row[m][k + "_mean"] = float(np.mean([r[m][k] for r in rs]))
        rows[sel] = row
    return rows


def print_table(summary, top, n, flip):
    print(f"\nflipped answers among the first {top} of {n} answered ({flip:.0%} flipped), "
          f"mean (sd) over tasks x seeds; in_sample: ranked by the sampler's model fit on "
          f"every answer; random: {top} answered items drawn at random (expected "
          f"{top * flip:.1f})")
    head = f"{'picked':8s} {'runs':>4s} " + " ".join(f"{m:>22s}" for m in D.METHODS + BASELINES)
    print(head)
    for sel, row in summary.items():
        cells = [f"{row[m]['in_top_mean']:6.1f} ({row[m]['in_top_sd']:4.1f})" for m in
                 D.METHODS + BASELINES]
        print(f"{sel:8s} {row['runs']:4d} " + " ".join(f"{c:>22s}" for c in cells))
    print(f"\nin the first {2 * top}; answers the out-of-fold model disagrees with (P(answer) "
          f"< 0.5) and the flipped among them; seconds per ranking")
    for sel, row in summary.items():
        for m in D.METHODS:
            r = row[m]
            print(f"{sel:8s} {m:16s} first {2 * top}: {r['in_top2x_mean']:5.1f}   disagreeing "
                  f"{r['disagreeing_mean']:6.1f}, flipped {r['flipped_disagreeing_mean']:5.1f}   "
                  f"{r['seconds_mean']:.1f} s")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 tasks, 2 seeds")
    ap.add_argument("--tasks", type=int, nargs="*", default=None, help="class indices (all 10)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--answered", type=int, default=1000)
    ap.add_argument("--flip", type=float, default=0.05)
    ap.add_argument("--top", type=int, default=50)
    ap.add_argument("--selections", nargs="*", default=list(SELECTIONS), choices=SELECTIONS)
    a = ap.parse_args(argv)
    if a.quick:
        a.tasks, a.seeds = a.tasks or [6, 8], min(a.seeds, 2)
    tasks = a.tasks if a.tasks is not None else list(range(10))
    t0 = time.time()
    X, y, Xt, yt = load_embeddings()
    X, Xt = X.astype(np.float32), Xt.astype(np.float32)
    runs = []
    for seed in range(a.seeds):
        for cls in tasks:
            for sel in a.selections:
                r = one_run(X, y == cls, Xt, yt == cls, sel, a.answered, a.flip, a.top, seed, cls)
                r["task"] = CLASSES[cls]
                runs.append(r)
                print(f"  {sel:8s} {CLASSES[cls]:10s} seed {seed}: flipped in the first "
                      f"{a.top}: " + ", ".join(f"{m} {r[m]['in_top']:g}" for m in
                                               D.METHODS + BASELINES)
                      + f" ({r['pick_seconds']:.0f} s to pick)", flush=True)
    summary = summarise(runs, a.top)
    print_table(summary, a.top, a.answered, a.flip)
    OUT.mkdir(parents=True, exist_ok=True)
    name = "disagreements_quick" if a.quick else "disagreements"
    (OUT / f"{name}.json").write_text(json.dumps(
        {"args": vars(a), "tasks": [CLASSES[c] for c in tasks], "summary": summary,
         "runs": runs, "seconds": time.time() - t0}, indent=1))
    print(f"wrote {OUT / (name + '.json')} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
