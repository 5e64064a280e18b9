"""render_item on real image files: orientation, crops, outline, odd modes, unreadable files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from tui.image.render import BACKGROUND, OUTLINE, render_item

CHINA = os.path.join(os.path.dirname(__import__("sklearn.datasets").datasets.__file__), "images", "china.jpg")
GRAY, RED = (128, 128, 128), (220, 20, 20)


def displayed_scene(w=600, h=400, obj=(400, 100, 500, 180)):
    """A gray picture with a red rectangle: what the person should see."""
    pic = Image.new("RGB", (w, h), GRAY)
    pic.paste(RED, obj)
    return pic


def save_rotated_jpeg(path, displayed: Image.Image, orientation=6):
    """Store the pixels rotated, with the EXIF tag that rotates them back for display."""
    inverse = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}
    raw = displayed.transpose(inverse[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    raw.save(path, "JPEG", quality=95, exif=exif.tobytes())


def near(px, colour, tol=40):
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(px, colour))


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_rotated_box_lands_on_object(tmp_path, orientation):
    path = tmp_path / "rot.jpg"
    obj = (400, 100, 500, 180)
    save_rotated_jpeg(path, displayed_scene(obj=obj), orientation)
    out = render_item(str(path), obj, view="whole", size_px=(600, 400))
    assert out.size == (600, 400) and out.mode == "RGB"
    assert near(out.getpixel((450, 140)), RED)              # object where it is displayed
    assert near(out.getpixel((100, 300)), GRAY)             # far from the box: untouched
    edge = [out.getpixel((450, y)) for y in range(94, 107)]  # crossing the top edge of the box
    assert any(near(p, OUTLINE, 60) for p in edge), edge
    assert any(near(p, (0, 0, 0), 40) for p in edge), edge
    # the same object never appears where a wrong rotation would have put it
    assert not near(out.getpixel((150, 260)), RED)


def test_big_jpeg_uses_draft_and_keeps_box(tmp_path):
    path = tmp_path / "big.jpg"
    obj = (1600, 400, 2000, 720)
    save_rotated_jpeg(path, displayed_scene(2400, 1600, obj), 6)
    out = render_item(str(path), obj, view="whole", size_px=(300, 200))
    assert out.size == (300, 200)
    assert near(out.getpixel((225, 70)), RED)
    edge = [out.getpixel((225, y)) for y in range(46, 55)]
    assert any(near(p, OUTLINE, 70) for p in edge), edge


def test_crop_shows_box_with_context(tmp_path):
    path = tmp_path / "plain.png"
    obj = (400, 100, 500, 180)
    displayed_scene(obj=obj).save(path)
    out = render_item(str(path), obj, view="crop", context=0.25, size_px=(300, 300))
    # region: 400-25..500+25 by 100-20..180+20 = 150 x 120, fit in 300x300 -> 300 x 240
    assert out.size == (300, 240)
    assert near(out.getpixel((150, 120)), RED)
    assert near(out.getpixel((5, 5)), GRAY)                  # the context around the box is shown
    assert near(out.getpixel((50, 120)), OUTLINE, 60)        # left edge at x = 25 / 150 * 300 = 50


def test_source_is_never_modified(tmp_path):
    path = tmp_path / "src.png"
    displayed_scene().save(path)
    before = path.read_bytes()
    render_item(str(path), (10, 10, 50, 50), size_px=(100, 100))
    assert path.read_bytes() == before


def test_real_photo_whole_and_crop():
    box = (100.0, 50.0, 300.0, 250.0)
    whole = render_item(CHINA, box, view="whole", size_px=(320, 320))
    assert whole.size == (320, 214)
    crop = render_item(CHINA, box, view="crop", size_px=(320, 320))
    assert crop.size == (320, 320)
    assert render_item(CHINA, None, size_px=(64, 64)).size == (64, 43)
    assert render_item(CHINA, (float("nan"),) * 4, size_px=(64, 64)).size == (64, 43)


def test_cmyk_16bit_palette_alpha(tmp_path):
    rgb = displayed_scene(120, 80, (60, 20, 100, 60))
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg")
    ramp = np.tile(np.linspace(0, 65535, 120, dtype=np.uint16), (80, 1))
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    pal.info["transparency"] = pal.getpixel((0, 0))
    pal.save(tmp_path / "pal.png", transparency=pal.getpixel((0, 0)))
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 0))
    rgba.save(tmp_path / "alpha.png")

    out = render_item(str(tmp_path / "cmyk.jpg"), None, size_px=(120, 80))
    assert out.mode == "RGB" and near(out.getpixel((80, 40)), RED, 60) and near(out.getpixel((5, 5)), GRAY)
    deep = render_item(str(tmp_path / "deep.png"), None, size_px=(120, 80))
    assert deep.getpixel((1, 40))[0] < 10 and deep.getpixel((118, 40))[0] > 245   # stretched, not clipped
    p = render_item(str(tmp_path / "pal.png"), None, size_px=(120, 80))
    assert near(p.getpixel((5, 5)), BACKGROUND, 5) and near(p.getpixel((80, 40)), RED, 60)
    a = render_item(str(tmp_path / "alpha.png"), None, size_px=(120, 80))
    assert near(a.getpixel((80, 40)), BACKGROUND, 5)          # fully transparent: background shows


def test_missing_and_corrupt_files_give_a_picture(tmp_path):
    missing = render_item(str(tmp_path / "nope.jpg"), (1, 1, 5, 5), size_px=(200, 100))
    assert missing.size == (200, 100)
    arr = np.asarray(missing)
    assert (arr[..., 0] > 200).any() and (arr == (60, 0, 0)).all(axis=-1).mean() > 0.8  # red card with text
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(open(CHINA, "rb").read()[:300])
    assert render_item(str(bad), None, size_px=(50, 40)).size == (50, 40)
    with pytest.raises(ValueError, match="view"):
        render_item(CHINA, None, view="zoom", size_px=(10, 10))
