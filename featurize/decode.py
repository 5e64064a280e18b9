"""Open images robustly and cut boxes out of them.

Every way an image can be bad (missing, empty, truncated, not an image, a
decompression bomb) becomes a :class:`DecodeError` with a message a person can
act on, so that one bad file marks one row failed and the job goes on.

Images are decoded in the orientation they are displayed in (EXIF applied),
as RGB, and JPEGs at the smallest DCT scale (Pillow ``draft``: 1/2, 1/4, 1/8)
that still gives the model at least as many pixels as it uses: decoding a
4000 px photo for a 224 px model at 1/8 scale is ~10x faster and loses
nothing. Boxes stay in full-size displayed pixels; :class:`Decoded` carries
the scale from those to the decoded pixels.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from featurize.outfile import not_regular_mode

#: Background that transparent pixels are composited onto (what most viewers
#: show, and never the arbitrary colours hidden under alpha = 0).
ALPHA_BACKGROUND = (255, 255, 255)

#: EXIF orientations that swap width and height.
_SWAPS = {5, 6, 7, 8}


class DecodeError(Exception):
    """An image (or a box on it) that cannot be used; the message is stored in
    the row's ``error`` field."""


@dataclass
class Decoded:
    """An RGB image as displayed, possibly decoded at reduced size.

    ``size`` is the full displayed size (width, height) that boxes refer to;
    ``scale`` = (decoded width / full width, decoded height / full height):
    a full-size pixel coordinate x maps to ``x * scale[0]`` in ``image``.
    """

    image: Image.Image
    size: tuple[int, int]
    scale: tuple[float, float]
    draft: int = 1  # the JPEG DCT reduction used (1, 2, 4 or 8)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text


def open_image(path: str, max_reduction: Callable[[int, int], float] | None = None) -> Decoded:
    """Open ``path`` as an RGB image in displayed orientation.

    ``max_reduction(width, height)`` (full displayed size) returns the largest
    factor by which the image may be shrunk without losing pixels the model
    uses; JPEGs are then decoded with ``draft`` at a DCT scale not above it.
    Raises :class:`DecodeError` with a clear message for any bad file.
    """
    return _guarded(path, lambda im: _decode(im, max_reduction))


def open_for_items(path: str, reductions: Callable[[int, int], list[float]]) -> list[Decoded]:
    """Decode once per distinct DCT scale that the items need.

    ``reductions(width, height)`` gives each item's largest lossless
    reduction; each item gets the image decoded at the scale its own
    reduction picks, so its pixels never depend on which other items share
    the batch (a resumed run equals an uninterrupted one). The coarse scales
    are cheap: 1/4 decodes 1/16 of the pixels.
    """
    def first(im):
        orient = _orientation(im)
        sw, sh = im.size
        full = (sh, sw) if orient in _SWAPS else (sw, sh)
        rs = list(reductions(*full))
        if im.format != "JPEG" or not rs:
            dec = _decode(im, None)
            return [dec] * len(rs)
        scales = [_draft_scale(sw, sh, r) for r in rs]
        order = sorted(set(scales))
        by_scale = {order[0]: _decode(im, lambda w, h: float(rs[scales.index(order[0])]))}
        for sc in order[1:]:
            r = float(rs[scales.index(sc)])
            by_scale[sc] = _guarded(path, lambda im2: _decode(im2, lambda w, h: r))
        return [by_scale[sc] for sc in scales]
    return _guarded(path, first)


def _draft_scale(sw: int, sh: int, r: float) -> int:
    """The DCT scale Pillow's ``draft`` picks for a reduction ``r`` (see _decode)."""
    if r < 2:
        return 1
    req = (max(1, math.ceil(sw / r)), max(1, math.ceil(sh / r)))
    scale = min(sw // req[0], sh // req[1])
    for s in (8, 4, 2, 1):
        if scale >= s:
            return s
    return 1


def _guarded(path: str, use):
    """Open ``path`` and apply ``use`` to the image, turning every way a file
    can be bad into a :class:`DecodeError`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DecodeError("file not found") from None
    except OSError as e:
        raise DecodeError(f"cannot read file: {e.strerror or e}") from None
    kind = not_regular_mode(st.st_mode)  # before opening: a FIFO would block the decoder
    if kind:
        raise DecodeError(kind)
    if st.st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Above Pillow's limit (89 Mpx) it only warns; above twice that it
            # raises DecompressionBombError, which we report as a failed row.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
            try:
                out = use(im)
            except BaseException:
                im.close()
                raise
            decs = out if isinstance(out, list) else [out]
            if any(d.image is im for d in decs) and getattr(im, "fp", None) is not None:
                copy = im.copy()  # multi-frame files keep their handle open
                for d in decs:
                    if d.image is im:
                        d.image = copy
            if not any(d.image is im for d in decs):
                im.close()
            return out
    except DecodeError:
        raise
    except Image.DecompressionBombError as e:
        raise DecodeError(f"refused as a possible decompression bomb: {_describe(e)}") from None
    except UnidentifiedImageError:
        raise DecodeError("not an image (Pillow cannot identify the format)") from None
    except PermissionError as e:
        raise DecodeError(f"cannot read file: {e.strerror or e}") from None
    except MemoryError:
        raise DecodeError("out of memory decoding the image") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as e:
        msg = _describe(e)
        if "truncated" in msg:
            raise DecodeError(f"truncated or corrupt image: {msg}") from None
        raise DecodeError(f"cannot decode image: {msg}") from None


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # unreadable EXIF: shown as stored, like most viewers do
        return 1


def _decode(im: Image.Image, max_reduction) -> Decoded:
    orient = _orientation(im)
    sw, sh = im.size
    if sw <= 0 or sh <= 0:
        raise DecodeError(f"image has no pixels ({sw}x{sh})")
    full = (sh, sw) if orient in _SWAPS else (sw, sh)
    draft = 1
    if max_reduction is not None and im.format == "JPEG":
        r = max_reduction(*full)
        if r >= 2:
            req = (max(1, math.ceil(sw / r)), max(1, math.ceil(sh / r)))
            got = im.draft(None, req)
            if got is not None:
                draft = round(sw / im.size[0]) if im.size[0] else 1
    im.load()
    if orient != 1:
        try:
            im = ImageOps.exif_transpose(im)
        except Exception:  # pragma: no cover - Pillow versions differ
            pass
    rgb = to_rgb(im)
    w, h = rgb.size
    return Decoded(rgb, (int(full[0]), int(full[1])), (w / full[0], h / full[1]), draft)


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: 16- and 32-bit greys scaled (not
    clipped, as ``convert`` does), alpha composited onto white, CMYK,
    palette and grey converted."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a).convert("RGB")
    if mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        top = 1.0 if a.max(initial=0) <= 1.0 else 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a).convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(bg, im).convert("RGB")
    return im.convert("RGB")


# ----------------------------------------------------------------- boxes


def clip_box(box, size: tuple[int, int]) -> tuple[tuple[float, float, float, float], bool]:
    """Clip an xyxy box to the image; return the box and whether it was
    clipped. Raises :class:`DecodeError` for NaN, empty or outside boxes."""
    w, h = size
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise DecodeError(f"box has a non-finite coordinate: {list(box)}")
    if x2 <= x1 or y2 <= y1:
        raise DecodeError(f"box has zero or negative area: {list(box)} (x1 y1 x2 y2)")
    c = (min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h))
    if c[2] - c[0] <= 0 or c[3] - c[1] <= 0:
        raise DecodeError(f"box {list(box)} lies outside the image ({w}x{h})")
    return c, c != (x1, y1, x2, y2)


def grow_box(box, context: float, size: tuple[int, int]):
    """The box grown by ``context`` times its width (height) on each side,
    clamped to the image."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * context, (y2 - y1) * context
    w, h = size
    return (max(0.0, x1 - dx), max(0.0, y1 - dy), min(float(w), x2 + dx), min(float(h), y2 + dy))


def crop(dec: Decoded, box) -> Image.Image:
    """Cut a full-size-pixel box out of the (possibly reduced) decoded image,
    rounding outwards to whole decoded pixels, at least one pixel."""
    sx, sy = dec.scale
    w, h = dec.image.size
    x1 = min(max(int(math.floor(box[0] * sx)), 0), w - 1)
    y1 = min(max(int(math.floor(box[1] * sy)), 0), h - 1)
    x2 = max(min(int(math.ceil(box[2] * sx)), w), x1 + 1)
    y2 = max(min(int(math.ceil(box[3] * sy)), h), y1 + 1)
    return dec.image.crop((x1, y1, x2, y2))
