"""How good the model's accepted boxes are among the items nobody judged, estimated
from the uniform random picks alone.

Why not the labels at large: active learning chose them (the most uncertain, the
most likely), so they are no sample of the pool; cross-validated on them, a trial
printed "precision 1.000, recall 0.167" where, checked against ground truth, every
box added was real and 48 of 57 unjudged objects were found (recall 0.84).

Answers recorded with strategy "random" are uniform draws from the items not yet
answered at the time (the sampler's random share, `tui.learn.strategies.mix_random`,
and the random picks of its cold start), so they are a sample of the pool. The
other picks get no importance weight: given the model of the moment they were the
top of a ranking, an inclusion probability of 0 or 1 that no weight corrects.

- Each pick is scored by the sampler's classifier fit on every other label (K-fold
  over the picks, active learning's labels always in): a model the pick never
  trained, within a few labels of the export's own.
- precision = positives among the picks at or above the threshold; recall = picks at
  or above it among the positive picks; each with a Wilson score 95% interval given
  its denominator (exact enough at small counts, unlike the normal approximation).
- Fewer than MIN_PICKS in a denominator: no figure, the counts and what is needed.

Caveats: each pick came from the pool as it was then, which still held the items
labelled since. That share (the drift) is small in a large pool, and printed from
5%. Simulated (bench/threshold_honesty.py, 40 runs each, 300 answers): a pool 5%
labelled, intervals held the truth 23 of 24 times for precision, 39 of 40 for
recall; 20% labelled, 25 of 27 and 33 of 39, recall 0.05 low on average (entropy had
labelled the uncertain items the early picks were drawn among). A difference estimator
(subtracting the items labelled since, bootstrap interval), tried on 3 runs, gave
ratios above 1 and degenerate intervals at these counts: not used. Skipped
picks are not counted (how many is said).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Picks needed in a denominator (at or above the threshold; positive) for a figure.
MIN_PICKS = 10
MAX_FOLDS = 10
#: Drift (share of the picks' pool labelled since) from which the printout says so.
DRIFT_SAID = 0.05
Z95 = 1.959964


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (n > 0)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class PoolEstimate:
    picks: int          # random picks judged positive or negative (on boxes)
    skipped: int        # random picks skipped: not counted
    above: int          # picks at or above the threshold
    above_pos: int      # of them, positive
    pos: int            # positive picks
    drift: float = 0.0  # mean share of the pool at a pick's time labelled since

    def _figure(self, name: str, k: int, n: int, of: str, needs: str) -> str:
        if n < MIN_PICKS:
            return (f"{name}: too few to estimate, {needs} ({MIN_PICKS} needed, "
                    f"{n} so far)")
        lo, hi = wilson(k, n)
        return f"{name} {k / n:.3f} [{lo:.3f}, {hi:.3f}] ({k} of {n} {of})"

    def describe(self) -> str:
        head = (f"on the boxes nobody judged, estimated from {self.picks} uniform random "
                f"picks (answers with strategy random"
                + (f"; {self.skipped} skipped ones not counted" if self.skipped else "")
                + "), Wilson 95% intervals: ")
        prec = self._figure("precision", self.above_pos, self.above,
                            "picks at or above the threshold are positive",
                            "it needs random picks at or above the threshold")
        rec = self._figure("recall", self.above_pos, self.pos,
                           "positive picks are at or above the threshold",
                           "it needs positive random picks")
        tail = ""
        if self.drift >= DRIFT_SAID:
            tail += (f"; the picks came from the pool as it was, which still held the items "
                     f"labelled since ({self.drift:.0%} of it on average), so the figures "
                     f"lean towards that pool")
        if min(self.above, self.pos) < MIN_PICKS:
            tail += ("; each answer is a random pick with probability --random-share "
                    "(default 0.1), `annotate --strategy random` makes every pick one")
        return head + prec + "; " + rec + tail


def held_out_proba(X: np.ndarray, y: np.ndarray, picks: np.ndarray, seed: int = 0,
                   fit=None) -> np.ndarray:
    """P(pos) of the rows `picks` of (X, y), each from a fit on every row but its fold
    (NaN where the rest holds one class only). `fit(train, test)`: as in
    trainer.cross_val_proba (Source.held_out_fit: the side inputs, if any)."""
    from tui.learn.trainer import image_only

    fit = fit or image_only(X, y)
    out = np.empty(len(picks), np.float32)
    folds = min(MAX_FOLDS, len(picks))
    order = np.random.default_rng(seed).permutation(len(picks))
    for j in range(folds):
        part = order[j::folds]
        train = np.ones(len(y), bool)
        train[picks[part]] = False
        if y[train].all() or not y[train].any():   # one class left: no model, no score
            out[part] = np.nan
            continue
        out[part] = fit(np.flatnonzero(train), picks[part])
    return out


def estimate(src, threshold: float) -> PoolEstimate:
    """The estimate for accepting unjudged boxes at P(pos) >= threshold (see module doc)."""
    rows, X, y = src.training_set()
    latest = src.latest()
    f = src.features
    boxed = {it.key for it in src.items(rows) if it.box is not None}
    keys = [f.key(int(r)) for r in rows]
    is_pick = np.asarray([latest[k].strategy == "random" and k in boxed for k in keys], bool)
    skip_rows = [f.get_index(k) for k, a in latest.items()
                 if a.answer == "skip" and a.strategy == "random"]
    skipped = sum(1 for it in src.items(skip_rows) if it.box is not None)
    picks = np.flatnonzero(is_pick)
    if len(picks) == 0:
        return PoolEstimate(0, skipped, 0, 0, 0)
    p = held_out_proba(X, y, picks, fit=src.held_out_fit(rows, X, y))
    scored = ~np.isnan(p)
    picks, p = picks[scored], p[scored]
    yp, up = y[picks], p >= np.float32(threshold)
    return PoolEstimate(len(picks), skipped, int(up.sum()), int((up & yp).sum()),
                        int(yp.sum()), drift(src, [keys[i] for i in picks]))


def drift(src, pick_keys) -> float:
    """Mean over the picks of the share of the pool then unanswered (featurized items not
    answered before the pick) that is judged now: the part of the pool the picks speak
    for that the export's unjudged boxes no longer hold."""
    first: dict[str, int] = {}
    for n, a in enumerate(src.store.answers()):
        first.setdefault(a.key, n)
    when = np.sort(np.fromiter(first.values(), np.int64, len(first)))
    judged = np.sort(np.asarray([first[k] for k, a in src.latest().items()
                                 if a.answer in ("pos", "neg")], np.int64))
    n_done = int(np.count_nonzero(src.features.done))
    shares = []
    for k in pick_keys:
        s = first[k]
        pool = n_done - int(np.searchsorted(when, s))
        since = len(judged) - int(np.searchsorted(judged, s, side="right"))
        shares.append(since / max(pool, 1))
    return float(np.mean(shares)) if shares else 0.0
