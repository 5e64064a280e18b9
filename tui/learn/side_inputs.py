"""Side inputs: a metadata column the classifier takes beside the image (issue 16).

Two kinds, each read once from every row's metadata (`items/meta`, the refs file's
extra columns):

- **prior** (`--prior COLUMN`): a number per item that already says something about
  the answer, such as a detector's `score`. It becomes a probability p in (0, 1) and
  the classifier takes logit(p) as an extra input, so the first model starts from
  what the detector knew; before a model exists the picks follow p
  (tui.learn.side_model.choose).
- **condition** (`--condition COLUMN`): a label per item, such as the class a
  multi-class model claims, when the answer depends on the image *and* that label
  ("is the label on this image correct?"). The classifier gets a shared image term
  plus one per label value (tui.learn.side_model), and the picks balance across the
  values.

Decisions, each said once in `notes` (the CLI prints them):
- A prior's missing value (no such key, null, "") or non-numeric one ("high", true,
  NaN) gets the median of the column's numeric values: a neutral guess that neither
  promotes nor buries the item.
- Prior values all within [0, 1] are taken as probabilities (clipped to
  [0.001, 0.999], logit within +-6.9). Any value outside, such as a logit, a count or a
  score out of 100, and the whole column is rank-transformed to (0, 1) instead (the
  mid-rank of each value over the column's numeric values), so only the order is
  trusted. The value -> p table is kept (at most 1,001 knots) so that `annotate
  predict` maps another file's values the same way.
- A condition's missing value gets no per-label term (the shared image term alone);
  numbers that are whole (3, 3.0, "3") name the same label "3".
- A column absent from every row is an error naming it and the columns there are.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

PRIOR_CLIP = 1e-3          # probabilities clipped to [PRIOR_CLIP, 1 - PRIOR_CLIP]
MAX_KNOTS = 1001           # value -> rank table kept for predict
MAX_LEVELS = 1000          # a condition column with more distinct values is refused
_BLOCK = 65_536


class SideInputError(ValueError):
    """A side-input column that cannot be used; the message names the file, the column,
    and a row and value where one is to blame. `columns`: the columns absent everywhere."""

    def __init__(self, message: str, columns: list[str] | None = None):
        super().__init__(message)
        self.columns = columns or []


@dataclass
class Prior:
    """A numeric column as P in (0, 1) per row, and how it was made (for the model file)."""
    column: str
    transform: str                   # "probability" or "rank"
    fill: float                      # the raw value given to missing ones (the median)
    p: np.ndarray                    # float32 [N]
    knots: np.ndarray | None = None  # rank: sorted raw values ...
    levels: np.ndarray | None = None  # ... and their mid-ranks in (0, 1)
    notes: list[str] = field(default_factory=list)

    @property
    def z(self) -> np.ndarray:
        """logit(p): the classifier's extra input."""
        return logit(self.p)

    def spec(self) -> dict:
        """What the model file keeps to redo the transform on another file."""
        d = {"column": self.column, "transform": self.transform, "fill": self.fill,
             "clip": PRIOR_CLIP}
        if self.transform == "rank":
            d["knots"] = [float(v) for v in self.knots]
            d["levels"] = [float(v) for v in self.levels]
        return d


@dataclass
class Condition:
    """A label column as an integer code per row (-1: no value) and the label names."""
    column: str
    values: list[str]                 # code -> label
    codes: np.ndarray                 # int32 [N]
    notes: list[str] = field(default_factory=list)
    _groups: list | None = None

    def groups(self) -> list[np.ndarray]:
        """Rows of each code, the rows without a value last (computed once)."""
        if self._groups is None:
            order = np.argsort(self.codes, kind="stable")
            bounds = np.searchsorted(self.codes[order], np.arange(-1, len(self.values) + 1))
            parts = [order[bounds[i]:bounds[i + 1]] for i in range(len(self.values) + 1)]
            self._groups = [g for g in parts[1:] + parts[:1] if len(g)]
        return self._groups

    def spec(self) -> dict:
        return {"column": self.column, "values": list(self.values)}


@dataclass
class SideInputs:
    """The side inputs of one features file (either may be None)."""
    prior: Prior | None = None
    condition: Condition | None = None

    @property
    def notes(self) -> list[str]:
        return [n for s in (self.prior, self.condition) if s is not None for n in s.notes]

    def names(self) -> dict:
        return {"prior": self.prior.column if self.prior else None,
                "condition": self.condition.column if self.condition else None}


def logit(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, np.float64)
    return np.log(p / (1 - p)).astype(np.float32)


# ---- reading ---------------------------------------------------------------------------

def read_side_inputs(features, prior: str | None = None,
                     condition: str | None = None) -> SideInputs | None:
    """The side inputs named (None when neither is); SideInputError for a bad column."""
    if prior is None and condition is None:
        return None
    names = [c for c in (prior, condition) if c is not None]
    for c in names:
        if not isinstance(c, str) or not c.strip():
            raise SideInputError(f"a side-input column is named by a non-empty string, got {c!r}")
    cols = read_columns(features, names)
    where = str(features.filename)
    return SideInputs(prior_from_values(cols[prior], prior, where) if prior else None,
                      condition_from_values(cols[condition], condition, where)
                      if condition else None)


_ABSENT = object()


def read_columns(features, names: list[str]) -> dict[str, list]:
    """{column: [value of each row, or _ABSENT]}; SideInputError naming the columns there
    are when one is absent from every row. One JSON decode per row: 100,000 rows with a
    prior and a condition took 2.2-2.9 s here on a busy 2-core machine (json.loads is
    half of it), so a pool of millions waits tens of seconds once, before the app starts."""
    out: dict[str, list] = {c: [] for c in names}
    seen: set[str] = set()
    for a in range(0, features.n, _BLOCK):
        for text in features.meta_texts(a, min(a + _BLOCK, features.n)):
            try:
                m = json.loads(text) if text else {}
            except (json.JSONDecodeError, RecursionError):
                m = {}
            if not isinstance(m, dict):
                m = {}
            if len(seen) < 200:
                seen.update(m)
            for c in names:
                out[c].append(m.get(c, _ABSENT))
    absent = [c for c in names if all(v is _ABSENT for v in out[c])]
    if absent:
        there = ", ".join(sorted(seen)[:40]) or "none (the items carry no metadata)"
        raise SideInputError(f"{features.filename}: no item has a metadata column "
                             f"{' or '.join(repr(c) for c in absent)}; the columns there are: "
                             f"{there}", absent)
    return out


def count_missing(values: list) -> int:
    """How many values are not a finite number (the prior's fill goes to them)."""
    return sum(1 for v in values if _number(v) is None)


def _number(v) -> float | None:
    """A finite number, or None (missing or not a number)."""
    if isinstance(v, bool) or v is None or v is _ABSENT:
        return None
    if isinstance(v, (int, float)):
        x = float(v)
    elif isinstance(v, str):
        try:
            x = float(v.strip())
        except ValueError:
            return None
    else:
        return None
    return x if math.isfinite(x) else None


def _missing(v) -> bool:
    return v is _ABSENT or v is None or (isinstance(v, str) and not v.strip())


def prior_from_values(values: list, column: str, where: str = "") -> Prior:
    """A Prior from one raw value per row (see the module doc for the decisions)."""
    n = len(values)
    x = np.full(n, np.nan)
    bad_row = bad_val = None
    n_bad = 0
    for i, v in enumerate(values):
        num = _number(v)
        if num is not None:
            x[i] = num
        elif not _missing(v):
            n_bad += 1
            if bad_row is None:
                bad_row, bad_val = i, v
    ok = ~np.isnan(x)
    n_missing = n - int(ok.sum()) - n_bad
    if not ok.any():
        example = f" (row {bad_row}: {bad_val!r})" if bad_row is not None else ""
        raise SideInputError(f"{where}: --prior {column}: no item has a numeric value{example}; "
                             f"a prior is a number per item, such as a detector's score")
    fill = float(np.median(x[ok]))
    notes = []
    if n_missing or n_bad:
        parts = [f"{n_missing:,} have no value" if n_missing else "",
                 f"{n_bad:,} a non-numeric one (row {bad_row}: {bad_val!r})" if n_bad else ""]
        notes.append(f"--prior {column}: of {n:,} items, " + " and ".join(p for p in parts if p)
                     + f"; they get the column's median, {fill:.4g}")
    x[~ok] = fill
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0.0 and hi <= 1.0:
        p = np.clip(x, PRIOR_CLIP, 1 - PRIOR_CLIP).astype(np.float32)
        return Prior(column, "probability", fill, p, notes=notes)
    knots, levels = rank_table(x[ok])
    notes.append(f"--prior {column}: values run from {lo:.4g} to {hi:.4g}, outside [0, 1], so "
                 f"they are not probabilities: the model uses their rank in (0, 1) instead")
    return Prior(column, "rank", fill, rank_p(x, knots, levels), knots, levels, notes)


def rank_table(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and their mid-ranks in (0, 1), at most MAX_KNOTS of them."""
    u, counts = np.unique(x, return_counts=True)
    cum = np.cumsum(counts)
    mid = (cum - counts / 2) / cum[-1]
    if len(u) > MAX_KNOTS:
        keep = np.unique(np.linspace(0, len(u) - 1, MAX_KNOTS).round().astype(int))
        u, mid = u[keep], mid[keep]
    return u.astype(np.float64), mid.astype(np.float64)


def rank_p(x: np.ndarray, knots: np.ndarray, levels: np.ndarray) -> np.ndarray:
    p = np.interp(x, knots, levels) if len(knots) > 1 else np.full(len(x), 0.5)
    return np.clip(p, PRIOR_CLIP, 1 - PRIOR_CLIP).astype(np.float32)


def prior_from_spec(values: list, spec: dict, where: str = "") -> np.ndarray:
    """p per row for another file, with the transform a model was trained with (predict)."""
    x = np.asarray([_number(v) for v in values], dtype=float)   # None -> nan
    x[np.isnan(x)] = float(spec["fill"])
    if spec["transform"] == "rank":
        return rank_p(x, np.asarray(spec["knots"], float), np.asarray(spec["levels"], float))
    return np.clip(x, PRIOR_CLIP, 1 - PRIOR_CLIP).astype(np.float32)


def label_of(v) -> str | None:
    """A condition value as a label name (None: missing); whole numbers as integers."""
    if _missing(v):
        return None
    num = _number(v)
    if num is not None and num == int(num) and abs(num) < 2 ** 53:
        return str(int(num))
    if isinstance(v, str):
        return v.strip()
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else str(v)


def condition_from_values(values: list, column: str, where: str = "") -> Condition:
    names = [label_of(v) for v in values]
    distinct = sorted({s for s in names if s is not None})
    if not distinct:
        raise SideInputError(f"{where}: --condition {column}: every item's value is empty")
    if len(distinct) > MAX_LEVELS:
        raise SideInputError(
            f"{where}: --condition {column}: {len(distinct):,} distinct values, more than "
            f"{MAX_LEVELS}; a condition is a label per item (e.g. a claimed class), not a "
            f"number or an identifier. Use --prior for a score.")
    code = {s: j for j, s in enumerate(distinct)}
    codes = np.asarray([code[s] if s is not None else -1 for s in names], np.int32)
    notes = []
    missing = int((codes < 0).sum())
    if missing:
        notes.append(f"--condition {column}: {missing:,} of {len(values):,} items have no value; "
                     f"they get the shared image term alone")
    return Condition(column, distinct, codes, notes)


def codes_from_spec(values: list, spec: dict) -> tuple[np.ndarray, int]:
    """(code per row, how many rows hold a label the model never saw) for predict; unseen
    labels and missing values get -1 (the shared term alone)."""
    code = {s: j for j, s in enumerate(spec["values"])}
    names = [label_of(v) for v in values]
    codes = np.asarray([code.get(s, -1) if s is not None else -1 for s in names], np.int32)
    unseen = sum(1 for s in names if s is not None and s not in code)
    return codes, unseen


# ---- the labels file remembers them, for `annotate export` ------------------------------

SETTING = "side_inputs"


def remember(store, side: SideInputs | None) -> None:
    """Keep the columns this session trains with in the labels file (its `meta` table), so
    that `annotate export` refits the same model; the latest session's choice stands."""
    names = {} if side is None else {k: v for k, v in side.names().items() if v}
    stored = store.setting(SETTING)
    if (json.loads(stored) if stored else {}) != names and (names or stored):
        store.set_setting(SETTING, json.dumps(names, sort_keys=True))


def remembered(store, features) -> SideInputs | None:
    """The side inputs the labels file names (None: none), read from `features`."""
    stored = store.setting(SETTING)
    names = json.loads(stored) if stored else {}
    if not isinstance(names, dict) or not names:
        return None
    return read_side_inputs(features, names.get("prior"), names.get("condition"))
