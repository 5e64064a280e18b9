"""Accepted boxes as a COCO ground-truth file, to train a detector on.

Annotations are the boxes a person accepted (`"predicted": false`) and, with
`include_predicted`, the boxes nobody judged that the model accepts at or above the
threshold (`"predicted": true, "score": p`); human rejections are never added. The
threshold's precision and recall on the unjudged boxes are estimated from the
uniform random picks (`tui.export.pool_estimate`). Images are those holding a judged
or predicted box whose every box is judged or predicted (`tui.export.coco_images`;
`partial_images`: all of them), with their displayed sizes and names relative to the
images root.
Image ids and category ids come from the refs metadata (`image_id`, `category_id`,
`category`) when they are consistent, so a COCO file in gives the same ids out;
`category` overrides the category of every box. Coordinates are rounded to 1/1000
px, which gives back the input numbers exactly (float32 storage adds noise below that).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from tui.export.atomic import ExportError, atomic_file
from tui.export.coco_images import complete_images, file_name, root_folder
from tui.export.pool_estimate import estimate
from tui.export.rows import finite

DEFAULT_CATEGORY = "object"


def _r(v: float) -> float:
    return round(float(v), 3)


def _is_id(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _image_size(path: str, size: tuple[int, int]) -> tuple[int, int]:
    if size[0] > 0 and size[1] > 0:
        return size
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            return ImageOps.exif_transpose(im).size
    except Exception as exc:  # noqa: BLE001 - any decoder failure becomes one message
        raise ExportError(f"{path}: cannot read the image's size for COCO ({exc})") from exc


def _image_ids(items) -> dict[str, int]:
    """path -> image id: the refs' ids when every item has one and they agree, else 1..n."""
    by_path: dict[str, int] = {}
    ok = True
    for it in items:
        iid = it.meta.get("image_id")
        if not _is_id(iid) or by_path.setdefault(it.path, iid) != iid:
            ok = False
            break
    if ok and len(set(by_path.values())) == len(by_path):
        return by_path
    out: dict[str, int] = {}
    for it in items:
        out.setdefault(it.path, len(out) + 1)
    return out


def _categories(items, category: str | None) -> tuple[list[dict], list[int]]:
    if category is not None:
        return [{"id": 1, "name": category, "supercategory": ""}], [1] * len(items)
    names: dict[int, str] = {}
    by_name: dict[str, int] = {}
    wanted = []
    for it in items:
        cid, cname = it.meta.get("category_id"), it.meta.get("category")
        if _is_id(cid):
            names.setdefault(cid, cname if isinstance(cname, str) else str(cid))
            wanted.append(cid)
        else:
            wanted.append(cname if isinstance(cname, str) and cname else DEFAULT_CATEGORY)
    next_id = max(names, default=0) + 1
    ids = []
    for w in wanted:
        if isinstance(w, str):
            if w not in by_name:
                found = [i for i, n in names.items() if n == w]
                by_name[w] = found[0] if found else next_id
                if not found:
                    names[next_id] = w
                    next_id += 1
            w = by_name[w]
        ids.append(w)
    cats = [{"id": i, "name": n, "supercategory": ""} for i, n in sorted(names.items())]
    return cats, ids


def write_coco(src, out: Path, *, include_predicted: bool, threshold, precision: float,
               category: str | None, partial_images: bool = False, images_root=None):
    from tui.export.base import ExportResult
    from tui.export.model_side import pool_proba
    from tui.export.scores import probabilities
    from tui.learn.side_model import SideModel

    f, latest = src.features, src.latest()
    judged = {k: a for k, a in latest.items() if a.answer in ("pos", "neg")}
    rows = np.asarray([f.get_index(k) for k in judged], np.int64)
    items = src.items(rows)
    answers = [judged[it.key].answer for it in items]
    boxed = [(it, a) for it, a in zip(items, answers) if it.box is not None]
    accepted = [it for it, a in boxed if a == "pos"]
    n_pos = answers.count("pos")
    if not accepted:
        raise ExportError(f"{src.labels_path}: no accepted boxes to export: {n_pos} positive "
                          f"labels, {sum(1 for it, a in boxed if a == 'pos')} of them on a box. "
                          f"COCO needs items with boxes labelled positive.")
    notes, warnings = [], []
    if n_pos > len(accepted):
        notes.append(f"{n_pos - len(accepted)} positive whole-image items left out (no box)")
    predicted, scores = [], []
    if include_predicted:
        t, note = _threshold(src, threshold, precision)
        notes.append(note)
        notes.append(estimate(src, t).describe())
        m = src.model()
        p = pool_proba(m, f) if isinstance(m, SideModel) else probabilities(f, m.w, m.b)
        free = f.done & (p >= t)
        free[rows] = False
        cand = np.flatnonzero(free)
        for it, s in zip(src.items(cand), p[cand].tolist()):
            if it.box is not None:
                predicted.append(it)
                scores.append(s)
    if not partial_images:
        decided = f.done.copy() if include_predicted else np.zeros(f.n, bool)
        decided[rows] = True
        kept = complete_images(f, {it.path for it, _ in boxed} | {it.path for it in predicted},
                               decided, Counter(it.path for it in accepted))
        warning = kept.warning(include_predicted)
        if not kept.paths:
            raise ExportError(f"{src.labels_path}: no image has every box judged, so no image "
                              f"can be exported whole: {warning}")
        if warning:
            warnings.append(warning)
        boxed = [(it, a) for it, a in boxed if it.path in kept.paths]
        accepted = [it for it in accepted if it.path in kept.paths]
        keep = [it.path in kept.paths for it in predicted]
        predicted = [it for it, k in zip(predicted, keep) if k]
        scores = [s for s, k in zip(scores, keep) if k]
    listed = [it for it, _ in boxed] + predicted
    img_ids = _image_ids(listed)
    cats, cat_ids = _categories(accepted + predicted, category)
    size = {it.path: _image_size(it.path, it.size) for it in listed}
    root = root_folder(f.attrs, images_root)
    images = [{"id": i, "file_name": file_name(p, root), "width": size[p][0],
               "height": size[p][1]} for p, i in img_ids.items()]
    anns = []
    for n, (it, cid) in enumerate(zip(accepted + predicted, cat_ids), 1):
        x1, y1, x2, y2 = it.box
        w, h = _r(x2 - x1), _r(y2 - y1)
        a = {"id": n, "image_id": img_ids[it.path], "category_id": cid,
             "bbox": [_r(x1), _r(y1), w, h], "area": _r(w * h), "iscrowd": 0, "key": it.key,
             "predicted": n > len(accepted)}
        if a["predicted"]:
            a["score"] = round(scores[n - len(accepted) - 1], 6)
        anns.append(a)
    info = {"description": f"binlabel export of {f.filename.name}",
            "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "features_uuid": f.id, "labels": str(src.labels_path)}
    if root is not None:
        info["images_root"] = root
    if src.question() is not None:
        info["question"] = src.question()
    doc = {"info": info, "images": images, "annotations": anns, "categories": cats}
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps(finite(doc), allow_nan=False) + "\n", encoding="utf-8")
    msg = (f"wrote {len(accepted)} accepted" + (f" and {len(predicted)} predicted"
                                                 if include_predicted else "")
           + f" boxes on {len(images)} images, {len(cats)} categor"
           + ("y" if len(cats) == 1 else "ies") + f" to {out}")
    return ExportResult([out], msg, notes, warnings)


def _threshold(src, threshold, precision) -> tuple[float, str]:
    from tui.export.threshold import auto_threshold

    if threshold in (None, "auto"):
        rows, X, y = src.training_set()
        th = auto_threshold(X, y, precision, fit=src.held_out_fit(rows, X, y))
        return th.value, th.describe(precision)
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        t = float("nan")
    if not 0.0 <= t <= 1.0:
        raise ExportError(f"--threshold must be auto or a probability in 0..1, got {threshold!r}")
    return t, f"threshold {t:.4f} (given)"
