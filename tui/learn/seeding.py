"""Examples and words to start from: their nearest neighbours, mixed into the strategy's picks.

Why a mix and not a strategy of its own: N used to switch the strategy to 'similar'
until M was pressed, so a person who pressed N saw nothing but near-duplicates of one
item, which teach the classifier little (one region of the pool, mostly one answer)
and keep the strategy's own search, and its honest random share, away. Here a query
(an item of the file, known positives given with `--seed`, a new image, or words
embedded by a text tower) puts its cosine-nearest items into the queue, **alternating
one for one** with the strategy's picks, for **NEIGHBOUR_PICKS (20) neighbours**:

- one for one, so that every other item still comes from the strategy (or the cold
  start, before a model exists): the answers to the neighbours give the classifier the
  positives it lacks, and the strategy's picks keep it learning where the query does
  not look;
- 20, because after 20 answers around a query the classifier has examples of both
  kinds to work from (maxprob then finds the query's kind better than a fixed vector
  can), and a query that turned out badly (all its neighbours negative) costs at most
  20 answers. N again (on another item) or a new query starts a new mix.

Item seeds (items of the file named by `--seed`) come before anything else, each shown
like any item: an answer is only what the person's key records, with the strategy
'seed'. Neighbours are recorded with the query's tag ('similar' for items and images,
'words' for text), so the labels file tells which answers the queries brought.

No lock here: the sampler calls `start` and `handed` under its lock, and `mix` from its
background thread only (where the one pass over the pool per query is made and kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NEIGHBOUR_PICKS = 20      # neighbours mixed in per query, one for one with the strategy's picks
SEED = "seed"             # the strategy recorded for an item seed shown first
NEIGHBOUR_TAGS = ("similar", "words")


@dataclass(frozen=True)
class Query:
    """What to start from. ``rows``: items of the file whose neighbours are wanted (read
    from the file); ``vectors``: query vectors of things not in the file (new images,
    words), unit length; ``first``: items shown before any other pick (item seeds);
    ``what``: how the panel names it; ``tag``: the strategy recorded for its neighbours."""

    what: str
    rows: tuple[int, ...] = ()
    vectors: np.ndarray | None = field(default=None, compare=False)
    first: tuple[int, ...] = ()
    tag: str = "similar"


@dataclass
class _Plan:
    query: Query
    gen: int
    left: int                         # neighbours still to hand out
    first: list[int]                  # item seeds not handed out yet
    last_was_neighbour: bool = False  # the latest pick handed out was a neighbour


class SeedMix:
    """The running query, if any: which neighbours to mix in, and how many are left."""

    def __init__(self, features, picks: int = NEIGHBOUR_PICKS):
        self.features = features
        self.picks = picks
        self.gen = 0
        self._plan: _Plan | None = None
        self._ranked: tuple[int, int, np.ndarray] | None = None   # (gen, k, rows in order)

    def start(self, query: Query) -> None:
        """Replace the running query (the sampler checked it)."""
        self.gen += 1
        self._plan = _Plan(query, self.gen, self.picks, list(query.first))

    def handed(self, row: int, tag: str) -> None:
        """The sampler handed out this pick (next()): count it."""
        p = self._plan
        if p is None:
            return
        if tag == SEED and row in p.first:
            p.first.remove(row)
        elif tag == p.query.tag:
            p.left -= 1
        p.last_was_neighbour = tag == p.query.tag
        if p.left <= 0 and not p.first:
            self._plan = None

    def snapshot(self, answered: np.ndarray):
        """The plan as it is now, for one ranking (taken under the sampler's lock). Item
        seeds answered meanwhile (before this run, by a teammate) are no longer owed."""
        p = self._plan
        if p is None:
            return None
        p.first = [r for r in p.first if not answered[r]]
        if p.left <= 0 and not p.first:
            self._plan = None
            return None
        return _Plan(p.query, p.gen, p.left, list(p.first), p.last_was_neighbour)

    def describe(self) -> dict | None:
        """For stats() and the panel: what is mixed in and how much is left."""
        p = self._plan
        if p is None:
            return None
        return {"what": p.query.what, "left": p.left, "first": len(p.first), "tag": p.query.tag}

    # ---- the background thread ---------------------------------------------------------------

    def mix(self, plan, picks: list, cand: np.ndarray, ahead: list) -> list[tuple[int, str]]:
        """The queue: `ahead` (picks kept from the last queue), then the item seeds, then
        neighbours and `picks` (the strategy's) one for one while neighbours are owed."""
        out = list(ahead)
        used = {i for i, _ in out}
        if plan is None:
            return out + [(i, s) for i, s in picks if i not in used]
        tag = plan.query.tag
        need = plan.left - sum(1 for _, s in ahead if s == tag)
        neighbour_next = not plan.last_was_neighbour
        for _, s in ahead:
            neighbour_next = s != tag
        for r in plan.first:
            if r not in used and cand[r]:
                out.append((r, SEED))
                used.add(r)
                neighbour_next = True
        near = iter(self.neighbours(plan, cand, need + len(used)))
        rest = iter(picks)
        while True:
            if neighbour_next and need > 0:
                r = next((r for r in near if r not in used), None)
                if r is None:
                    need = 0
                else:
                    out.append((r, tag))
                    used.add(r)
                    need -= 1
                neighbour_next = False
                continue
            p = next((p for p in rest if p[0] not in used), None)
            if p is None:
                if need > 0:
                    neighbour_next = True        # the strategy has nothing left: neighbours only
                    continue
                return out
            out.append(p)
            used.add(p[0])
            neighbour_next = True

    def neighbours(self, plan, cand: np.ndarray, need: int) -> list[int]:
        """Candidate rows nearest the query (cosine), best first; several query vectors take
        turns (each one's 1st, then each one's 2nd...), so every seed gets its neighbours."""
        k = max(4 * self.picks + len(plan.first) + 64, need)
        n = self.features.n
        while True:
            rows = self._top(plan, min(k, n))
            ok = [int(r) for r in rows if cand[r]]
            if len(ok) >= need or k >= n:
                return ok
            k *= 4

    def _top(self, plan, k: int) -> np.ndarray:
        if self._ranked is not None and self._ranked[0] == plan.gen and self._ranked[1] >= k:
            return self._ranked[2]
        Q = query_vectors(self.features, plan.query)
        top = top_cosine(self.features, Q, k)
        order = top.reshape(-1)                       # rank by rank, query by query
        _, first = np.unique(order, return_index=True)
        rows = order[np.sort(first)]
        self._ranked = (plan.gen, k, rows)
        return rows


def query_vectors(features, query: Query) -> np.ndarray:
    """float32 [q, D], unit rows: the query's items read from the file, then its vectors."""
    parts = []
    if query.rows:
        parts.append(features.rows(list(query.rows)))
    if query.vectors is not None and len(query.vectors):
        parts.append(np.asarray(query.vectors, np.float32).reshape(-1, features.dim))
    Q = np.concatenate(parts) if parts else np.zeros((0, features.dim), np.float32)
    norms = np.linalg.norm(Q, axis=1, keepdims=True)
    return Q / np.maximum(norms, 1e-12)


def checked(query: Query, features) -> Query:
    """The query with its vectors as float32 [q, D] unit rows; ValueError saying what is
    wrong (rows outside the file, vectors of another dimension, zero or not finite)."""
    rows = [int(i) for i in (*query.rows, *query.first)]
    if any(not 0 <= i < features.n for i in rows):
        raise ValueError(f"query rows must be rows of {features.filename}, got {rows}")
    if query.vectors is None:
        if not rows:
            raise ValueError("a query needs items of the file or vectors")
        return query
    v = np.asarray(query.vectors, np.float32)
    v = v.reshape(1, -1) if v.ndim == 1 else v
    if v.ndim != 2 or v.shape[1] != features.dim:
        raise ValueError(f"query vectors must have {features.dim} columns (the features "
                         f"file's dimension), got shape {tuple(np.shape(query.vectors))}")
    if not np.isfinite(v).all() or (np.linalg.norm(v, axis=1) == 0).any():
        raise ValueError("query vectors must be finite and not zero")
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return Query(query.what, query.rows, v, query.first, query.tag)


def top_cosine(features, Q: np.ndarray, k: int) -> np.ndarray:
    """[k, q] rows of the file with the highest cosine to each query vector, best first
    (ties: lower row first). One pass over the pool in float64 (the float16 rows are exact
    in it), so the order is the cosine order itself, not float32 rounding's."""
    Q64 = np.asarray(Q, np.float64)
    q = len(Q64)
    best_s = np.full((0, q), -np.inf)
    best_r = np.zeros((0, q), np.int64)
    for a, block in features.iter_chunks():
        s = block.astype(np.float64) @ Q64.T
        r = np.broadcast_to(np.arange(a, a + len(block))[:, None], s.shape)
        best_s, best_r = np.r_[best_s, s], np.r_[best_r, r]
        if len(best_s) > k:
            keep = np.argpartition(-best_s, k - 1, axis=0)[:k]
            best_s = np.take_along_axis(best_s, keep, 0)
            best_r = np.take_along_axis(best_r, keep, 0)
    order = np.lexsort((best_r, -best_s), axis=0)
    return np.take_along_axis(best_r, order, 0)[:k]
