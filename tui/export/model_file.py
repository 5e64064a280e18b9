"""The trained classifier as a file: a JSON description plus a `.npz` of its numbers.

Why this shape: the JSON is readable and says everything needed to apply the model
(the backbone and its weights, preprocessing, box mode, context, the features'
normalisation), so `annotate predict` can refuse features made another way; the
arrays live in a `.npz` loaded with `allow_pickle=False`, so opening a model file
can never run code. The `.npz`'s checksum is in the JSON: a mismatched pair is refused.

The model: P(pos) = sigmoid(x . w + b) with x the float16, L2-normalised row of the
features file, exactly as the sampler applies it (`tui.learn.trainer.LinearModel`).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from tui.export.atomic import ExportError, atomic_file
from tui.export.model_side import (SIDE_FORMAT_VERSION, check_side_doc, side_parts, side_proba,
                                   side_shapes)
from tui.learn.trainer import LinearModel, sigmoid

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
               source: str, question: str | None = None) -> list[Path]:
    """Write `json_path` and the `.npz` beside it (same stem), each atomically."""
    json_path = Path(os.fspath(json_path)).expanduser().absolute()
    if json_path.suffix.lower() != ".json":
        raise ExportError(f"{json_path}: a model file name ends in .json (the weights go "
                          f"beside it in {json_path.stem}.npz)")
    npz = npz_path(json_path)
    w = np.asarray(model.w, np.float32).reshape(-1)
    side_doc, side_arrays = side_parts(model)          # side inputs (tui.export.model_side)
    with atomic_file(npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, w=w, b=np.asarray([model.b], np.float32), **side_arrays)
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
    if question is not None:
        doc["question"] = question
    doc.update(side_doc)
    with atomic_file(json_path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return [json_path, npz]


@dataclass
class LoadedModel:
    path: Path
    doc: dict
    w: np.ndarray
    b: float
    arrays: dict | None = None        # the side inputs' arrays (V, offsets), if any
    notes: list = field(default_factory=list)   # what applying them filled in, said once

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
        if self.doc.get("side_inputs"):
            return side_proba(self.doc, self.arrays or {}, self.w, self.b, features,
                              str(self.path), self.notes)
        p = sigmoid(features.dot(self.w, self.b))
        p[~features.done] = np.nan
        return p

    def as_linear(self) -> LinearModel:
        lab = self.doc.get("labels") or {}
        return LinearModel(int(self.doc.get("model_version", 0)), self.w, self.b,
                           int(lab.get("pos", 0)), int(lab.get("neg", 0)),
                           float(self.doc.get("C", 0.0)), 0.0)


#: Bounds on what a model file may declare, checked before anything large is read: no
#: embedding is this wide, and a model JSON is a few KB.
MAX_DIM = 1 << 20
MAX_JSON_BYTES = 1 << 20


def load_model(json_path) -> LoadedModel:
    """Read a model JSON and its `.npz` (no pickle); ModelFileError names what is wrong.
    Every field is checked before use and every array's declared shape before it is read,
    so a crafted file gets one message, never a traceback or gigabytes of memory."""
    p = Path(os.fspath(json_path)).expanduser().absolute()
    if not p.is_file():
        raise ModelFileError(f"{p}: no such model file; write one with "
                             f"`annotate export FEATURES --format model -o {p.name}`")
    if p.stat().st_size > MAX_JSON_BYTES:
        raise ModelFileError(f"{p}: {p.stat().st_size} bytes, too large for a model JSON "
                             f"(at most {MAX_JSON_BYTES}); not a model file")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{p}: not a model JSON file ({exc})") from exc
    except RecursionError:
        raise ModelFileError(f"{p}: not a model JSON file (nested too deeply)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{p}: not a binlabel model file (format is "
                             f"{doc.get('format') if isinstance(doc, dict) else None!r}, "
                             f"expected {FORMAT!r})")
    if not _is_int(doc.get("format_version")) or doc["format_version"] > SIDE_FORMAT_VERSION:
        raise ModelFileError(f"{p}: format_version {doc.get('format_version')!r}; this binlabel "
                             f"reads versions up to {SIDE_FORMAT_VERSION}. Upgrade binlabel.")
    _check_fields(p, doc)
    check_side_doc(p, doc)
    name = doc.get("weights_file")
    if not isinstance(name, str) or os.path.basename(name) != name or not name:
        raise ModelFileError(f"{p}: weights_file {name!r} is not a file name in its folder")
    npz = p.with_name(name)
    if not npz.is_file():
        raise ModelFileError(f"{p}: its weights file {npz} is missing; copy it beside the JSON")
    dim = doc["dim"]
    limit = (64 << 10) + 16 * dim * (1 + len(((doc.get("side_inputs") or {}).get("condition")
                                             or {}).get("values") or []))
    if npz.stat().st_size > limit:
        raise ModelFileError(f"{npz}: {npz.stat().st_size} bytes, more than the {limit} that "
                             f"dim {dim} in {p.name} allows; not this model's weights")
    data = npz.read_bytes()
    if doc.get("weights_sha256") != hashlib.sha256(data).hexdigest():
        raise ModelFileError(f"{npz}: its checksum differs from the one in {p.name}; the two "
                             f"files do not belong together (re-export the model)")
    w, b, extra = _arrays(npz, dim, p.name, side_shapes(doc, dim))
    return LoadedModel(p, doc, w, b, extra)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_fields(p: Path, doc: dict) -> None:
    """The fields predict uses, each of the type it must have; the first wrong one named."""
    bb = doc.get("backbone")
    if not isinstance(bb, dict):
        raise ModelFileError(f"{p}: backbone is {bb!r}, expected an object naming the "
                             f"features' {', '.join(IDENTITY)}")
    dim = doc.get("dim")
    if not _is_int(dim) or not 1 <= dim <= MAX_DIM:
        raise ModelFileError(f"{p}: dim is {dim!r}, expected a whole number of features "
                             f"between 1 and {MAX_DIM}")
    for key, ok, want in (("model_version", _is_int, "a whole number"),
                          ("labels", lambda v: isinstance(v, dict), "an object"),
                          ("C", lambda v: isinstance(v, (int, float))
                           and not isinstance(v, bool), "a number")):
        if key in doc and not ok(doc[key]):
            raise ModelFileError(f"{p}: {key} is {doc[key]!r}, expected {want}")


def _declared(npz: Path) -> dict[str, tuple]:
    """name -> (shape, dtype) that each .npy inside the .npz declares in its header, read
    without reading (or inflating) its data."""
    out = {}
    with zipfile.ZipFile(npz) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with z.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read(fh)
            out[info.filename[:-4]] = (shape, dtype)
    return out


def _arrays(npz: Path, dim: int, json_name: str,
            extra: dict | None = None) -> tuple[np.ndarray, float, dict]:
    try:
        declared = _declared(npz)
    except ValueError as exc:
        raise ModelFileError(f"{npz}: not a readable .npz file (an array header: "
                             f"{exc})") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{npz}: not a readable .npz file ({exc})") from exc
    extra = extra or {}
    if not {"w", "b"} <= set(declared):
        raise ModelFileError(f"{npz}: holds arrays {sorted(declared)}, expected w and b")
    for name, want in [("w", [(dim,)]), ("b", [(), (1,)])] + [
            (k, v) for k, v in extra.items() if k in declared]:
        shape, dtype = declared[name]
        if dtype.hasobject:
            raise ModelFileError(f"{npz}: refused: array {name} is a pickled (object) "
                                 f"array, and loading one could run code")
        if dtype.kind != "f" or dtype.itemsize > 8:
            raise ModelFileError(f"{npz}: array {name} is {dtype}, expected floats")
        if shape not in want:
            raise ModelFileError(f"{npz}: array {name} declares shape {shape}, expected "
                                 f"{want[0]} for dim {dim} in {json_name}; refused before "
                                 f"loading it")
    try:
        with np.load(npz, allow_pickle=False) as z:
            w, b = z["w"], z["b"]
            more = {k: z[k].astype(np.float32) for k in extra if k in declared}
    except ValueError as exc:
        raise ModelFileError(f"{npz}: not a readable .npz file ({exc})") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{npz}: not a readable .npz file ({exc})") from exc
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise ModelFileError(f"{npz}: w or b holds NaN or infinity")
    for k, v in more.items():
        if not np.isfinite(v).all():
            raise ModelFileError(f"{npz}: array {k} holds NaN or infinity (or values beyond "
                                 f"float32's range)")
    # The scores are computed in float32: a float64 number beyond its range becomes inf.
    with np.errstate(over="ignore"):
        w32, b32 = w.astype(np.float32), b.astype(np.float32).reshape(-1)
        if not np.isfinite(w32).all():
            raise ModelFileError(f"{npz}: w holds values beyond float32's range (largest "
                                 f"|w| = {float(np.abs(w).max()):g}); the scores are "
                                 f"computed in float32, so the weights must fit in it")
        if not np.isfinite(b32).all():
            raise ModelFileError(f"{npz}: b = {float(b.reshape(-1)[0]):g} is beyond "
                                 f"float32's range; the scores are computed in float32")
    return w32, float(b32[0]), more
