"""Scoring the pool and ranking it into the sampler's next picks.

Why apart from tui.sampler: this is the part that reads the features and does
the arithmetic (a full pass over the pool per model, the cold-start clusters,
the neighbours of an anchor), with no lock, no labels file and no leases. The
sampler's background thread is its only caller, so it keeps its own random
generator and caches without locking.

Scale: pools up to FULL_SCAN_MAX (12M) items are scored whole after each fit
(10M x 384 takes seconds here, see bench/sampler.py). Above it a fresh random
sample of SAMPLE_ROWS (2M) rows is scored after each fit instead; the other
rows have no probability (NaN) until a later sample covers them, so maxprob and
entropy search a new sample each time rather than the whole pool. The
neighbours of a positive are searched in the whole pool on request (one full
pass per anchor).
"""

from __future__ import annotations

import numpy as np

from tui import strategies as S
from tui.trainer import LinearModel, _sigmoid

FULL_SCAN_MAX = 12_000_000
SAMPLE_ROWS = 2_000_000
COLD_SAMPLE = 20_000
COLD_CLUSTERS = 64


class Ranker:
    """Turns a model (or none yet) and the candidate mask into an ordered list of picks."""

    def __init__(self, features, seed: int):
        self.features = features
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._cold = None
        self._similarity: tuple[int, np.ndarray] | None = None

    def score(self, model: LinearModel) -> np.ndarray:
        """P(pos) of every row; above FULL_SCAN_MAX rows, of a fresh random sample of
        SAMPLE_ROWS rows only, the rest NaN."""
        f = self.features
        if f.n <= FULL_SCAN_MAX:
            return _sigmoid(f.dot(model.w, model.b))
        rows = np.unique(self._rng.integers(0, f.n, SAMPLE_ROWS))
        proba = np.full(f.n, np.nan, np.float32)
        proba[rows] = _sigmoid(f.rows(rows) @ model.w + np.float32(model.b))
        return proba

    def rank(self, strategy: str, target: str, anchor: int | None, proba: np.ndarray | None,
             cand: np.ndarray, k: int, labelled_X: np.ndarray | None,
             random_share: float) -> list[tuple[int, str]]:
        """Up to k (row, strategy that picked it), best first. `labelled_X`: the answered
        items' vectors, which the cold start keeps its picks away from; `random_share`: the
        sampler's, for entropy and maxprob."""
        f = self.features
        if strategy == "similar" and anchor is not None:
            if self._similarity is None or self._similarity[0] != anchor:
                self._similarity = (anchor, f.dot(f.rows([anchor])[0]))
            return [(int(i), "similar") for i in S.similar(self._similarity[1], k, cand)]
        rows = X = medoids = None
        if proba is None and strategy != "random":
            rows, X, medoids = self.cold_sample()
        idx, tags = S.choose(strategy, k, cand, self._rng, proba, target, random_share,
                             rows, X, labelled_X, medoids)
        return [(int(i), t) for i, t in zip(idx, tags)]

    def cold_sample(self):
        """The cold start's sample and medoids (read once, on the first ranking without
        a model)."""
        if self._cold is None:
            self._cold = cold_sample(self.features.n, self.features.rows, self._seed)
        return self._cold


def cold_sample(n: int, rows_of, seed: int):
    """(rows, their vectors, medoid positions): a seeded random sample of COLD_SAMPLE rows
    of a pool of n and the medoids of its COLD_CLUSTERS k-means clusters. `rows_of(rows)`
    reads vectors. One function for the sampler and bench/active_learning.py, so the
    benchmark measures the cold start users get."""
    rng = np.random.default_rng(seed)
    k = min(n, COLD_SAMPLE)
    rows = np.sort(rng.choice(n, k, replace=False)) if k else np.zeros(0, np.int64)
    X = rows_of(rows)
    return rows, X, S.cluster_medoids(X, COLD_CLUSTERS, rng)
