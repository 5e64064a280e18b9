"""Scores of every item: the model's P(pos), as CSV or HDF5, streamed in blocks.

Why streamed: pools hold millions of items. The features matrix is never copied
whole (`FeatureFile.dot` reads float16 blocks), the probabilities are one float32
per item, and the per-item text (keys, paths) is read, formatted and written one
block at a time, so memory stays flat whatever the pool size.

CSV columns: key, path, x1, y1, x2, y2 (empty for whole images), prob (empty for
items not featurized), label (the current human label, if any). HDF5: datasets
`key`, `path`, `box`, `prob` (NaN when not featurized), `label` (int8: -1 none,
0 negative, 1 positive, 2 skip) and the model's description in the attributes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tui.export.atomic import ExportError, atomic_file
from tui.learn.trainer import sigmoid
from tui.store.features_read import iter_paths_boxes
from tui.store.scores_file import write_scores_h5

BLOCK = 65_536
LABEL_CODE = {"neg": 0, "pos": 1, "skip": 2}
LABEL_NAME = {-1: "", 0: "neg", 1: "pos", 2: "skip"}
HEADER = ["key", "path", "x1", "y1", "x2", "y2", "prob", "label"]

if TYPE_CHECKING:
    from tui.export.base import ExportResult


def probabilities(features, w, b) -> np.ndarray:
    """P(pos) for every row as the sampler computes it; NaN for rows not featurized."""
    p = sigmoid(features.dot(np.asarray(w, np.float32), float(b)))
    p[~features.done] = np.nan
    return p


def label_codes(features, labels: dict | None) -> np.ndarray:
    codes = np.full(features.n, -1, np.int8)
    if labels:
        keys = list(labels)
        rows = features.indices_of(keys)
        vals = np.asarray([LABEL_CODE.get(labels[k], -1) for k in keys], np.int8)
        ok = rows >= 0
        codes[rows[ok]] = vals[ok]
    return codes


def _cells(values: np.ndarray, decimals: int) -> list:
    """Numbers as short text cells ('' for NaN): rounding float32 noise away (12.3, not
    12.300000190734863)."""
    v = np.round(values.astype(np.float64), decimals)
    out = v.tolist()
    if np.isnan(v).any():
        out = ["" if x != x else x for x in out]
    return out


def write_scores(features, w, b, out: Path, fmt: str, labels: dict | None = None,
                 what: str = "model", question: str | None = None,
                 proba: np.ndarray | None = None) -> "ExportResult":
    """`proba`: the probabilities when they are not sigmoid(x . w + b) (side inputs)."""
    from tui.export.base import ExportResult

    p = probabilities(features, w, b) if proba is None else proba
    nan = int(np.count_nonzero(np.isnan(p) & features.done))
    if nan:   # never a file of empty scores with a success message
        raise ExportError(f"{what}: gives no probability (NaN) for {nan} of the "
                          f"{features.n} items of {features.filename}; its weights hold "
                          f"NaN or overflow. Nothing was written to {out}")
    codes = label_codes(features, labels)
    with atomic_file(out) as tmp:
        if fmt == "scores-h5":
            _write_h5(features, p, codes, tmp, w, b, what, question)
        else:
            _write_csv(features, p, codes, tmp)
    done = int(np.count_nonzero(features.done))
    return ExportResult([out], f"wrote scores of {features.n} items ({done} featurized) by "
                               f"{what} to {out}")


def _write_csv(features, p, codes, tmp: Path) -> None:
    """One f-string per row (a third faster than csv.writer here); a block whose paths
    hold a comma, a quote or a line break goes through csv.writer for its quoting."""
    names = [LABEL_NAME[c] for c in range(-1, 3)]
    with open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(HEADER)
        for a, paths, bx in iter_paths_boxes(features, BLOCK):
            z = a + len(paths)
            empty = [""] * (z - a)
            cols = [features.keys[a:z], paths,
                    *((_cells(bx[:, j], 4) for j in range(4)) if not np.isnan(bx).all()
                      else [empty] * 4),
                    _cells(p[a:z], 6), [names[c + 1] for c in codes[a:z].tolist()]]
            if any(_SPECIAL.intersection(q) for q in cols[1]):
                wr.writerows(zip(*cols))
            else:
                fh.write("".join([f"{k},{q},{x1},{y1},{x2},{y2},{pr},{lab}\n"
                                  for k, q, x1, y1, x2, y2, pr, lab in zip(*cols)]))


_SPECIAL = frozenset(',"\r\n')


def _write_h5(features, p, codes, tmp: Path, w, b, what: str, question) -> None:
    write_scores_h5(features, tmp, {"prob": p, "label": codes}, {
        **({} if question is None else {"question": question}),
        "format": "binlabel.scores", "format_version": 1,
        "features_uuid": features.id, "features_path": str(features.filename),
        "model": what, "bias": float(b), "dim": int(np.asarray(w).shape[0]),
        "label_codes": json.dumps({"-1": "none", **{str(v): k for k, v in LABEL_CODE.items()}}),
    })
