"""Scoring the pool and ranking it into the sampler's next picks.

Why apart from tui.learn.sampler: this is the part that reads the features and does
the arithmetic (a full pass over the pool per model, the cold-start clusters,
the neighbours of an anchor), with no lock, no labels file and no leases. The
sampler's background thread is its only caller, so it keeps its own random
generator and caches without locking.

Scale: pools up to FULL_SCAN_MAX (12M) items are scored whole after each fit
(10M x 384 takes seconds here, see bench/sampler.py). Above it each fit scores
a fresh random sample of SAMPLE_ROWS (2M) rows plus the nearest neighbours of
the latest positives found so far (NearPositives); the other rows have no
probability (NaN) until a later sample covers them. So maxprob and entropy
search a new sample each time, and maxprob also the surroundings of what was
found, where a rare class's other members are (bench/sampled_scoring.py
measures the effect). `more_like` searches the whole pool (one full pass per
anchor).
"""

from __future__ import annotations

import numpy as np

from tui.learn import side_model
from tui.learn import strategies as S
from tui.learn.quality import prior_corrected
from tui.learn.trainer import LinearModel, sigmoid

FULL_SCAN_MAX = 12_000_000
SAMPLE_ROWS = 2_000_000
COLD_SAMPLE = 20_000
COLD_CLUSTERS = 64
ANCHORS = 32          # latest positives whose neighbours are scored, above FULL_SCAN_MAX
NEIGHBOURS = 64       # kept for each of them
CHUNK = 65_536        # sample rows read at once (2M x 768 float32 at once would be 6 GB)


class Ranker:
    """Turns a model (or none yet) and the candidate mask into an ordered list of picks."""

    def __init__(self, features, seed: int):
        self.features = features
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._cold = None
        self._similarity: tuple[int, np.ndarray] | None = None
        self._near = NearPositives(features)
        self.sample: np.ndarray | None = None
        self.side = None      # tui.learn.side_inputs.SideInputs: scoring and picks use them

    def score(self, model: LinearModel, positives=()) -> np.ndarray:
        """P(pos) of every row; above FULL_SCAN_MAX rows, of a fresh random sample of
        SAMPLE_ROWS rows (kept as `self.sample`, an unbiased sample for estimates) and of
        the neighbours of the latest ANCHORS `positives` (rows, oldest first), the rest NaN."""
        f = self.features
        if f.n <= FULL_SCAN_MAX:
            self.sample = None
            if self.side is not None:                                  # side inputs
                return sigmoid(side_model.logits(model, f))
            return sigmoid(f.dot(model.w, model.b))
        rows = np.unique(self._rng.integers(0, f.n, SAMPLE_ROWS))
        proba = np.full(f.n, np.nan, np.float32)
        latest = [int(i) for i in positives]
        self._near.anchor(latest[max(0, len(latest) - ANCHORS):])
        for s in range(0, len(rows), CHUNK):
            r = rows[s:s + CHUNK]
            X = f.rows(r)
            proba[r] = sigmoid(X @ model.w + np.float32(model.b) if self.side is None
                               else side_model.logits(model, rows=r, X=X))
            self._near.update(r, X)
        near = self._near.rows()
        if len(near):
            Xn = f.rows(near)
            proba[near] = sigmoid(Xn @ model.w + np.float32(model.b) if self.side is None
                                  else side_model.logits(model, rows=near, X=Xn))
        self.sample = rows
        return proba

    def positives_left(self, proba: np.ndarray, model: LinearModel, free: np.ndarray) -> float:
        """Positives among the `free` rows: their number times the mean prior-corrected
        probability over those scored at random (all; above FULL_SCAN_MAX the last random
        sample, not the positives' neighbours, which are mostly positives themselves)."""
        est = free
        if self.sample is not None:
            est = np.zeros(len(free), bool)
            est[self.sample] = True
            est &= free
        pc = prior_corrected(proba[est], model.n_pos, model.n_neg)
        return float(pc.mean(dtype=np.float64) * free.sum()) if len(pc) else 0.0

    def rank(self, strategy: str, target: str, anchor: int | None, proba: np.ndarray | None,
             cand: np.ndarray, k: int, random_share: float,
             answered: int = 0) -> list[tuple[int, str]]:
        """Up to k (row, strategy that picked it), best first. `random_share`: the
        sampler's, for entropy and maxprob; `answered`: the answers so far (the cold
        start alternates its medoids with uniform picks by it)."""
        f = self.features
        if strategy == "similar" and anchor is not None:
            if self._similarity is None or self._similarity[0] != anchor:
                self._similarity = (anchor, f.dot(f.rows([anchor])[0]))
            return [(int(i), "similar") for i in S.similar(self._similarity[1], k, cand)]
        if self.side is not None:                                      # side inputs
            picked = side_model.choose(self.side, strategy, target, proba, cand, k, self._rng,
                                       random_share)
            if picked is not None:
                return picked
        cold = self.cold_sample() if proba is None and strategy != "random" else None
        idx, tags = S.choose(strategy, k, cand, self._rng, proba=proba, target=target,
                             random_share=random_share, cold=cold, answered=answered)
        return [(int(i), t) for i, t in zip(idx, tags)]

    def cold_sample(self) -> S.ColdSample:
        """The cold start's sample and medoids (read once, on the first ranking without
        a model)."""
        if self._cold is None:
            self._cold = cold_sample(self.features.n, self.features.rows, self._seed)
        return self._cold


def cold_sample(n: int, rows_of, seed: int) -> S.ColdSample:
    """The medoids of the COLD_CLUSTERS k-means clusters of a seeded random sample of
    COLD_SAMPLE rows of a pool of n, as pool rows, the most distinct clusters first
    (strategies.distinct_first), and the clusters' sizes. `rows_of(rows)`
    reads vectors. One function for the sampler and bench/active_learning.py, so the
    benchmark measures the cold start users get."""
    rng = np.random.default_rng(seed)
    k = min(n, COLD_SAMPLE)
    rows = np.sort(rng.choice(n, k, replace=False)) if k else np.zeros(0, np.int64)
    X = rows_of(rows)
    medoids, cluster = S.cluster_medoids(X, COLD_CLUSTERS, rng)
    order = S.distinct_first(X, medoids, cluster)
    sizes = np.bincount(cluster, minlength=len(medoids))
    return S.ColdSample(rows[medoids[order]], sizes[order])


class NearPositives:
    """The nearest rows (cosine) to each of a few positives, among every row sampled since
    it was found: each sample read for scoring also refines the neighbour lists, at the cost
    of a product with a few columns, so above FULL_SCAN_MAX the surroundings of a positive
    are scored after each fit without a pass over the pool. The lists converge to the true
    neighbours as samples cover the pool."""

    def __init__(self, features, k: int = NEIGHBOURS):
        self.features, self.k = features, k
        self._anchors: list[int] = []
        self._vectors = np.zeros((0, features.dim), np.float32)
        self._best: dict[int, tuple[np.ndarray, np.ndarray]] = {}   # anchor: (rows, sims)

    def anchor(self, rows: list[int]) -> None:
        """Track these anchors (an undone positive drops out; a new one starts empty)."""
        if rows == self._anchors:
            return
        self._best = {a: self._best.get(a, (np.zeros(0, np.int64), np.zeros(0, np.float32)))
                      for a in rows}
        self._anchors = list(rows)
        self._vectors = self.features.rows(rows) if rows else np.zeros((0, self.features.dim), np.float32)

    def update(self, rows: np.ndarray, X: np.ndarray) -> None:
        """Merge the best of `rows` (vectors X) into each anchor's list."""
        if not self._anchors:
            return
        sims = X @ self._vectors.T
        k = min(self.k, len(rows))
        top = np.argpartition(-sims, k - 1, axis=0)[:k] if k < len(rows) else \
            np.broadcast_to(np.arange(len(rows))[:, None], sims.shape)
        for j, a in enumerate(self._anchors):
            old_rows, old_sims = self._best[a]
            r = np.r_[old_rows, rows[top[:, j]]]
            v = np.r_[old_sims, sims[top[:, j], j]]
            r, first = np.unique(r, return_index=True)        # a row sampled twice: once
            v = v[first]
            keep = np.argsort(-v, kind="stable")[:self.k]
            self._best[a] = (r[keep], v[keep])

    def rows(self) -> np.ndarray:
        """Every anchor's neighbours found so far, sorted, without repeats."""
        if not self._best:
            return np.zeros(0, np.int64)
        return np.unique(np.concatenate([r for r, _ in self._best.values()]))
