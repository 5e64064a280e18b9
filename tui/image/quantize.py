"""Palettes for the terminal that keep what a person must see: every grey level, faint cracks.

Why our own: Pillow's fast octree gives a greyscale solar cell 7 to 10 grey levels out of
150 (visible bands over the very defects people look for), and median cut, which keeps
them, takes 0.6-1 s on a colour photo. Pictures here are mostly one of two kinds, so:
- at most `colors` distinct colours (a greyscale picture, a letterbox, a drawn box):
  the exact palette, lossless;
- mostly grey with some colour (a grey cell with the yellow box outline): the grey
  pixels keep up to `colors - 32` levels (all of them when they fit, else levels at
  their quantiles), the others share 32 octree colours;
- a colour photo: the fast octree over all `colors` entries (33-35 dB at 256).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

COLOUR_SLOTS = 32     # palette entries for the non-grey pixels of a mostly grey picture
GREY_TOLERANCE = 2    # channels this close count as grey (JPEG and resizing leave such tints)


def quantize(canvas: Image.Image, colors: int = 256) -> Image.Image:
    """`canvas` (RGB) as a palette image of at most `colors` entries (2..256)."""
    colors = max(2, min(256, int(colors)))
    rgb = np.asarray(canvas.convert("RGB"))
    h, w, _ = rgb.shape
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) \
        | rgb[..., 2]
    flat = packed.ravel()
    # a sample first: a photo shows more than `colors` colours in a few thousand pixels,
    # and the full sort (a third of a second at 1000x700) is spent only where it may pay
    sample = flat[:: max(1, len(flat) // 8192)]
    if len(np.unique(sample)) <= colors:
        uniq, inv = np.unique(flat, return_inverse=True)
        if len(uniq) <= colors:                               # exact: nothing lost
            pal = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1)
            return _palette_image(inv.reshape(h, w), pal)
    spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    grey = spread <= GREY_TOLERANCE
    if grey.mean() < 0.5:
        return canvas.quantize(colors=colors, method=Image.Quantize.FASTOCTREE,
                               dither=Image.Dither.NONE)
    return _mostly_grey(rgb, grey, colors)


def _mostly_grey(rgb: np.ndarray, grey: np.ndarray, colors: int) -> Image.Image:
    h, w, _ = rgb.shape
    luma = np.rint(rgb.mean(axis=2)).astype(np.int64)
    others = ~grey
    slots = min(COLOUR_SLOTS, colors // 8) if others.any() else 0
    levels = np.unique(luma[grey])
    room = colors - slots
    if len(levels) > room:       # more levels than entries: levels at the quantiles
        levels = np.unique(np.quantile(luma[grey], np.linspace(0, 1, room)).round().astype(int))
    # each grey value 0..255 to its nearest level
    pos = np.clip(np.searchsorted(levels, np.arange(256)), 1, len(levels) - 1) \
        if len(levels) > 1 else np.zeros(256, int)
    if len(levels) > 1:
        lower = levels[pos - 1]
        nearest = np.where(np.abs(np.arange(256) - lower) <= np.abs(levels[pos] - np.arange(256)),
                           pos - 1, pos)
    else:
        nearest = np.zeros(256, int)
    index = nearest[luma]
    pal = [np.repeat(levels[:, None], 3, 1)]
    if slots:
        pixels = Image.fromarray(rgb[others][None, :, :])
        q = pixels.quantize(colors=slots, method=Image.Quantize.FASTOCTREE,
                            dither=Image.Dither.NONE)
        qi = np.asarray(q)[0].astype(np.int64)
        qpal = np.asarray(q.getpalette()[:3 * slots], np.int64).reshape(-1, 3)
        index[others] = len(levels) + qi
        pal.append(qpal)
    return _palette_image(index, np.concatenate(pal))


def _palette_image(index: np.ndarray, palette: np.ndarray) -> Image.Image:
    img = Image.fromarray(index.astype(np.uint8), "P")
    flat = np.zeros((256, 3), np.uint8)
    flat[:len(palette)] = palette
    img.putpalette(flat.ravel().tolist())
    return img
