"""Labelled items as image files in `positive/` and `negative/`: the layout that
image-classification trainers (torchvision's ImageFolder, timm, Keras) read.

A box item is cropped from the image as displayed (EXIF orientation applied) with
the same context the annotator saw (`tui.image.render`'s crop region: the box grown by
`context` of its size on each side, clamped to the image); `context=0` cuts the
box alone. A whole-image item is the whole image. Files are JPEG (quality 95),
named by item key, so they join back to the labels. An image that cannot be read
is skipped and named in the notes; the folder appears whole or not at all.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageOps

from tui.export.atomic import atomic_dir
from tui.image.render import shown_region, to_rgb

FOLDERS = {"pos": "positive", "neg": "negative"}


def crop_region(box, context: float, w: int, h: int) -> tuple[int, int, int, int] | None:
    """Integer pixel region of the crop, or None for a box wholly outside the image."""
    if box is None:
        return (0, 0, w, h)
    x1, x2 = sorted((box[0], box[2]))
    y1, y2 = sorted((box[1], box[3]))
    if context > 0:
        rx1, ry1, rx2, ry2 = shown_region((x1, y1, x2, y2), "crop", context, w, h)
    else:
        rx1, ry1, rx2, ry2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
    r = (int(math.floor(rx1)), int(math.floor(ry1)), int(math.ceil(rx2)), int(math.ceil(ry2)))
    if r[2] - r[0] < 1 or r[3] - r[1] < 1 or r[0] >= w or r[1] >= h:
        return None
    return r


def crop_item(path: str, box, context: float) -> Image.Image | None:
    with Image.open(path) as im:
        pic = to_rgb(ImageOps.exif_transpose(im))
    r = crop_region(box, context, pic.width, pic.height)
    return None if r is None else pic.crop(r)


def write_crops(src, out: Path, *, context: float):
    from tui.export.base import ExportResult

    latest = src.latest()
    judged = [(k, a.answer) for k, a in latest.items() if a.answer in FOLDERS]
    items = src.items([src.features.get_index(k) for k, _ in judged])
    counts = {"pos": 0, "neg": 0}
    skipped: list[str] = []
    with atomic_dir(out) as tmp:
        for name in FOLDERS.values():
            (tmp / name).mkdir()
        for (key, answer), it in zip(judged, items):
            try:
                pic = crop_item(it.path, it.box, context)
            except Exception as exc:  # noqa: BLE001 - one bad image must not stop the rest
                skipped.append(f"{it.path}: {exc}")
                continue
            if pic is None:
                skipped.append(f"{it.path}: box {it.box} lies outside the image")
                continue
            pic.save(tmp / FOLDERS[answer] / f"{key}.jpg", format="JPEG", quality=95)
            counts[answer] += 1
    notes = [f"skipped {len(skipped)} item(s): " + "; ".join(skipped[:5])
             + (" ..." if len(skipped) > 5 else "")] if skipped else []
    how = f"context {context:g}" if context > 0 else "no context"
    return ExportResult([out], f"wrote {counts['pos']} positive and {counts['neg']} negative "
                               f"crops ({how}) to {out}/positive and {out}/negative", notes)
