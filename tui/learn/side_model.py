"""The classifier with side inputs (tui.learn.side_inputs), its scoring and its picks.

The model, for an item with image vector x, prior p and claimed label c:

    logit P(pos) = x.w + b  +  x.v_c + b_c  +  a * logit(p)

- x.w + b: the shared image term, as without side inputs;
- x.v_c + b_c: the label's own term (`--condition`). An offset b_c alone says "claims
  of label c are wrong this often"; it cannot say "this image looks like a sandal, so
  the claim 'sneaker' is wrong". v_c can, and the shared w pools what the labels have
  in common, so a label with few answers leans on it (one fit on the features
  [x, x*1{c=k} for each k, 1{c=k}]: the hierarchical model of Daume's "frustratingly
  easy" domain adaptation, the shared block regularised more, see DEFAULT_SHAPE).
  bench/condition.py measures it against the image alone, the offset alone and
  separate models per label;
- a * logit(p): the prior (`--prior`), its column scaled up by PRIOR_SCALE so that its
  one coefficient is regularised less than an image direction: with 20 answers the
  model already trusts the detector as much as the answers say (bench/prior.py).

One scikit-learn fit (tui.learn.trainer.Fitter, the same solver, class weights and
warm start) on those columns; the condition's block is sparse (each row fills its own
label's block), so 80 labels x 1,280 dims cost what 2 x 1,280 do.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from tui.learn import strategies as S
from tui.learn.side_inputs import SideInputs
from tui.learn.trainer import DEFAULT_C, Fitter, LinearModel, sigmoid

#: Scale of the prior's column against an image dimension (see the module doc): its
#: coefficient's penalty is 1/PRIOR_SCALE^2 of an image direction's. bench/prior.py,
#: 4 tasks x 2 seeds, mean test AP after 10 / 20 / 50 / 100 answers, maxprob: scale 1
#: 0.449 / 0.482 / 0.598 / 0.632, 3: 0.486 / 0.518 / 0.585 / 0.636, 10: 0.517 / 0.551 /
#: 0.643 / 0.651 (entropy alike; positives found equal); 30 in docs/benchmarks.md.
PRIOR_SCALE = 10.0
#: The condition model's shape: scales of the shared image block, the per-label image
#: blocks and the per-label offsets (0 leaves a block out). bench/condition.py compares
#: "image" (1, 0, 0), "offset" (1, 0, 1), "per-label" (0, 1, 1), "shared+per-label" (1, 1, 1)
#: and "weak-shared+per-label" (0.3, 1, 1): the shared term regularised 11x more.
SHAPES = {"image": (1.0, 0.0, 0.0), "offset": (1.0, 0.0, 1.0),
          "per-label": (0.0, 1.0, 1.0), "shared+per-label": (1.0, 1.0, 1.0),
          "weak-shared+per-label": (0.3, 1.0, 1.0)}
#: bench/condition.py, 3 seeds, test AP after 300 answers (entropy / maxprob): image alone
#: 0.360 / 0.344, offset 0.367 / -, per-label 0.603 / 0.498, shared+per-label 0.518 /
#: 0.481, weak-shared+per-label 0.565 / 0.515. The weak shared term keeps nearly all of
#: per-label's gain and is the pooled fallback per-label lacks: a label with few answers,
#: or none (a missing value, a label unseen in training, in predict) gets the shared term.
DEFAULT_SHAPE = "weak-shared+per-label"


@dataclass(frozen=True)
class SideModel(LinearModel):
    """A LinearModel (w, b: the shared image term) plus the side inputs' terms. Its
    `proba` needs the rows, since the side terms are per row."""
    prior_coef: float = 0.0
    offsets: np.ndarray | None = None      # [K] per-label intercepts b_c
    V: np.ndarray | None = None            # [K, D] per-label image weights v_c
    side: SideInputs | None = None         # the columns of the pool it was fit on
    shape: str = DEFAULT_SHAPE

    def proba(self, X: np.ndarray, rows=None) -> np.ndarray:
        if rows is None:
            raise TypeError("SideModel.proba(X, rows): the side inputs are per row; pass the rows")
        return sigmoid(logits(self, X=np.asarray(X, np.float32), rows=np.asarray(rows)))

    def side_spec(self) -> dict:
        """The side inputs as the model file keeps them (tui.export.model_file)."""
        s = self.side
        out: dict = {}
        if s is not None and s.prior is not None:
            out["prior"] = {**s.prior.spec(), "coef": float(self.prior_coef)}
        if s is not None and s.condition is not None:
            out["condition"] = {**s.condition.spec(), "shape": self.shape}
        return out


class SideFitter:
    """Fits a SideModel on the answered rows: the sampler's Fitter on augmented columns."""

    def __init__(self, side: SideInputs, dim: int, C: float = DEFAULT_C,
                 prior_scale: float = PRIOR_SCALE, shape: str = DEFAULT_SHAPE):
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
        self.side, self.dim, self.C = side, dim, C
        self.prior_scale, self.shape = prior_scale, shape
        self.fitter = Fitter(dim, C)          # scales every column by sqrt(dim)

    def prepare(self) -> None:
        self.fitter.prepare()

    def design(self, X: np.ndarray, rows: np.ndarray):
        """The columns of the fit (pre-divided by sqrt(dim), which Fitter multiplies back)."""
        X = np.asarray(X, np.float32)
        rows = np.asarray(rows, np.int64)
        cols, cond = [], self.side.condition
        sw, sv, so = SHAPES[self.shape] if cond is not None else (1.0, 0.0, 0.0)
        if sw:
            cols.append(X * np.float32(sw))
        r = np.float32(1 / math.sqrt(self.dim))
        if cond is not None and (sv or so):
            import scipy.sparse as sp
            K, n, D = len(cond.values), len(rows), self.dim
            c = cond.codes[rows]
            has = np.flatnonzero(c >= 0)
            if sv:
                data = (X[has] * np.float32(sv)).ravel()
                ind = (c[has, None] * D + np.arange(D)[None, :]).ravel()
                ptr = np.zeros(n + 1, np.int64)
                ptr[has + 1] = D
                cols.append(sp.csr_matrix((data, ind, np.cumsum(ptr)), shape=(n, K * D)))
            if so:
                cols.append(sp.csr_matrix((np.full(len(has), so * r, np.float32), (has, c[has])),
                                          shape=(n, K)))
        if self.side.prior is not None:
            cols.append((self.side.prior.z[rows] * np.float32(self.prior_scale) * r)[:, None])
        if any(not isinstance(a, np.ndarray) for a in cols):
            import scipy.sparse as sp
            return sp.hstack([sp.csr_matrix(a) if isinstance(a, np.ndarray) else a
                              for a in cols], format="csr", dtype=np.float32)
        return np.hstack(cols)

    def fit(self, X: np.ndarray, y: np.ndarray, version: int, rows) -> SideModel:
        rows = np.asarray(rows, np.int64)
        m = self.fitter.fit(self.design(X, rows), y, version)
        w_all, D, at = m.w, self.dim, 0
        cond = self.side.condition
        sw, sv, so = SHAPES[self.shape] if cond is not None else (1.0, 0.0, 0.0)
        w = np.zeros(D, np.float32)
        if sw:
            w, at = w_all[:D] * np.float32(sw), D
        V = offsets = None
        if cond is not None:
            K = len(cond.values)
            if sv:
                V, at = (w_all[at:at + K * D] * np.float32(sv)).reshape(K, D), at + K * D
            if so:
                offsets, at = (w_all[at:at + K] * np.float32(so / math.sqrt(D))), at + K
        a = 0.0
        if self.side.prior is not None:
            a, at = float(w_all[at]) * self.prior_scale / math.sqrt(D), at + 1
        return SideModel(m.version, w, m.b, m.n_pos, m.n_neg, m.C, m.fit_seconds,
                         prior_coef=a, offsets=offsets, V=V, side=self.side, shape=self.shape)


# ---- scoring ---------------------------------------------------------------------------

def held_out(side: SideInputs, X: np.ndarray, y: np.ndarray, rows: np.ndarray,
             C: float = DEFAULT_C):
    """`fit(train, test)` for trainer.cross_val_proba and the export's held-out figures:
    P(pos) of the rows `test` of (X, y) (pool rows `rows`) from a SideModel fit on the
    rows `train`. Why: a threshold or an estimate for a model trained with side inputs
    must be judged with them; the image alone is another, weaker model."""
    rows = np.asarray(rows, np.int64)

    def fit(train, test):
        m = SideFitter(side, X.shape[1], C).fit(X[train], y[train], 0, rows=rows[train])
        return m.proba(X[test], rows=rows[test])
    return fit


def logits(model: SideModel, features=None, rows=None, X=None) -> np.ndarray:
    """x.w + b + side terms, for every row of `features` (rows None: one pass over the
    file) or for `rows` with their vectors X (float32)."""
    s = model.side
    cond = s.condition if s is not None else None
    if rows is None:
        if model.V is None:
            z = features.dot(model.w, model.b)
        else:                         # per-label weights: one float32 pass, by label
            z = np.empty(features.n, np.float32)
            for a, block in features.iter_chunks():
                z[a:a + len(block)] = _image_term(model, block, cond.codes[a:a + len(block)])
        rows = slice(None)
    else:
        rows = np.asarray(rows, np.int64)
        z = _image_term(model, X, cond.codes[rows] if cond is not None else None)
    if model.offsets is not None:
        c = cond.codes[rows]
        z += np.where(c >= 0, model.offsets[np.maximum(c, 0)], np.float32(0))
    if s is not None and s.prior is not None:
        z += np.float32(model.prior_coef) * s.prior.z[rows]
    return z


#: Up to this many labels the per-label term is one matrix product with every label's
#: weights (12,000 x 1,280, 10 labels: 0.07 s, against 0.24-0.29 s label by label, which copies
#: each label's rows); above it, label by label (a product with K columns costs K times).
GEMM_LABELS = 32


def _image_term(model, X, codes) -> np.ndarray:
    z = X @ model.w + np.float32(model.b)
    if model.V is None:
        return z
    has = codes >= 0
    if len(model.V) <= GEMM_LABELS:
        per = X @ model.V.T                                        # [n, K]
        z += np.where(has, per[np.arange(len(X)), np.maximum(codes, 0)], np.float32(0))
    else:
        for k in np.unique(codes[has]):
            m = codes == k
            z[m] += X[m] @ model.V[k]
    return z


# ---- picks -----------------------------------------------------------------------------

def choose(side: SideInputs, strategy: str, target: str, proba: np.ndarray | None,
           cand: np.ndarray, k: int, rng: np.random.Generator,
           random_share: float) -> list[tuple[int, str]] | None:
    """The picks where side inputs change them, else None (the usual ranking applies):
    - no model yet, a prior: maxprob takes the highest p first (the lowest for target
      neg), entropy the p nearest 0.5: a probability's most uncertain value, and the
      median of a rank-transformed column. Not the median of a probability column:
      at 10% positives it lies deep among the negatives (the bench/prior.py detector,
      4 tasks x 3 seeds: median 0.02-0.17; positives among the 20 items nearest it
      0.8 on average, nearest 0.5: 9.5), so the cold start would never end; tagged
      "prior";
    - a model and a condition: entropy or maxprob ranked within each label, the next
      pick from the label that has had the fewest items so far (balanced_top_k), so no
      label is left unchecked.
    Both mix in `random_share` uniform picks, as the usual strategies do."""
    if strategy not in ("entropy", "maxprob"):
        return None
    if proba is None:
        if side.prior is None:
            return None           # the usual cold start (a condition alone changes nothing)
        p, tag = side.prior.p, "prior"
    else:
        if side.condition is None:
            return None
        p, tag = proba, strategy
    p = np.asarray(p, np.float32)
    if strategy == "entropy":
        score = -np.abs(p - np.float32(0.5))
    else:
        score = p if target == "pos" else np.float32(1) - p
    score = np.where(np.isnan(score), -np.inf, score)
    if side.condition is not None:
        ranked = balanced_top_k(score, k, cand, side.condition.groups())
    else:
        ranked = S.top_k(score, k, cand)
    idx, is_rand = S.mix_random(ranked, random_share, rng, len(cand), cand)
    return [(int(i), "random" if r else tag) for i, r in zip(idx, is_rand)]


def balanced_top_k(score: np.ndarray, k: int, cand: np.ndarray,
                   groups: list[np.ndarray]) -> np.ndarray:
    """Up to k rows, each the best candidate of the label with the fewest items taken so
    far (answered, leased or picked before it in this list; ties: the better score).

    Why counts and not turns: the sampler re-ranks after every answer and shows the head
    of the list, so a list that only interleaves labels (every label's best, in score
    order) always starts with the global best, and the picks were the unbalanced ones
    exactly (bench/condition.py, seeds 0 and 1: identical runs). Counting what each
    label has had makes the head itself rotate across the labels."""
    tops, heap = [], []
    for g in groups:
        t = S.top_k(score[g], k, cand[g])
        if len(t):
            j = len(tops)
            tops.append(g[t])
            taken = len(g) - int(np.count_nonzero(cand[g]))
            heapq.heappush(heap, (taken, -float(score[g[t[0]]]), j, 0))
    out: list[int] = []
    while heap and len(out) < k:
        taken, _, j, at = heapq.heappop(heap)
        out.append(int(tops[j][at]))
        if at + 1 < len(tops[j]):
            heapq.heappush(heap, (taken + 1, -float(score[tops[j][at + 1]]), j, at + 1))
    return np.asarray(out, np.int64)
