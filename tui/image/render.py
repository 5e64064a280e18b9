"""The item as a picture: the image (or the crop around its box) at display size, the box outlined.

Why here and not in the widget: rendering is pure Pillow work that a worker thread does ahead of the
keypress, and that tests can check pixel by pixel without a terminal.

- EXIF orientation is applied first, because boxes are given in the orientation as displayed.
- Big JPEGs are decoded at a reduced scale (Pillow's ``draft``), which is several times faster.
- The outline is drawn on the resized copy, so the line stays crisp and visible at any zoom: a bright
  line between two dark ones, readable on light and dark images alike.
- A file that cannot be read gives a picture that says so; this function never raises for a bad image.
"""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

BACKGROUND = (24, 24, 24)
OUTLINE = (255, 221, 0)          # bright yellow: the box itself
OUTLINE_EDGE = (0, 0, 0)         # dark rims either side: visible on yellow or white images too
_SWAPS_AXES = {5, 6, 7, 8}       # EXIF orientations that swap width and height


def render_item(path: str, box: tuple | None, *, view: str = "crop", context: float = 0.15,
                size_px: tuple[int, int]) -> Image.Image:
    """Return the item as an RGB picture no larger than ``size_px`` (aspect kept).

    ``box`` is ``(x1, y1, x2, y2)`` in pixels of the displayed orientation, or None (or NaNs) for a
    whole image. ``view`` "crop" shows the box grown by ``context`` of its size on each side, clamped
    to the image; "whole" shows the whole image. The box is outlined in both views.
    """
    if view not in ("crop", "whole"):
        raise ValueError(f"view must be 'crop' or 'whole', not {view!r}")
    tw, th = max(1, int(size_px[0])), max(1, int(size_px[1]))
    box = _clean_box(box)
    try:
        return _render(path, box, view, context, (tw, th))
    except Exception as error:  # noqa: BLE001 - any decoder failure must become a picture
        return error_picture(path, error, (tw, th))


def _clean_box(box):
    if box is None:
        return None
    vals = [float(v) for v in box]
    if len(vals) != 4 or any(math.isnan(v) for v in vals):
        return None
    x1, y1, x2, y2 = vals
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def _render(path, box, view, context, target):
    with Image.open(path) as im:
        orientation = im.getexif().get(0x0112, 1)
        full_w, full_h = im.size
        disp_w, disp_h = (full_h, full_w) if orientation in _SWAPS_AXES else (full_w, full_h)
        region = shown_region(box, view, context, disp_w, disp_h)
        if im.format == "JPEG":
            _draft(im, region, target, orientation)
        scale_raw = (im.size[0] / full_w, im.size[1] / full_h)
        im.load()
        pic = ImageOps.exif_transpose(im)
    sx, sy = (scale_raw[1], scale_raw[0]) if orientation in _SWAPS_AXES else scale_raw
    pic = to_rgb(pic)
    rx1, ry1, rx2, ry2 = region
    crop = (int(rx1 * sx), int(ry1 * sy),
            max(int(rx1 * sx) + 1, math.ceil(rx2 * sx)), max(int(ry1 * sy) + 1, math.ceil(ry2 * sy)))
    crop = (crop[0], crop[1], min(crop[2], pic.width), min(crop[3], pic.height))
    pic = pic.crop(crop)
    fit = min(target[0] / pic.width, target[1] / pic.height)
    out_size = (max(1, round(pic.width * fit)), max(1, round(pic.height * fit)))
    pic = pic.resize(out_size, Image.Resampling.LANCZOS if fit < 1 else Image.Resampling.BICUBIC)
    if box is not None:
        # box in display pixels: from the displayed image's coordinates to the output picture's
        kx, ky = out_size[0] / (rx2 - rx1), out_size[1] / (ry2 - ry1)
        outline_box(pic, ((box[0] - rx1) * kx, (box[1] - ry1) * ky,
                          (box[2] - rx1) * kx, (box[3] - ry1) * ky))
    return pic


def shown_region(box, view, context, w, h):
    """The part of the displayed image to show, in display pixels (floats, clamped, non-empty)."""
    if box is None or view == "whole":
        return (0.0, 0.0, float(w), float(h))
    x1, y1, x2, y2 = box
    gx, gy = (x2 - x1) * context, (y2 - y1) * context
    # a tiny box still gets some surroundings: at least 8 % of the image's shorter side around it
    pad = 0.08 * min(w, h) if max(x2 - x1, y2 - y1) < 0.05 * min(w, h) else 0.0
    rx1, ry1 = max(0.0, x1 - gx - pad), max(0.0, y1 - gy - pad)
    rx2, ry2 = min(float(w), x2 + gx + pad), min(float(h), y2 + gy + pad)
    if rx2 - rx1 < 1 or ry2 - ry1 < 1:   # a box outside the image: show the whole image
        return (0.0, 0.0, float(w), float(h))
    return (rx1, ry1, rx2, ry2)


def _draft(im, region, target, orientation):
    """Ask the JPEG decoder for the smallest scale that still covers the target at the region's size."""
    rw, rh = region[2] - region[0], region[3] - region[1]
    fit = min(target[0] / rw, target[1] / rh)
    if fit >= 0.5:
        return
    want = (math.ceil(im.size[0] * fit) + 1, math.ceil(im.size[1] * fit) + 1)
    im.draft(im.mode if im.mode in ("RGB", "L", "CMYK") else "RGB", want)


def to_rgb(pic: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: alpha composited on the background, 16-bit and float stretched."""
    if pic.mode == "RGB":
        return pic
    if pic.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(pic, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.nan_to_num(arr).astype(np.uint8), "L").convert("RGB")
    if pic.mode == "P" and "transparency" in pic.info:
        pic = pic.convert("RGBA")
    if pic.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = pic.convert("RGBA")
        base = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return pic.convert("RGB")


def outline_box(pic: Image.Image, box: tuple[float, float, float, float]) -> None:
    """Draw the box on ``pic`` in place: a bright line with a dark rim on both sides."""
    side = min(pic.width, pic.height)
    line = max(2, round(side / 160))
    rim = max(1, line // 2)
    x1, y1, x2, y2 = (round(v) for v in box)
    draw = ImageDraw.Draw(pic)
    total = line + 2 * rim
    # outer rim, then the bright line inside it, then the inner rim: centred on the box's edge
    draw.rectangle((x1 - total // 2, y1 - total // 2, x2 + total // 2, y2 + total // 2),
                   outline=OUTLINE_EDGE, width=total)
    draw.rectangle((x1 - total // 2 + rim, y1 - total // 2 + rim,
                    x2 + total // 2 - rim, y2 + total // 2 - rim), outline=OUTLINE, width=line)


def error_picture(path: str, error: BaseException, size_px: tuple[int, int]) -> Image.Image:
    """A dark picture that says which file could not be shown and why."""
    w, h = max(1, size_px[0]), max(1, size_px[1])
    pic = Image.new("RGB", (w, h), (60, 0, 0))
    draw = ImageDraw.Draw(pic)
    try:
        font = ImageFont.load_default(size=max(10, min(w, h) // 24))
    except TypeError:  # Pillow < 10.1 has no sized default font
        font = ImageFont.load_default()
    reason = str(error) or type(error).__name__
    if isinstance(error, FileNotFoundError):
        reason = "file not found"
    text = f"cannot show this image\n{os.path.basename(str(path))}\n{reason[:120]}"
    draw.multiline_text((max(2, w // 20), max(2, h // 3)), text, fill=(255, 235, 235), font=font)
    return pic
