"""Exports: what people annotate for, taken out of the tool.

One entry point, `run_export(fmt, features, out, ...)`, shared by the command line
(`tui.export.cli`) and the TUI's dialog (`tui.app.export_dialog`); each format lives in
its own module. Where a format needs the classifier, it is the sampler's current
model when the TUI passes one, else the sampler's classifier refit here on the
current labels (the same `tui.learn.trainer.Fitter`, so the two agree). Every file is
written under a temporary name and renamed (`tui.export.atomic`).
"""

from __future__ import annotations

import os
from pathlib import Path

from tui.export.atomic import ExportError, check_writable
from tui.export.base import ExportResult, Source
from tui.export.model_side import pool_proba
from tui.learn.side_model import SideModel
from tui.learn.trainer import LinearModel

FORMATS = {
    "csv": "labelled items as CSV (key, path, box, answer, annotator, time, prob, metadata)",
    "jsonl": "labelled items as JSON lines",
    "scores": "every item with the model's probability, CSV",
    "scores-h5": "every item with the model's probability, HDF5 (for millions)",
    "coco": "accepted boxes as COCO ground truth",
    "imagefolder": "crops in positive/ and negative/ folders",
    "model": "the classifier: JSON + .npz, for `annotate predict`",
}
#: Default file name (suffix after the features file's stem) of each format.
DEFAULT_SUFFIX = {"csv": ".labels.csv", "jsonl": ".labels.jsonl", "scores": ".scores.csv",
                  "scores-h5": ".scores.h5", "coco": ".coco.json", "imagefolder": ".crops",
                  "model": ".model.json"}

__all__ = ["DEFAULT_SUFFIX", "FORMATS", "ExportError", "ExportResult", "default_output",
           "run_export"]


def default_output(features_path, fmt: str) -> Path:
    p = Path(os.fspath(features_path))
    return p.with_name(p.stem + DEFAULT_SUFFIX[fmt])


def run_export(fmt: str, features, out, *, labels=None, model: LinearModel | None = None,
               include_predicted: bool = False, threshold="auto", precision: float = 0.95,
               category: str | None = None, context: float = 0.15,
               partial_images: bool = False, images_root=None) -> ExportResult:
    """Write one export; ExportError (or LabelsError/FeaturesError) for a user mistake."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(os.fspath(out)).expanduser().absolute()
    if fmt != "imagefolder":
        if out.is_dir():
            raise ExportError(f"{out}: is a folder; pass a file name for format {fmt}")
        check_writable(out)
    if not (isinstance(precision, float) and 0.0 < precision <= 1.0):
        raise ExportError(f"--precision must be a number in (0, 1], got {precision!r}")
    if not (isinstance(context, (int, float)) and 0.0 <= context <= 10.0):
        raise ExportError(f"--context must be a number between 0 and 10, got {context!r}")
    src = Source(features, labels, model)
    try:
        if not src.latest():
            raise ExportError(f"{src.labels_path}: no labels yet for the items of "
                              f"{src.features.filename.name}; label some items first")
        if fmt in ("csv", "jsonl"):
            from tui.export.rows import write_rows
            return write_rows(src, out, fmt)
        if fmt in ("scores", "scores-h5"):
            from tui.export.scores import write_scores
            m = src.model()
            current = {k: a.answer for k, a in src.latest().items()}
            return write_scores(src.features, m.w, m.b, out, fmt, labels=current,
                                what=f"model v{m.version} ({src.model_source})",
                                question=src.question(),
                                proba=pool_proba(m, src.features) if isinstance(m, SideModel)
                                else None)             # side inputs
        if fmt == "coco":
            from tui.export.coco import write_coco
            return write_coco(src, out, include_predicted=include_predicted,
                              threshold=threshold, precision=precision, category=category,
                              partial_images=partial_images, images_root=images_root)
        if fmt == "imagefolder":
            from tui.export.crops import write_crops
            return write_crops(src, out, context=float(context))
        from tui.export.model_file import save_model
        m = src.model()
        paths = save_model(out, m, src.features, src.labels_path, src.counts(), src.model_source,
                           src.question())
        return ExportResult(paths, f"wrote model v{m.version} ({m.n_pos} positive, {m.n_neg} "
                                   f"negative labels) to {paths[0]} and {paths[1]}")
    finally:
        src.close()
