"""Pool mode through the whole pipeline (draft decode, EXIF, squash resize,
overlap weights) with the real EfficientNet-Lite0 weights: a distinctive
patch pasted at a known place of a non-square photo; the pooled embedding of
the box around it is nearest to the patch's crop embedding, at the corner,
the far edge and the middle, with a box reaching outside the image, and the
same when the file is stored rotated and shown upright by EXIF."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from featurize.cli import main
from featurize_fixtures import read, sample_photos

SIZE = (1680, 1000)  # non-square; JPEG decoded at 1/4 scale (draft)
PATCH = (500, 440)
PLACES = [(0, 0), (SIZE[0] - PATCH[0], SIZE[1] - PATCH[1]), (600, 300)]  # corner, far edge, middle


def _box(place, grow=0.0):
    x, y = place
    return (x - grow, y - grow, x + PATCH[0] + grow, y + PATCH[1] + grow)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("pool")
    china, flower = (Image.open(p).convert("RGB") for p in sample_photos())
    bg = china.resize(SIZE, Image.Resampling.BICUBIC)
    patch = flower.crop((100, 50, 500, 400)).resize(PATCH, Image.Resampling.BICUBIC)
    lines = []
    for k, place in enumerate(PLACES):
        im = bg.copy()
        im.paste(patch, place)
        im.save(d / f"img{k}.jpg", "JPEG", quality=92)
        if k == 1:  # also stored rotated, shown upright by EXIF orientation 6
            exif = Image.Exif()
            exif[0x0112] = 6
            im.transpose(Image.Transpose.ROTATE_90).save(d / "rotated.jpg", "JPEG", quality=92,
                                                         exif=exif.tobytes())
    names = [f"img{k}.jpg" for k in range(len(PLACES))] + ["rotated.jpg"]
    for name in names:
        for place in PLACES:
            lines.append(f"{d / name} " + " ".join(f"{v:g}" for v in _box(place)))
    # the corner patch's box reaching outside the image: clipped to the same box
    lines.append(f"{d / 'img0.jpg'} -40 -30 {PATCH[0]} {PATCH[1]}")
    (d / "refs.txt").write_text("\n".join(lines) + "\n")
    return d


def _features(d, mode, capsys):
    out = d / f"{mode}.h5"
    rc = main([str(d / "refs.txt"), "-o", str(out), "--model", "effnet-lite0", "--box-mode", mode,
               "--context", "0", "--precision", "fp32", "--device", "cpu", "--workers", "0", "-q"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "1 boxes clipped" in err
    return read(out)["features"].astype(np.float64)


def test_pooled_patch_box_is_nearest_the_patch_crop(scene, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pool = _features(scene, "pool", capsys)
    crop = _features(scene, "crop", capsys)
    n = len(PLACES)
    for k in range(n):
        rows = slice(k * n, (k + 1) * n)  # the boxes of image k; the patch is at place k
        sim = pool[rows] @ crop[rows].T
        assert sim[k].argmax() == k, (k, np.round(sim, 2))
        assert sim[:, k].argmax() == k, (k, np.round(sim, 2))
    # rotated.jpg (rows 3n..4n) shows img1: the same rows in both modes
    for f in (pool, crop):
        assert np.min(np.sum(f[n:2 * n] * f[3 * n:4 * n], 1)) > 0.97
    # the clipped box equals the corner patch box
    assert float(pool[-1] @ pool[0]) > 0.999 and float(crop[-1] @ crop[0]) > 0.999
