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

#: The cold start (no model yet: both classes not seen) shows the medoids of the
#: COLD_MEDOIDS most distinct k-means clusters of the pool (`distinct_first`), each
#: followed by a uniform pick, then uniform picks alone. Why: a rare class with a cluster
#: of its own has a small one lying apart, and its medoid comes within a few answers; a
#: rare class hidden among others is no likelier in a medoid (the most typical member of
#: its cluster) than in a uniform pick, often less. So the medoids are few and alternate
#: with uniform picks from the first answer: where they miss, the first positive comes
#: min(k, COLD_MEDOIDS) answers after random's k-th pick found it, on any pool (exactly
#: so in bench/first_positive.py, the uniform picks being random's own draws).
#: Median answers to the first positive over 12 seeds, random / this / the cold start
#: before issue 16 (all 64 medoids, then half k-means++ half uniform): 1% Fashion-MNIST
#: bag 78 / 1 / 22, trouser 97 / 9 / 20, ELPV at 1.5% defective 46 / 4 / 14, 1% digit 0
#: 64 / 7 / 22; without a cluster of its own 7 or 8 answers later than random (coat
#: 50 / 58 / 94, shirt 106 / 113 / 120, digit 5 67 / 74 / 170), and ankle boots, whose
#: cluster is not among the 8 most distinct, 56 / 64 / 41. Mean over the ten 1%
#: Fashion-MNIST tasks of the per-task medians for 4 / 8 / 12 / 16 medoids: 51 / 48 /
#: 48 / 49 (random 68); digits 49 / 47 / 49 / 50 (random 69); from the medoids' labels.
COLD_MEDOIDS = 8


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


def kmeans_pp(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k rows of X chosen by k-means++ seeding (D^2 sampling): each pick is drawn with
    probability proportional to its squared distance to the nearest one already picked,
    so the k-means that starts from them covers the small clusters too."""
    n = len(X)
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    X = np.asarray(X, np.float32)
    sq = np.einsum("ij,ij->i", X, X)
    d2 = np.full(n, np.inf, dtype=np.float64)
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


def cluster_medoids(X: np.ndarray, k: int, rng: np.random.Generator,
                    iters: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(rows of X nearest the centroids of a k-means, one per non-empty cluster; the
    cluster of each row of X, as a position in the first). A small but distinct group (a
    rare class) gets a centroid of its own, and its medoid is a typical member rather
    than an outlier."""
    k = min(int(k), len(X))
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(len(X), dtype=np.int64)
    assign, d = kmeans(X, k, rng, iters)
    kept = [j for j in range(k) if (assign == j).any()]
    medoids = [np.flatnonzero(assign == j)[np.argmin(d[assign == j, j])] for j in kept]
    position = np.zeros(k, np.int64)
    position[kept] = np.arange(len(kept))
    return np.asarray(medoids, dtype=np.int64), position[assign]


def distinct_first(X: np.ndarray, medoids: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Order of the `medoids` (rows of X; `cluster`: each row's, as a position in medoids)
    from the most likely to be a rare class's own cluster: the squared distance to the
    nearest other medoid over the cluster's spread (its members' mean squared distance
    to the medoid) and size, highest first; clusters of one item (outliers) last. A rare
    class that k-means gave a cluster of its own has a small one, and kept it by lying
    apart. A positive was among the first 8 medoids in 34% of the 1% Fashion-MNIST
    task-seeds (10 tasks x 12 seeds), 30% of the 1% digits' and 79% of 24 ELPV seeds at
    1.5% defective; smallest cluster first: 23%, 27%, 92%; the nearest other medoid's
    distance alone: 31%, 28%, 79%. The spread also puts first a tight group of
    near-duplicates that is no smaller than the clusters around it."""
    X = np.asarray(X, np.float32)
    M = X[medoids]
    sizes = np.bincount(cluster, minlength=len(M))
    if len(M) < 2:
        return np.arange(len(M))
    sq = np.einsum("ij,ij->i", X, X)
    to_medoid = np.maximum(sq - 2 * np.einsum("ij,ij->i", X, M[cluster]) + sq[medoids][cluster], 0)
    spread = np.bincount(cluster, weights=to_medoid, minlength=len(M)) / np.maximum(sizes, 1)
    between = sq[medoids][:, None] - 2 * M @ M.T + sq[medoids][None, :]
    np.fill_diagonal(between, np.inf)
    score = between.min(axis=1) / (np.maximum(sizes, 1) * np.maximum(spread, 1e-12))
    score[sizes < 2] = -np.inf
    return np.argsort(-score, kind="stable")


def mix_random(ranked: np.ndarray, share: float, rng: np.random.Generator, n: int,
               candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each slot of a ranked list of k becomes a uniform random candidate (not ranked)
    with probability `share`, the ranked picks moving down in their order (the
    last fall off); returns (indices, is_random). Random picks keep the live estimates
    honest and find what the model never suggests."""
    ranked = np.asarray(ranked, np.int64)
    is_rand = rng.random(len(ranked)) < share if share > 0 else np.zeros(len(ranked), bool)
    n_rand = int(is_rand.sum())
    if not n_rand:
        return ranked, is_rand
    cand = np.ones(n, bool) if candidates is None else candidates.copy()
    cand[ranked] = False
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
    """What the cold start shows first: `medoids`, the pool rows of the medoids of a
    k-means of a random sample of the pool, in `distinct_first` order, and `sizes`, the
    members of each one's cluster in the sample. Made once per pool by
    tui.learn.ranking.cold_sample."""
    medoids: np.ndarray
    sizes: np.ndarray


def choose(strategy: str, k: int, candidates: np.ndarray, rng: np.random.Generator, *,
           proba: np.ndarray | None = None, target: str = "pos", random_share: float = 0.0,
           cold: ColdSample | None = None, answered: int = 0) -> tuple[np.ndarray, list[str]]:
    """The sampler's whole choice for entropy | maxprob | random: (rows, strategy of each).

    Without a model (`proba` None: both classes not yet seen) the choice is the cold
    start: the first COLD_MEDOIDS medoids of `cold` (the most distinct clusters), in
    order, each followed by a uniform random candidate, then uniform candidates alone.
    `answered`: the answers so far, so that a queue ranked again after each answer goes
    on alternating (a medoid is next while no more of them than other items were
    answered). Shared by tui.learn.ranking and bench/active_learning.py."""
    n = len(candidates)
    if strategy == "random":
        return random(n, k, rng, candidates), ["random"] * min(k, int(candidates.sum()))
    if proba is None:
        med = np.zeros(0, np.int64) if cold is None else cold.medoids[:COLD_MEDOIDS]
        left = med[candidates[med]]
        shown = len(med) - len(left)
        others = answered - shown
        is_med = []
        for _ in range(k):                 # k is a queue's length: a loop is clearer than masks
            is_med.append(len(left) > sum(is_med) and shown <= others)
            shown, others = shown + is_med[-1], others + (not is_med[-1])
        first = left[:sum(is_med)]
        cand = candidates.copy()
        cand[first] = False
        rest = random(n, k - len(first), rng, cand) if k > len(first) else np.zeros(0, np.int64)
        picks, tags = [], []
        medoids, uniform = iter(first.tolist()), iter(rest.tolist())
        for m in is_med:
            i = next(medoids if m else uniform, None)
            if i is not None:
                picks.append(i)
                tags.append("coldstart" if m else "random")
        return np.asarray(picks, np.int64), tags
    ranked = entropy(proba, k, candidates) if strategy == "entropy" else \
        maxprob(proba, k, candidates, target)
    idx, is_rand = mix_random(ranked, random_share, rng, n, candidates)
    return idx, ["random" if r else strategy for r in is_rand]
