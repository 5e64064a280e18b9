"""What every export format reads and returns: the features file, its labels and the
model (`Source`), and what was written (`ExportResult`).

Below the dispatcher (`tui.export.dispatch`) and the formats: a format imports this
module, never the dispatcher, so the imports run one way. Where a format needs the
classifier, it is the sampler's current model when the TUI passes one, else the
sampler's classifier refit on the current labels (`tui.learn.trainer.refit`, the
same Fitter, so the two agree).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tui.export.atomic import ExportError
from tui.learn.side_inputs import SideInputError, remembered
from tui.learn.side_model import SideFitter, held_out
from tui.learn.trainer import LinearModel, image_only, refit
from tui.store.features import FeatureFile
from tui.store.features_read import Item, read_items
from tui.store.labels_readonly import open_labels
from tui.store.task import QUESTION

__all__ = ["ExportError", "ExportResult", "Item", "Source", "open_features", "refit"]


@dataclass
class ExportResult:
    """What was written: the paths and one line that says so; notes say how, warnings
    what a person must know about it (the command prints them on stderr)."""
    paths: list[Path]
    message: str
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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

    def question(self) -> str | None:
        """The task's question (the labels file's `meta` row `question`), None if unset:
        the exports with metadata carry it, so a file says what its labels answer."""
        return self.store.setting(QUESTION)

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
        """path, box, metadata and image size of the given rows (`tui.store.features_read`)."""
        return read_items(self.features, rows)

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

    def held_out_fit(self, rows: np.ndarray, X: np.ndarray, y: np.ndarray):
        """`fit(train, test)` over training_set()'s (rows, X, y), as the caller read them,
        for the held-out figures (the threshold, the pool estimate): with the side inputs
        the sessions trained with, or the plain classifier without them."""
        side = self.side_inputs()
        return image_only(X, y) if side is None else held_out(side, X, y, rows)

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
