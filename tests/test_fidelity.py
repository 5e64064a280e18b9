"""What the terminal receives keeps the picture (issue 13, fidelity): judged on the bytes sent.

Sixel bytes are decoded with an independent decoder (tests/sixel_decoder.py), kitty's
PNG with Pillow, and both are compared with the picture the app rendered, at the size a
1000x700 px pane gets, with the app's default settings. Before the fix a greyscale solar
cell reached the screen with 7 grey levels out of ~100 (fast octree quantizer).
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image
from sixel_decoder import decode, psnr

from tui.image import encoders
from tui.app.image_pane import DEFAULT_COLORS, DEFAULT_MAX_PX
from tui.image.render import render_item

PANE = (1000, 696)            # a 1000x700 px pane, the sixel height a multiple of 6


def elpv_cells(n=3):
    pytest.importorskip("elpv_dataset")
    from elpv_dataset.utils import load_dataset

    images, _, _ = load_dataset()
    return [Image.fromarray(images[i]).convert("RGB") for i in (0, 5, 11)[:n]]


def photos():
    from sklearn.datasets import load_sample_images

    return [Image.fromarray(p) for p in load_sample_images().images]


def as_percent(rgb: np.ndarray) -> np.ndarray:
    """What a sixel colour register can hold: each channel in whole percent, as terminals
    turn it back into 8 bits."""
    pct = (rgb.astype(np.int64) * 100 + 127) // 255
    return np.rint(pct * 255 / 100).astype(np.uint8)


def sent_sixel(canvas):
    data = encoders.sixel_encode(canvas, DEFAULT_COLORS["sixel"])
    rgb, mask, _ = decode(data)
    assert mask.all(), "pixels the sixel leaves unset show whatever was there before"
    return rgb, len(data.encode())


def sent_kitty(canvas):
    keys, data = encoders.kitty_payload(canvas, "png", DEFAULT_COLORS["kitty"])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), len(data)


def kitty_canvas(image):
    scale = min(1.0, DEFAULT_MAX_PX["kitty"] / max(PANE))
    return encoders.letterbox(image, (round(PANE[0] * scale), round(PANE[1] * scale)))


def test_greyscale_cells_keep_every_grey_level():
    for cell in elpv_cells():
        canvas = encoders.letterbox(cell, PANE)
        ref = np.asarray(canvas)
        rgb, size = sent_sixel(canvas)
        # every level, to the precision a sixel register has (whole percent)
        assert np.array_equal(rgb, as_percent(ref))
        assert len(np.unique(rgb)) == len(np.unique(as_percent(ref))) > 30
        assert size <= 1_000_000
        got, size = sent_kitty(kitty_canvas(cell))
        assert np.array_equal(got, np.asarray(kitty_canvas(cell)))     # lossless
        assert size <= 600_000


def test_a_grey_cell_with_its_box_drawn_keeps_its_grey_levels():
    """The crop view: a grey cell plus the yellow outline is not a grey picture any more."""
    import tempfile

    cell = elpv_cells(1)[0]
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/cell.png"
        cell.save(path)
        pic = render_item(path, (60, 60, 240, 200), view="whole", size_px=PANE)
    canvas = encoders.letterbox(pic, PANE)
    ref = np.asarray(canvas)
    rgb, _ = sent_sixel(canvas)
    grey = (ref.max(axis=2) - ref.min(axis=2).astype(int)) == 0
    assert grey.mean() > 0.5
    assert np.abs(rgb[grey].astype(int) - as_percent(ref)[grey]).max() <= 1
    assert psnr(rgb, ref) >= 40


@pytest.mark.parametrize("index", [0, 1])
def test_colour_photos_sixel_at_least_32_db_and_kitty_lossless(index):
    photo = photos()[index]
    canvas = encoders.letterbox(photo, PANE)
    rgb, size = sent_sixel(canvas)
    assert psnr(rgb, np.asarray(canvas)) >= 32
    assert size <= 1_000_000
    kc = kitty_canvas(photo)
    got, size = sent_kitty(kc)
    assert np.array_equal(got, np.asarray(kc)) and size <= 600_000


def test_kitty_upload_carries_the_lossless_png():
    """The payload as sent (base64 in APC chunks) decodes to the same picture."""
    photo = photos()[1]
    kc = kitty_canvas(photo)
    seq = encoders.kitty_upload(7, kc, passthrough=False, colors=DEFAULT_COLORS["kitty"])
    payload = "".join(re.findall(r"\x1b_G[^;]*;([^\x1b]*)\x1b\\", seq))
    got = np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB"))
    assert np.array_equal(got, np.asarray(kc))
