"""Per-item columns of a features file (path, box, metadata, image size), read in blocks.

Why apart from `tui.store.features.FeatureFile`: the exports read these columns for many
rows at once (every labelled item, or every row of a pool of millions), where the
FeatureFile reads one item at a time for the app; and features.py is long enough. Reads
go through a handle of their own, opened read-only without locking (featurize may be
writing), and checked to be the file the FeatureFile holds: a file replaced by another
featurize run since (another uuid) is refused, so paths never join the wrong rows.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import h5py
import numpy as np

from tui.store.features import FeatureFile, FeaturesError

#: Rows read at once when picking scattered rows (sorted, de-duplicated).
PICK_BLOCK = 4096


@dataclass(frozen=True)
class Item:
    key: str
    path: str
    box: tuple | None
    meta: dict
    size: tuple[int, int]


def text(v) -> str:
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)


def texts(raw) -> list[str]:
    return [text(v) for v in raw]


def _box(b) -> tuple | None:
    return None if np.isnan(b).any() else tuple(float(v) for v in b)


def _meta(s: str) -> dict:
    try:
        m = json.loads(s) if s else {}
    except (json.JSONDecodeError, RecursionError):
        return {"_meta_raw": s}
    return m if isinstance(m, dict) else {"_meta": m}


@contextmanager
def opened(ff: FeatureFile) -> Iterator[h5py.File]:
    """A read-only handle on the file `ff` was opened on (FeaturesError if it was replaced)."""
    with h5py.File(ff.filename, "r", locking=False) as h:
        uuid = text(h.attrs.get("uuid", ""))
        if uuid != ff.id:
            raise FeaturesError(f"{ff.filename}: replaced by another featurize run (file id "
                                f"{ff.id[:8]} -> {uuid[:8] or 'none'}) while it was in use; "
                                f"run the command again")
        yield h


def read_items(ff: FeatureFile, rows) -> list[Item]:
    """key, path, box, metadata and image size of the given rows, in the order given
    (read in sorted blocks of PICK_BLOCK unique rows)."""
    rows = np.asarray(rows, np.int64)
    out: list[Item | None] = [None] * len(rows)
    order = np.argsort(rows, kind="stable")
    with opened(ff) as h:
        cols = [h["items/key"], h["items/path"], h["items/box"], h["items/meta"],
                h["items/image_size"]]
        for s in range(0, len(rows), PICK_BLOCK):
            pick = order[s:s + PICK_BLOCK]
            uniq, inv = np.unique(rows[pick], return_inverse=True)
            got = [c[uniq] for c in cols]
            for j, u in zip(pick, inv):
                out[j] = Item(text(got[0][u]), text(got[1][u]), _box(got[2][u]),
                              _meta(text(got[3][u])),
                              (int(got[4][u][0]), int(got[4][u][1])))
    return out


def iter_paths_boxes(ff: FeatureFile, block: int) -> Iterator[tuple[int, list[str], np.ndarray]]:
    """(first row, paths, boxes float32 [n, 4], NaN for whole images) over every row, one
    block at a time: memory stays flat whatever the pool size."""
    with opened(ff) as h:
        paths, boxes = h["items/path"], h["items/box"]
        for a in range(0, ff.n, block):
            z = min(a + block, ff.n)
            yield a, texts(paths[a:z]), boxes[a:z]
