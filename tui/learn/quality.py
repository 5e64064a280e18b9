"""Prequential quality: every answer is compared with the prediction made before it.

Why: no held-out set is needed, and the figure is honest because the model had
not seen the answer when it predicted. Items picked by entropy or maxprob are
not a random sample, so the statistics are also given over the random-share
picks alone (`random_*`), an unbiased estimate of the current accuracy.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

STOP_WINDOW = 200
STOP_AGREEMENT = 0.98
# Second looks at answered items (R's review, H's history): the model was trained on the
# first answer, and a review picks the items it disagrees with, so they are no prediction.
SECOND_LOOKS = ("review", "history")


def average_precision(y: np.ndarray, p: np.ndarray) -> float | None:
    """Average precision (area under the step precision-recall curve, as scikit-learn
    computes it); None without a positive."""
    y = np.asarray(y, bool)
    n_pos = int(y.sum())
    if n_pos == 0:
        return None
    order = np.argsort(-np.asarray(p, np.float64), kind="mergesort")
    p_sorted, y_sorted = np.asarray(p)[order], y[order]
    tp = np.cumsum(y_sorted)
    # thresholds: keep the last index of each run of equal scores
    last = np.r_[np.flatnonzero(np.diff(p_sorted) != 0), len(p_sorted) - 1]
    tp, fp = tp[last], (last + 1) - tp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def window_stats(pairs: Sequence[tuple[float, bool]]) -> dict:
    """accuracy, brier and AP over (prob of pos, is pos) pairs."""
    if not pairs:
        return {"n": 0, "accuracy": None, "brier": None, "ap": None}
    p = np.fromiter((a for a, _ in pairs), float, len(pairs))
    y = np.fromiter((b for _, b in pairs), bool, len(pairs))
    return {"n": len(pairs),
            "accuracy": float(np.mean((p >= 0.5) == y)),
            "brier": float(np.mean((p - y) ** 2)),
            "ap": average_precision(y, p)}


def prequential(log: Iterable, windows=(100, 500)) -> dict:
    """Statistics over the last answers that had a prediction.

    `log` holds objects with .answer ('pos'|'neg'|'skip'), .prob (P(pos) before the
    answer, or None), .strategy and .key, oldest first. Second looks (SECOND_LOOKS: R's
    review, H's history) bring no prediction of their own, but their answer stands for the
    item: each prediction is judged against the item's latest answer, so a slip the person
    corrected no longer counts as the model's disagreement."""
    log = list(log)
    latest = {a.key: a.answer for a in log if getattr(a, "key", None) is not None}
    pairs, rand = [], []
    for a in log:
        answer = latest.get(getattr(a, "key", None), a.answer)
        if answer == "skip" or a.prob is None or (isinstance(a.prob, float) and math.isnan(a.prob)) \
                or a.strategy in SECOND_LOOKS:
            continue
        pair = (float(a.prob), answer == "pos")
        pairs.append(pair)
        if a.strategy == "random":
            rand.append(pair)
    out = {}
    for w in windows:
        out[f"last{w}"] = window_stats(pairs[-w:])
        out[f"random_last{w}"] = window_stats(rand[-w:])
    agree = [int((p >= 0.5) == y) for p, y in pairs]
    out["agreement_recent"] = agree[-100:]
    recent = agree[-STOP_WINDOW:]
    if len(recent) < STOP_WINDOW:
        out["stop_hint"] = False
        out["stop_text"] = (f"{len(recent)} of the {STOP_WINDOW} answers with a prediction "
                            f"needed for a stop hint")
    else:
        rate = sum(recent) / len(recent)
        out["stop_hint"] = rate >= STOP_AGREEMENT
        out["stop_text"] = (f"the model agreed with {rate:.1%} of the last {STOP_WINDOW} answers"
                            + (": labelling more changes little; consider stopping"
                               if out["stop_hint"] else
                               f" (a stop hint at {STOP_AGREEMENT:.0%})"))
    return out


def prior_corrected(proba: np.ndarray, n_pos: int, n_neg: int) -> np.ndarray:
    """Undo the balanced class weights: a balanced model acts as if both classes were
    equally common; shifting its logit by log(n_pos / n_neg) restores the labelled
    class ratio, so a sum of probabilities estimates a count of positives."""
    if n_pos <= 0 or n_neg <= 0:
        return np.asarray(proba, np.float32)
    p = np.clip(np.asarray(proba, np.float64), 1e-7, 1 - 1e-7)
    logit = np.log(p / (1 - p)) + math.log(n_pos / n_neg)
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
