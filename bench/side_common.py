"""What bench/prior.py and bench/condition.py share: the Fashion-MNIST pool with its pixels
(for the weak models that make the side inputs) and the active-learning loop with side
inputs, driving the sampler's own functions (tui.learn.side_model.choose and SideFitter,
tui.learn.strategies.choose and its cold start, tui.learn.trainer.Fitter), refit after
every answer as bench/active_learning.py does.

The pool is bench/fmnist_embed.py's seeded subset (10,000 train + 2,000 test images,
effnet-lite0 at 112 px). The weak models are trained on other images of the train
split (never the pool's or the test's), on average-pooled pixels.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.fmnist_embed import load_embeddings, load_split, subset
from tui.learn import side_model
from tui.learn import strategies as S
from tui.learn.quality import average_precision
from tui.learn.ranking import cold_sample
from tui.learn.side_inputs import SideInputs
from tui.learn.side_model import PRIOR_SCALE, SideFitter, logits
from tui.learn.trainer import Fitter, sigmoid

OUT = Path(__file__).resolve().parent / "out"


def data():
    """(X [12000, 1280] float32: pool rows first, then test; true class per row; pooled
    pixels per row; pixels and classes of the train images outside the pool; n_pool)."""
    X, y, Xt, yt = load_embeddings(log=None)
    imgs, labels = load_split("train")
    timgs, tlabels = load_split("test")
    pool_idx, test_idx = subset(labels, len(X), 0), subset(tlabels, len(Xt), 0)
    assert (labels[pool_idx] == y).all() and (tlabels[test_idx] == yt).all()
    others = np.setdiff1d(np.arange(len(labels)), pool_idx)
    px = np.r_[pooled(imgs[pool_idx]), pooled(timgs[test_idx])]
    return (np.r_[X, Xt].astype(np.float32), np.r_[y, yt].astype(int), px,
            pooled(imgs[others]), labels[others].astype(int), len(X))


def pooled(images: np.ndarray, k: int = 4) -> np.ndarray:
    """28x28 -> 7x7 mean-pooled grey levels in [0, 1], flattened (49 numbers)."""
    n = len(images)
    return images.reshape(n, 28 // k, k, 28 // k, k).mean(axis=(2, 4)).reshape(n, -1) / 255.0


def run(X, y, n_pool, side, strategy, seed, budget, checkpoints, *, shape="shared+per-label",
        prior_scale=PRIOR_SCALE, balance=True, share=0.1):
    """One simulated annotator. `y`: bool answer per row (pool rows first, then test rows).
    Returns ({answers: test AP}, answers in order)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    test = np.arange(n_pool, n)
    answered = np.zeros(n, bool)
    pool = np.zeros(n, bool)
    pool[:n_pool] = True
    cold = cold_sample(n_pool, X.__getitem__, seed)
    fitter = Fitter(d) if side is None else SideFitter(side, d, prior_scale=prior_scale,
                                                       shape=shape)
    picks_side = None if side is None else \
        SideInputs(side.prior, side.condition if balance else None)
    model, proba, order, curve = None, None, [], {}
    for t in range(1, budget + 1):
        cand = pool & ~answered
        picked = None
        if picks_side is not None:
            picked = side_model.choose(picks_side, strategy, "pos", proba, cand, 1, rng, share)
        if picked is not None:
            i = picked[0][0]
        else:
            idx, _ = S.choose(strategy, 1, cand, rng, proba=proba, target="pos",
                              random_share=share, cold=cold, answered=t - 1)
            i = int(idx[0])
        answered[i] = True
        order.append(i)
        ys = y[order]
        if ys.any() and not ys.all():
            if side is None:
                model = fitter.fit(X[order], ys, t)
                z = X @ model.w + np.float32(model.b)
            else:
                model = fitter.fit(X[order], ys, t, rows=order)
                z = logits(model, rows=np.arange(n), X=X)
            proba = sigmoid(z)
        if t in checkpoints:
            curve[t] = average_precision(y[test], proba[test]) if proba is not None \
                else float(y[test].mean())
    return curve, y[order]


def run_jobs(fn, jobs, n_jobs, log_line):
    """fn(job) for every job, in n_jobs processes (one BLAS thread each); results in order."""
    out = []
    if n_jobs > 1:
        with ProcessPoolExecutor(n_jobs, initializer=_one_blas_thread) as ex:
            for r in ex.map(fn, jobs):
                log_line(r)
                out.append(r)
    else:
        _one_blas_thread()
        for j in jobs:
            r = fn(j)
            log_line(r)
            out.append(r)
    return out


def _one_blas_thread() -> None:
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)


def table(runs, arms, checkpoints, found_at, key=lambda r: r["arm"]):
    """Per arm: mean over runs of test AP at each checkpoint and of positives found."""
    rows = {}
    for arm in arms:
        rs = [r for r in runs if key(r) == arm]
        if not rs:
            continue
        rows[arm] = {"runs": len(rs),
                     "ap": {str(c): float(np.mean([r["ap"][str(c)] for r in rs]))
                            for c in checkpoints},
                     "found": {str(f): float(np.mean([r["found"][str(f)] for r in rs]))
                               for f in found_at}}
    return rows


def print_table(rows, checkpoints, found_at, what="positives"):
    head = f"{'arm':38s}" + "".join(f"{'AP@' + str(c):>8s}" for c in checkpoints) + \
        "".join(f"{what[:5] + '@' + str(f):>10s}" for f in found_at)
    print(head)
    for arm, r in rows.items():
        print(f"{arm:38s}" + "".join(f"{r['ap'][str(c)]:8.3f}" for c in checkpoints) +
              "".join(f"{r['found'][str(f)]:10.1f}" for f in found_at))


def finish(name, args, rows, runs, extra, t0):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps({"args": vars(args), "seconds": time.time() - t0,
                                "summary": rows, **extra, "runs": runs}, indent=1))
    print(f"wrote {path} in {time.time() - t0:.0f} s")
