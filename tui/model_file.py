"""The trained classifier as a file: a JSON description plus a `.npz` of its numbers.

Why this shape: the JSON is readable and says everything needed to apply the model
(the backbone and its weights, preprocessing, box mode, context, the features'
normalisation), so `annotate predict` can refuse features made another way; the
arrays live in a `.npz` loaded with `allow_pickle=False`, so opening a model file
can never run code. The `.npz`'s checksum is in the JSON: a mismatched pair is refused.

The model: P(pos) = sigmoid(x . w + b) with x the float16, L2-normalised row of the
features file, exactly as the sampler applies it (`tui.trainer.LinearModel`).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from tui.export_atomic import ExportError, atomic_file
from tui.trainer import LinearModel, _sigmoid

FORMAT = "binlabel.model"
FORMAT_VERSION = 1
#: Feature-file attributes that must agree for the model to apply (the backbone's identity).
IDENTITY = ("model", "weights", "preprocess", "box_mode", "context")


class ModelFileError(ExportError):
    """A model file that cannot be read or applied here."""


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("binlabel")
    except Exception:  # noqa: BLE001 - an uninstalled checkout
        return "unknown"


def backbone_identity(attrs: dict) -> dict:
    """The features-file attributes that define what a row means."""
    out = {}
    for k in IDENTITY:
        v = attrs.get(k)
        if k == "preprocess" and isinstance(v, str):
            try:
                v = json.loads(v)
            except json.JSONDecodeError:
                pass
        elif k == "context" and v is not None:
            v = float(v)
        out[k] = v
    return out


def npz_path(json_path: Path) -> Path:
    return json_path.with_suffix(".npz")


def save_model(json_path, model: LinearModel, features, labels_path, counts: dict,
               source: str) -> list[Path]:
    """Write `json_path` and the `.npz` beside it (same stem), each atomically."""
    json_path = Path(os.fspath(json_path)).expanduser().absolute()
    if json_path.suffix.lower() != ".json":
        raise ExportError(f"{json_path}: a model file name ends in .json (the weights go "
                          f"beside it in {json_path.stem}.npz)")
    npz = npz_path(json_path)
    w = np.asarray(model.w, np.float32).reshape(-1)
    with atomic_file(npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, w=w, b=np.asarray([model.b], np.float32))
    digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "kind": "logistic_regression",
        "formula": "P(pos) = sigmoid(x . w + b), x = the features file's row",
        "weights_file": npz.name, "weights_sha256": digest,
        "dim": int(w.shape[0]), "bias": float(model.b),
        "backbone": backbone_identity(features.attrs),
        "normalisation": {"rows": "l2", "storage": "float16",
                          "note": "rows as stored by featurize: L2-normalised, no other scaling"},
        "features": {"uuid": features.id, "path": str(features.filename), "items": features.n},
        "labels": {"path": str(labels_path), "pos": int(counts.get("pos", 0)),
                   "neg": int(counts.get("neg", 0)), "skip": int(counts.get("skip", 0))},
        "model_version": int(model.version), "source": source, "C": float(model.C),
        "binlabel_version": _version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_file(json_path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return [json_path, npz]


@dataclass
class LoadedModel:
    path: Path
    doc: dict
    w: np.ndarray
    b: float

    def check_features(self, features) -> None:
        """Refuse a features file made with another backbone, weights, preprocessing,
        box mode, context or dimension, naming each difference."""
        want = self.doc.get("backbone") or {}
        have = backbone_identity(features.attrs)
        diffs = [f"{k}: model {want.get(k)!r}, features {have.get(k)!r}"
                 for k in IDENTITY if want.get(k) != have.get(k)]
        if features.dim != self.w.shape[0]:
            diffs.append(f"dim: model {self.w.shape[0]}, features {features.dim}")
        if diffs:
            raise ModelFileError(
                f"{features.filename}: made differently from the features the model "
                f"{self.path} was trained on, so its scores would mean nothing: "
                + "; ".join(diffs) + ". Featurize with the same backbone and settings.")

    def proba(self, features) -> np.ndarray:
        """P(pos) for every row (float32 [N]) as the sampler computes it; NaN for rows
        not featurized."""
        p = _sigmoid(features.dot(self.w, self.b))
        p[~features.done] = np.nan
        return p

    def as_linear(self) -> LinearModel:
        lab = self.doc.get("labels") or {}
        return LinearModel(int(self.doc.get("model_version", 0)), self.w, self.b,
                           int(lab.get("pos", 0)), int(lab.get("neg", 0)),
                           float(self.doc.get("C", 0.0)), 0.0)


def load_model(json_path) -> LoadedModel:
    """Read a model JSON and its `.npz` (no pickle); ModelFileError names what is wrong."""
    p = Path(os.fspath(json_path)).expanduser().absolute()
    if not p.is_file():
        raise ModelFileError(f"{p}: no such model file; write one with "
                             f"`annotate export FEATURES --format model -o {p.name}`")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{p}: not a model JSON file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{p}: not a binlabel model file (format is "
                             f"{doc.get('format') if isinstance(doc, dict) else None!r}, "
                             f"expected {FORMAT!r})")
    if not isinstance(doc.get("format_version"), int) or doc["format_version"] > FORMAT_VERSION:
        raise ModelFileError(f"{p}: format_version {doc.get('format_version')!r}; this binlabel "
                             f"reads version {FORMAT_VERSION}. Upgrade binlabel.")
    name = doc.get("weights_file")
    if not isinstance(name, str) or os.path.basename(name) != name or not name:
        raise ModelFileError(f"{p}: weights_file {name!r} is not a file name in its folder")
    npz = p.with_name(name)
    if not npz.is_file():
        raise ModelFileError(f"{p}: its weights file {npz} is missing; copy it beside the JSON")
    data = npz.read_bytes()
    if doc.get("weights_sha256") != hashlib.sha256(data).hexdigest():
        raise ModelFileError(f"{npz}: its checksum differs from the one in {p.name}; the two "
                             f"files do not belong together (re-export the model)")
    w, b = _arrays(npz)
    if w.shape[0] != doc.get("dim"):
        raise ModelFileError(f"{npz}: w has {w.shape[0]} values, {p.name} says dim "
                             f"{doc.get('dim')!r}")
    return LoadedModel(p, doc, w, b)


def _arrays(npz: Path) -> tuple[np.ndarray, float]:
    try:
        with np.load(npz, allow_pickle=False) as z:
            names = set(z.files)
            if not {"w", "b"} <= names:
                raise ModelFileError(f"{npz}: holds arrays {sorted(names)}, expected w and b")
            w, b = z["w"], z["b"]
    except ValueError as exc:  # object arrays: numpy refuses to unpickle them
        raise ModelFileError(f"{npz}: refused: it holds a pickled (object) array, and loading "
                             f"one could run code ({exc})") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{npz}: not a readable .npz file ({exc})") from exc
    for name, a in (("w", w), ("b", b)):
        if a.dtype.kind != "f":
            raise ModelFileError(f"{npz}: array {name} is {a.dtype}, expected floats")
    if w.ndim != 1 or b.size != 1:
        raise ModelFileError(f"{npz}: w must be 1-D and b one number, got shapes "
                             f"{list(w.shape)} and {list(b.shape)}")
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise ModelFileError(f"{npz}: w or b holds NaN or infinity")
    return w.astype(np.float32), float(b.reshape(-1)[0])
