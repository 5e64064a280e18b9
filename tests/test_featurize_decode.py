"""Decoding: every bad file becomes a clear message; odd modes, EXIF and
draft decoding give the pixels a viewer shows, at the right place."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featurize.decode import DecodeError, clip_box, crop, grow_box, open_image
from featurize.preprocess import Preprocess, min_decode_size

sys.path.insert(0, str(Path(__file__).parent / "data"))
import make_bad  # noqa: E402

BAD = Path(__file__).parent / "data" / "bad"


@pytest.mark.parametrize("name", sorted(make_bad.EXPECTED))
def test_bad_corpus_file(name):
    expected = make_bad.EXPECTED[name]
    if expected is None:
        dec = open_image(str(BAD / name))
        assert dec.image.mode == "RGB"
        assert dec.image.size == dec.size
        a = np.asarray(dec.image)
        assert 20 < a.mean() < 240 and a.std() > 5, "a real picture, not a flat or clipped one"
    else:
        with pytest.raises(DecodeError) as e:
            open_image(str(BAD / name))
        assert expected in str(e.value)


def test_corpus_script_regenerates_the_committed_files(tmp_path):
    make_bad.write(tmp_path)
    for name, exp in make_bad.EXPECTED.items():
        if name == "missing.jpg":
            assert not (BAD / name).exists()
            continue
        assert (tmp_path / name).read_bytes() == (BAD / name).read_bytes(), name


def test_16bit_grey_is_scaled_not_clipped():
    a16 = np.asarray(Image.open(BAD / "gray16.png"), dtype=np.float64)
    rgb = np.asarray(open_image(str(BAD / "gray16.png")).image, dtype=np.float64)
    assert np.abs(rgb[..., 0] - a16 / 257.0).max() <= 1.0
    assert (rgb[..., 0] == rgb[..., 1]).all()


def test_alpha_is_composited_on_white():
    rgba = np.asarray(Image.open(BAD / "alpha.png").convert("RGBA"), dtype=np.float64)
    rgb = np.asarray(open_image(str(BAD / "alpha.png")).image, dtype=np.float64)
    t = rgba[..., 3:] / 255.0
    want = rgba[..., :3] * t + 255.0 * (1 - t)
    assert np.abs(rgb - want).max() <= 1.5


@pytest.mark.parametrize("reduction", [1.0, 2.0])
def test_exif_rotated_box_is_in_displayed_orientation(reduction):
    dec = open_image(str(BAD / "exif-rotated.jpg"), lambda w, h: reduction)
    assert dec.size == make_bad.EXIF_SIZE
    assert dec.draft == int(reduction)
    red = np.asarray(crop(dec, make_bad.EXIF_RED_BOX), dtype=np.float64).reshape(-1, 3).mean(0)
    assert red[0] > 180 and red[1] < 60 and red[2] < 60
    # the same place in stored orientation is grey: the box was not applied to the raw pixels
    raw = Image.open(BAD / "exif-rotated.jpg").convert("RGB")
    assert raw.size == make_bad.EXIF_SIZE[::-1]
    grey = np.asarray(raw.crop((80, 10, 110, 40)), dtype=np.float64).reshape(-1, 3).mean(0)
    assert abs(grey[0] - grey[1]) < 40


def test_draft_decodes_large_jpeg_small_and_boxes_still_land(tmp_path):
    from featurize_fixtures import sample_photos
    big = Image.open(sample_photos()[0]).convert("RGB").resize((2048, 1366), Image.Resampling.BICUBIC)
    p = tmp_path / "big.jpg"
    big.save(p, "JPEG", quality=92)
    pre = Preprocess((224, 224), "shortest", 0.875)

    def need(w, h):
        mw, mh = min_decode_size(w, h, pre)
        return min(w / mw, h / mh)

    full = open_image(str(p))
    small = open_image(str(p), need)
    assert small.draft == 4 and small.size == (2048, 1366)
    assert min(small.image.size) >= min(min_decode_size(2048, 1366, pre))
    box = (900.0, 300.0, 1500.0, 900.0)
    a = np.asarray(crop(full, box).resize((64, 64), Image.Resampling.BOX), dtype=np.float64)
    b = np.asarray(crop(small, box).resize((64, 64), Image.Resampling.BOX), dtype=np.float64)
    assert np.abs(a - b).mean() < 6, "the reduced decode shows the same place"


def test_huge_image_decodes_quickly_with_draft(tmp_path):
    make_bad.write(tmp_path, huge=True)
    t = time.perf_counter()
    dec = open_image(str(tmp_path / "huge.jpg"), lambda w, h: min(w, h) / 256)
    assert dec.size == (8000, 6000) and dec.draft == 8 and dec.image.size == (1000, 750)
    assert time.perf_counter() - t < 20  # generous: 1/8 DCT scaling, not 48 Mpx


def test_clip_box_counts_and_refuses():
    assert clip_box((10, 10, 20, 20), (100, 50)) == ((10, 10, 20, 20), False)
    assert clip_box((-5, 10, 120, 60), (100, 50)) == ((0, 10, 100, 50), True)
    with pytest.raises(DecodeError, match="outside the image"):
        clip_box((150, 10, 160, 20), (100, 50))
    with pytest.raises(DecodeError, match="zero or negative"):
        clip_box((10, 10, 10, 20), (100, 50))
    with pytest.raises(DecodeError, match="non-finite"):
        clip_box((float("nan"), 10, 10, 20), (100, 50))


def test_grow_box_adds_context_and_clamps():
    assert grow_box((10, 10, 30, 20), 0.5, (100, 100)) == (0.0, 5.0, 40.0, 25.0)
    assert grow_box((90, 90, 100, 100), 0.15, (100, 100)) == (88.5, 88.5, 100.0, 100.0)


@pytest.mark.parametrize("resize", ["shortest", "squash"])
def test_uint8_batches_normalise_to_the_models_own_preprocessing(resize):
    import torch
    from featurize.dataset import normalize, to_uint8
    from featurize.preprocess import to_tensor
    from featurize_fixtures import sample_photos
    pre = Preprocess((56, 72), resize, 0.875, "bicubic", (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    for p in sample_photos():
        im = Image.open(p).convert("RGB")
        small = im.reduce(2)
        for img, orig in ((im, None), (small, im.size)):
            want = to_tensor(img, pre, orig_size=orig)
            got = normalize(to_uint8(img, pre, orig_size=orig)[None], pre)[0]
            assert got.dtype == torch.float32 and got.shape == want.shape
            assert torch.allclose(got, want, atol=1e-5)
