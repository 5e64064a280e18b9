"""Which answers the model disagrees with most: the ones worth a second look (R in the app).

Why cross-validated: the sampler's model was fit on every answer, the wrong ones
included, so it leans towards them. Each answer is instead judged by the
sampler's own classifier fit without it (tui.learn.trainer.cross_val_proba,
stratified k-fold, as the export's threshold does), and the answers are ranked
by how little that out-of-fold model believes them: cleanlab's self-confidence,
P(the answer given), lowest first. Confident learning's per-class thresholds
("class_adjusted": P(answer) minus the mean P that the answers of that kind get)
are here too, and lose: with 5% of 1,000 Fashion-MNIST answers flipped
(bench/disagreements.py, 10 tasks x 3 seeds), the first 50 by self-confidence
held 35.6 of the 50 flips (answers picked at random) and 20.2 (picked by the
sampler's loop), by class_adjusted 16.2 and 18.0, by the sampler's own in-sample
model 6.5 and 13.6, and 50 answers drawn at random 2.5.

With fewer than MIN_PER_KIND answers of a kind the folds would hold one or two
of them, and a model without them says little: TooFewAnswers, which says how
many there are, rather than a ranking by noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tui.learn.side_model import held_out
from tui.learn.trainer import DEFAULT_C, cross_val_proba

METHODS = ("self_confidence", "class_adjusted")
DEFAULT_METHOD = "self_confidence"
MIN_PER_KIND = 5          # answers of each kind (positive, negative) before a ranking
FOLDS = 5


class TooFewAnswers(ValueError):
    """Not enough positive or negative answers to judge each by a model fit without it."""

    def __init__(self, n_pos: int, n_neg: int, need: int = MIN_PER_KIND):
        self.n_pos, self.n_neg, self.need = n_pos, n_neg, need
        super().__init__(f"need at least {need} positive and {need} negative answers to "
                         f"judge each by a model trained without it; there are {n_pos} "
                         f"positive and {n_neg} negative")


@dataclass(frozen=True)
class Disagreement:
    """One answer as the out-of-fold model sees it."""
    key: str
    answer: str          # 'pos' | 'neg': the item's current label
    p_pos: float         # P(pos) from a model trained without this answer
    confidence: float    # P(the answer given): self-confidence
    score: float         # the ranking's score: lower = the model disagrees more

    @property
    def disagrees(self) -> bool:
        """The model trained without it predicts the other answer."""
        return self.confidence < 0.5


def scores(p_pos: np.ndarray, y: np.ndarray, method: str = DEFAULT_METHOD) -> np.ndarray:
    """Lower = the model disagrees more with the answer y (True = pos)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    p, y = np.asarray(p_pos, np.float64), np.asarray(y, bool)
    conf = np.where(y, p, 1.0 - p)
    if method == "self_confidence":
        return conf
    # per-class thresholds: the mean P(pos) of the positives, the mean P(neg) of the negatives
    t_pos = p[y].mean() if y.any() else 0.5
    t_neg = (1.0 - p[~y]).mean() if (~y).any() else 0.5
    return conf - np.where(y, t_pos, t_neg)


def check_counts(y: np.ndarray, need: int = MIN_PER_KIND) -> None:
    n_pos = int(np.count_nonzero(y))
    n_neg = len(y) - n_pos
    if n_pos < need or n_neg < need:
        raise TooFewAnswers(n_pos, n_neg, need)


def rank(X: np.ndarray, y: np.ndarray, method: str = DEFAULT_METHOD, folds: int = FOLDS,
         seed: int = 0, C: float = DEFAULT_C, fit=None) -> tuple[np.ndarray, np.ndarray]:
    """(row order, strongest disagreement first; out-of-fold P(pos) per row). `fit`: as
    in trainer.cross_val_proba (side_model.held_out: the sampler's side inputs)."""
    y = np.asarray(y, bool)
    check_counts(y)
    n_folds = min(folds, int(y.sum()), int((~y).sum()))
    p = cross_val_proba(np.asarray(X, np.float32), y, n_folds, seed, C, fit=fit)
    return np.argsort(scores(p, y, method), kind="stable"), p


def find(keys, X: np.ndarray, answers: dict, method: str = DEFAULT_METHOD,
         seed: int = 0, side=None, rows=None) -> list[Disagreement]:
    """Every positive or negative answer among `keys` (row i of X is keys[i]), ranked.
    Skips (and keys without an answer) are left out: there is no claim to disagree with.
    `side`: the sampler's side inputs (a prior, a claimed label), which then judge the
    answers too, `rows` being the keys' pool rows: the model the person trained, not the
    image alone."""
    keep = [i for i, k in enumerate(keys) if answers.get(k) in ("pos", "neg")]
    y = np.asarray([answers[keys[i]] == "pos" for i in keep], bool)
    Xk = np.asarray(X, np.float32)[keep]
    fit = None if side is None else held_out(side, Xk, y, np.asarray(rows, np.int64)[keep])
    order, p = rank(Xk, y, method, seed=seed, fit=fit)
    s = scores(p, y, method)
    out = []
    for j in order:
        conf = float(p[j]) if y[j] else 1.0 - float(p[j])
        out.append(Disagreement(keys[keep[j]], "pos" if y[j] else "neg", float(p[j]), conf,
                                float(s[j])))
    return out


def in_features(features, answers: dict, method: str = DEFAULT_METHOD,
                side=None) -> list[Disagreement]:
    """`find` over the answered items a features file holds (their float16 rows read once)."""
    keys = [k for k, a in answers.items() if a in ("pos", "neg")]
    rows = features.indices_of(keys) if keys else np.zeros(0, np.int64)
    keys = [k for k, r in zip(keys, rows) if r >= 0]
    rows = rows[rows >= 0]
    return find(keys, features.rows(rows), answers, method, side=side, rows=rows)
