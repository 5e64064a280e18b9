"""What every export format reads and returns: the features file, its labels and the
model (`Source`), and what was written (`ExportResult`).

Below the dispatcher (`tui.export.dispatch`) and the formats: a format imports this
module, never the dispatcher, so the imports run one way. Where a format needs the
classifier, it is the sampler's current model when the TUI passes one, else the
sampler's classifier refit here on the current labels (the same
`tui.learn.trainer.Fitter`, so the two agree).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tui.export.atomic import ExportError
from tui.learn.side_inputs import SideInputError, remembered
from tui.learn.side_model import SideFitter
from tui.learn.trainer import DEFAULT_C, Fitter, LinearModel
from tui.store.features import FeatureFile
from tui.store.labels_readonly import open_labels

__all__ = ["ExportError", "ExportResult", "Item", "Source", "open_features", "refit"]


@dataclass
class ExportResult:
    """What was written: the paths and one line that says so."""
    paths: list[Path]
    message: str
    notes: list[str] = field(default_factory=list)


def refit(X: np.ndarray, y: np.ndarray, version: int = 0, C: float = DEFAULT_C) -> LinearModel:
    """The sampler's classifier fit from scratch on (X, y)."""
    return Fitter(X.shape[1], C).fit(X, y, version)


class Source:
    """The features file, its labels and (on demand) the model, for one export. Labels
    that cannot be written are read read-only (`tui.store.labels_readonly`)."""

    def __init__(self, features, labels=None, model: LinearModel | None = None,
                 model_source: str = "sampler"):
        from tui.learn.sampler import default_labels_path

        if isinstance(features, FeatureFile):
            self.features, self._own = features, False
        else:
            self.features, self._own = open_features(features), True
        f = self.features
        self.labels_path = Path(os.fspath(labels)).expanduser().absolute() if labels \
            else default_labels_path(f.filename)
        if not self.labels_path.is_file():
            self.close()
            raise ExportError(f"{self.labels_path}: no labels yet; label some items with "
                              f"`annotate {f.filename.name}` first (or pass --labels PATH)")
        try:
            self.store = open_labels(self.labels_path, f.id, f.__contains__)
        except Exception:
            self.close()
            raise
        self._model = model
        self.model_source = model_source if model is not None else "refit"
        self._latest = None

    def latest(self) -> dict:
        """key -> the Answer that is the item's current label (its latest answer not undone),
        for items in this file, in the order the sampler reads them (first answered first)."""
        if self._latest is None:
            latest = {}
            for a in self.store.answers():
                latest[a.key] = a
            get = self.features.get_index
            self._latest = {k: a for k, a in latest.items() if get(k) is not None}
        return self._latest

    def counts(self) -> dict:
        out = {"pos": 0, "neg": 0, "skip": 0}
        for a in self.latest().values():
            out[a.answer] += 1
        return out

    def training_set(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, X float32, y bool) of the positive and negative labels, as the sampler
        orders them (positives first, in the order of the labels)."""
        f, lab = self.features, self.latest()
        pos = [f.get_index(k) for k, a in lab.items() if a.answer == "pos"]
        neg = [f.get_index(k) for k, a in lab.items() if a.answer == "neg"]
        rows = np.asarray(pos + neg, np.int64)
        y = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
        return rows, f.rows(rows), y

    def items(self, rows) -> list[Item]:
        """path, box, metadata and image size of the given rows (read in sorted blocks)."""
        import h5py

        rows = np.asarray(rows, np.int64)
        out: list[Item | None] = [None] * len(rows)
        order = np.argsort(rows, kind="stable")
        with h5py.File(self.features.filename, "r", locking=False) as h:
            cols = [h["items/key"], h["items/path"], h["items/box"], h["items/meta"],
                    h["items/image_size"]]
            for s in range(0, len(rows), 4096):
                pick = order[s:s + 4096]
                uniq, inv = np.unique(rows[pick], return_inverse=True)
                got = [c[uniq] for c in cols]
                for j, u in zip(pick, inv):
                    out[j] = Item(_text(got[0][u]), _text(got[1][u]), _box(got[2][u]),
                                  _meta(_text(got[3][u])),
                                  (int(got[4][u][0]), int(got[4][u][1])))
        return out

    def model(self) -> LinearModel:
        if self._model is None:
            rows, X, y = self.training_set()
            if not y.any() or y.all():
                c = self.counts()
                raise ExportError(f"{self.labels_path}: the model needs at least one positive "
                                  f"and one negative label; there are {c['pos']} positive "
                                  f"and {c['neg']} negative")
            version = max([a.model_version or 0 for a in self.store.answers()] + [0])
            side = self.side_inputs()          # the columns the sampler trained with, if any
            self._model = refit(X, y, version) if side is None else \
                SideFitter(side, X.shape[1]).fit(X, y, version, rows=rows)
        return self._model

    def side_inputs(self):
        """The side inputs the labels file names (tui.learn.side_inputs.remember), or None."""
        try:
            return remembered(self.store, self.features)
        except SideInputError as exc:
            raise ExportError(f"{self.labels_path}: its sessions trained with side inputs "
                              f"that cannot be read: {exc}") from None

    def close(self) -> None:
        store = getattr(self, "store", None)
        if store is not None:
            store.close()
        if self._own:
            self.features.close()


@dataclass(frozen=True)
class Item:
    key: str
    path: str
    box: tuple | None
    meta: dict
    size: tuple[int, int]


def _text(v) -> str:
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)


def _box(b) -> tuple | None:
    return None if np.isnan(b).any() else tuple(float(v) for v in b)


def _meta(text: str) -> dict:
    try:
        m = json.loads(text) if text else {}
    except (json.JSONDecodeError, RecursionError):
        return {"_meta_raw": text}
    return m if isinstance(m, dict) else {"_meta": m}


def open_features(path) -> FeatureFile:
    from tui.store.features import FeaturesError

    p = Path(os.fspath(path))
    if p.is_dir():
        raise ExportError(f"{p}: is a folder; pass the features.h5 file inside it")
    try:
        return FeatureFile(p)
    except FeaturesError as exc:
        raise ExportError(str(exc)) from exc
    except OSError as exc:
        raise ExportError(f"{p}: cannot be read as a features file ({exc})") from exc
