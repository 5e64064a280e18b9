"""Query strategies: small pure functions from scores (or vectors) to row indices, modAL style.

Each takes a candidate mask (True where an item may be shown: featurized, not
answered, not leased by a teammate) and returns at most k indices, best first.
Top-k uses `np.argpartition` (linear time) and sorts only the k picked, so a
pool of millions costs one pass. Easy to read, to test on hand-made pools, and
to benchmark apart from the sampler's plumbing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRATEGIES = ("entropy", "maxprob", "random", "similar")

#: Share of uniform random picks in the cold start once the cluster medoids are shown.
#: k-means++ (D^2) seeding favours outliers, so a rare class inside a dense region is
#: found later than by luck (1% Fashion-MNIST sneakers: 541 answers, against 93 for
#: random). Half the picks at random bound the wait past the medoids to about twice
#: random's, whatever the geometry, and keep half of the diversity's gain where it helps.
#: The medoids themselves (typical members of distinct clusters) come first, unmixed:
#: they find a rare class with a cluster of its own within a few answers. Answers to the
#: first positive at 1%, 10 tasks x 5 seeds: median 33 / mean 80 / worst 541 with
#: k-means++ alone, 33 / 59 / 250 with this (bench/active_learning.py, README).
COLD_RANDOM_SHARE = 0.5


def top_k(score: np.ndarray, k: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k highest scores among candidates, highest first (ties: lower index)."""
    score = np.asarray(score, dtype=np.float32)
    if candidates is not None:
        score = np.where(candidates, score, -np.inf)
        n_ok = int(np.count_nonzero(candidates))
    else:
        n_ok = len(score)
    k = min(int(k), n_ok)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(score):
        part = np.argpartition(-score, k - 1)[:k]
    else:
        part = np.arange(len(score))
    order = np.lexsort((part, -score[part]))
    return part[order].astype(np.int64)


def entropy(proba: np.ndarray, k: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """The most uncertain items: probability closest to 0.5 (maximum binary entropy)."""
    return top_k(-np.abs(np.asarray(proba, np.float32) - np.float32(0.5)), k, candidates)


def maxprob(proba: np.ndarray, k: int, candidates: np.ndarray | None = None,
            target: str = "pos") -> np.ndarray:
    """The items most likely of the target class (`proba` is P(pos); target 'neg' flips it)."""
    p = np.asarray(proba, np.float32)
    return top_k(p if target == "pos" else np.float32(1) - p, k, candidates)


def random(n: int, k: int, rng: np.random.Generator,
           candidates: np.ndarray | None = None) -> np.ndarray:
    """k distinct candidates drawn uniformly. Rejection sampling when candidates are
    plentiful (no pass over a pool of millions), an exact draw otherwise."""
    if candidates is None:
        return rng.choice(n, size=min(k, n), replace=False).astype(np.int64)
    picked: list[int] = []
    seen: set[int] = set()
    for _ in range(8 * k + 16):
        i = int(rng.integers(n)) if n else 0
        if n and candidates[i] and i not in seen:
            seen.add(i)
            picked.append(i)
            if len(picked) == k:
                return np.asarray(picked, dtype=np.int64)
    pool = np.flatnonzero(candidates)
    pool = pool[~np.isin(pool, picked)]
    extra = rng.choice(pool, size=min(k - len(picked), len(pool)), replace=False)
    return np.concatenate([np.asarray(picked, np.int64), extra.astype(np.int64)])


def similar(similarity: np.ndarray, k: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """Nearest neighbours: highest cosine similarity to the anchor item (rows are unit length)."""
    return top_k(similarity, k, candidates)


def kmeans_pp(X: np.ndarray, k: int, rng: np.random.Generator,
              centers: np.ndarray | None = None) -> np.ndarray:
    """k rows of X chosen by k-means++ seeding (D^2 sampling): each pick is drawn with
    probability proportional to its squared distance to the nearest item already
    picked or already answered (`centers`), so the first answers cover the pool's
    clusters, including a small one, instead of its densest region."""
    n = len(X)
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    X = np.asarray(X, np.float32)
    sq = np.einsum("ij,ij->i", X, X)
    d2 = np.full(n, np.inf, dtype=np.float64)
    if centers is not None and len(centers):
        C = np.asarray(centers, np.float32)
        for s in range(0, len(C), 1024):
            c = C[s:s + 1024]
            dist = sq[:, None] - 2 * X @ c.T + np.einsum("ij,ij->i", c, c)[None, :]
            d2 = np.minimum(d2, dist.min(axis=1))
    picked: list[int] = []
    for _ in range(k):
        w = np.where(np.isfinite(d2), np.maximum(d2, 0.0), 1.0)
        if picked:
            w[picked] = 0.0
        total = w.sum()
        if total <= 0:
            rest = np.setdiff1d(np.arange(n), picked)
            if not len(rest):
                break
            i = int(rng.choice(rest))
        else:
            i = int(rng.choice(n, p=w / total))
        picked.append(i)
        d2 = np.minimum(d2, np.maximum(sq - 2 * X @ X[i] + sq[i], 0.0))
    return np.asarray(picked, dtype=np.int64)


def kmeans(X: np.ndarray, k: int, rng: np.random.Generator,
           iters: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A k-means (k-means++ start, a few Lloyd steps): (cluster of each row, squared
    distance of each row to each centroid). k is at most len(X) and above 0."""
    X = np.asarray(X, np.float32)
    C = X[kmeans_pp(X, k, rng)]
    sq = np.einsum("ij,ij->i", X, X)

    def to_centroids() -> np.ndarray:
        return sq[:, None] - 2 * X @ C.T + np.einsum("ij,ij->i", C, C)[None, :]

    for _ in range(iters):
        assign = to_centroids().argmin(axis=1)
        for j in range(len(C)):
            members = assign == j
            if members.any():
                C[j] = X[members].mean(axis=0)
    d = to_centroids()
    return d.argmin(axis=1), d


def cluster_medoids(X: np.ndarray, k: int, rng: np.random.Generator, iters: int = 10) -> np.ndarray:
    """Rows of X nearest the centroids of a k-means, one per non-empty cluster. A small
    but distinct group (a rare class) gets a centroid of its own, and its medoid is a
    typical member rather than an outlier."""
    k = min(int(k), len(X))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    assign, d = kmeans(X, k, rng, iters)
    out = []
    for j in range(k):
        members = np.flatnonzero(assign == j)
        if len(members):
            out.append(members[np.argmin(d[members, j])])
    return np.asarray(out, dtype=np.int64)


def mix_random(ranked: np.ndarray, share: float, rng: np.random.Generator, n: int,
               candidates: np.ndarray | None = None,
               exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each slot of a ranked list of k becomes a uniform random candidate (not ranked, not
    in `exclude`) with probability `share`, the ranked picks moving down in their order (the
    last fall off); returns (indices, is_random). Random picks keep the live estimates
    honest and find what the model never suggests."""
    ranked = np.asarray(ranked, np.int64)
    is_rand = rng.random(len(ranked)) < share if share > 0 else np.zeros(len(ranked), bool)
    n_rand = int(is_rand.sum())
    if not n_rand:
        return ranked, is_rand
    cand = np.ones(n, bool) if candidates is None else candidates.copy()
    cand[ranked] = False
    if exclude is not None:
        cand[exclude] = False
    extra = iter(random(n, n_rand, rng, cand).tolist())
    rest = iter(ranked.tolist())
    out, tag = [], []
    for r in is_rand:                  # k is a queue's length: a loop is clearer than masks
        i = next(extra, None) if r else None
        tag.append(i is not None)
        i = next(rest) if i is None else i
        out.append(i)
    return np.asarray(out, np.int64), np.asarray(tag, bool)


@dataclass(frozen=True)
class ColdSample:
    """What the cold start picks from: a sample of the pool and its cluster medoids.

    `rows`: the sample's rows in the pool; `X`: their vectors (row i of X is pool row
    rows[i]); `medoids`: positions in `rows` and `X` (not pool rows) of the medoids of a
    k-means of the sample. Built once per pool by tui.learn.ranking.cold_sample."""
    rows: np.ndarray
    X: np.ndarray
    medoids: np.ndarray


def choose(strategy: str, k: int, candidates: np.ndarray, rng: np.random.Generator, *,
           proba: np.ndarray | None = None, target: str = "pos", random_share: float = 0.0,
           cold: ColdSample | None = None,
           away_from: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """The sampler's whole choice for entropy | maxprob | random: (rows, strategy of each).

    Without a model (`proba` None: both classes not yet seen) the choice is the cold
    start: the medoids of `cold` first, in k-means++ order away from the answered items'
    vectors (`away_from`), then k-means++ seeding over the whole sample, where each pick
    is a uniform random candidate instead with probability COLD_RANDOM_SHARE. Without
    `cold`, uniform picks. Shared by tui.learn.ranking and bench/active_learning.py."""
    n = len(candidates)
    if strategy == "random":
        return random(n, k, rng, candidates), ["random"] * min(k, int(candidates.sum()))
    if proba is None:
        if cold is None or not candidates[cold.rows].any():
            idx = random(n, k, rng, candidates)
        else:
            ok = candidates[cold.rows]
            med = cold.medoids[ok[cold.medoids]]
            first = med[kmeans_pp(cold.X[med], k, rng, away_from)] if len(med) else med
            rest = np.zeros(0, np.int64)
            if len(first) < k:
                ok[first] = False
                pool = np.flatnonzero(ok)
                rest = pool[kmeans_pp(cold.X[pool], k - len(first), rng, away_from)]
            first, rest = cold.rows[first], cold.rows[rest.astype(np.int64)]
            # past the medoids, half of the picks at random
            rest, is_rand = mix_random(rest, COLD_RANDOM_SHARE, rng, n, candidates, exclude=first)
            return np.r_[first, rest], ["coldstart"] * len(first) + \
                ["random" if r else "coldstart" for r in is_rand]
        return idx, ["coldstart"] * len(idx)
    ranked = entropy(proba, k, candidates) if strategy == "entropy" else \
        maxprob(proba, k, candidates, target)
    idx, is_rand = mix_random(ranked, random_share, rng, n, candidates)
    return idx, ["random" if r else strategy for r in is_rand]
