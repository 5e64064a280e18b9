"""Choosing the probability above which the model's boxes are accepted.

Why cross-validation: the model's probabilities on the items it was trained on are
over-confident, so precision measured there would flatter it. Each human label is
instead scored by a model fit without it (stratified k-fold, the sampler's own
classifier), and the threshold is the lowest one whose precision on those held-out
scores reaches the target: the most recall for the precision asked.

Caveat said out loud: the labels were chosen by active learning, not at random,
so these figures describe items like the labelled ones, not the pool; the figures
reported for the pool come from the uniform random picks (`tui.export.pool_estimate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tui.export.atomic import ExportError
from tui.learn.trainer import cross_val_proba

MAX_FOLDS = 5


@dataclass(frozen=True)
class Threshold:
    value: float        # accept an item when P(pos) >= value
    precision: float    # estimated by cross-validation on the human labels
    recall: float
    folds: int
    n_pos: int
    n_neg: int

    def describe(self, target: float) -> str:
        return (f"threshold {self.value:.4f}: the lowest whose precision reaches "
                f"{target:.3f} by {self.folds}-fold cross-validation on {self.n_pos} positive "
                f"and {self.n_neg} negative labels ({self.precision:.3f} there, recall "
                f"{self.recall:.3f}: figures on the items active learning chose, not on "
                f"the pool)")


def pick_threshold(p: np.ndarray, y: np.ndarray, target: float):
    """(threshold, precision, recall) of the lowest threshold reaching `target` precision,
    or (None, best precision, its recall) when none does."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order].astype(bool)
    tp, fp = np.cumsum(ys), np.cumsum(~ys)
    last = np.r_[ps[1:] != ps[:-1], True]     # accepting p >= ps[i] takes every tie
    tp, fp, ts = tp[last], fp[last], ps[last]
    prec, rec = tp / (tp + fp), tp / max(1, int(ys.sum()))
    ok = np.flatnonzero(prec >= target)
    if len(ok):
        i = ok[-1]
        return float(ts[i]), float(prec[i]), float(rec[i])
    i = int(np.argmax(prec))
    return None, float(prec[i]), float(rec[i])


def auto_threshold(X: np.ndarray, y: np.ndarray, target: float, fit=None) -> Threshold:
    """`fit`: as in trainer.cross_val_proba (Source.held_out_fit: the side inputs, if any)."""
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    folds = min(MAX_FOLDS, n_pos, n_neg)
    if folds < 2:
        raise ExportError(f"--threshold auto needs at least 2 positive and 2 negative labels "
                          f"for cross-validation; there are {n_pos} positive and {n_neg} "
                          f"negative. Label more, or pass --threshold P (a number in 0..1)")
    p = cross_val_proba(X, y, folds, fit=fit)
    t, prec, rec = pick_threshold(p, y, target)
    if t is None:
        raise ExportError(f"no threshold reaches precision {target:.3f} by {folds}-fold "
                          f"cross-validation on {n_pos} positive and {n_neg} negative labels "
                          f"(the best is {prec:.3f}, at recall {rec:.3f}); label more, lower "
                          f"--precision, or pass --threshold P")
    return Threshold(t, prec, rec, folds, n_pos, n_neg)
