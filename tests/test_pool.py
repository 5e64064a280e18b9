"""Preprocessing geometry and pool mode: boxes land on the right patch tokens.

The geometry is checked three ways: pixel-identical to timm's and open_clip's
own eval transforms; a bright blob lands where `input_geometry` maps it (also
after a reduced JPEG decode); and, with the real EfficientNet-Lite0 weights, a
distinctive patch pasted at a known place in a real photo is found by pooling
the tokens under its box.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from featurize.models import load_backbone
from featurize.pool import box_patch_weights, pool_tokens, whole_image_weights
from featurize.preprocess import Preprocess, input_geometry, min_decode_size, to_tensor
from featurize.registry import MODELS

EFF = MODELS["effnet-lite0"].preprocess  # shortest side, crop_pct 0.875
DINO = MODELS["dinov2reg-s"].preprocess  # shortest side, crop_pct 1.0
SIGLIP = MODELS["siglip2-b16"].preprocess  # squash
WIDE = Preprocess((96, 160), "shortest", 0.9, "bilinear", (0.5,) * 3, (0.25,) * 3)  # non-square input
SIZES = [(640, 427), (427, 640), (333, 101), (101, 333), (224, 224), (7, 500)]


def _photo(w, h, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize((w, h), Image.Resampling.BILINEAR)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("pre", [EFF, DINO, WIDE], ids=["effnet", "dinov2", "wide"])
def test_to_tensor_is_timm_eval_transform(size, pre):
    import timm.data
    img = _photo(*size)
    tf = timm.data.create_transform(input_size=(3, *pre.size), interpolation=pre.interpolation, mean=pre.mean,
                                    std=pre.std, crop_pct=pre.crop_pct, crop_mode="center")
    assert torch.equal(tf(img), to_tensor(img, pre))


@pytest.mark.parametrize("size", SIZES)
def test_to_tensor_is_open_clip_squash_transform(size):
    import open_clip
    img = _photo(*size)
    tf = open_clip.image_transform(SIGLIP.size[0], is_train=False, mean=SIGLIP.mean, std=SIGLIP.std,
                                   interpolation="bicubic", resize_mode="squash")
    assert torch.equal(tf(img), to_tensor(img, SIGLIP))


def _blob_image(w, h, cx, cy, r=6):
    a = np.zeros((h, w, 3), np.uint8)
    a[cy - r:cy + r, cx - r:cx + r] = 255
    return Image.fromarray(a)


def _centroid(t: torch.Tensor, pre: Preprocess):
    v = (t[0] * pre.std[0] + pre.mean[0]).clamp(min=0).numpy()
    ys, xs = np.mgrid[0:v.shape[0], 0:v.shape[1]]
    return (v * (xs + 0.5)).sum() / v.sum(), (v * (ys + 0.5)).sum() / v.sum()


@pytest.mark.parametrize("pre", [EFF, DINO, SIGLIP, WIDE], ids=["effnet", "dinov2", "siglip", "wide"])
@pytest.mark.parametrize("w,h,cx,cy", [(640, 427, 320, 200), (640, 427, 200, 80), (427, 640, 330, 380),
                                       (300, 120, 150, 100), (120, 300, 20, 150)])
def test_a_point_lands_where_the_geometry_says(pre, w, h, cx, cy):
    g = input_geometry(w, h, pre)
    ex, ey = cx * g.sx + g.ox, cy * g.sy + g.oy  # the blob's centre (pixel edges: 2r wide from cx - r)
    H, W = pre.size
    assert 4 < ex < W - 4 and 4 < ey < H - 4, "test case: the blob must lie inside the crop"
    mx, my = _centroid(to_tensor(_blob_image(w, h, cx, cy), pre), pre)
    assert abs(mx - ex) < 0.2 and abs(my - ey) < 0.2, (mx, my, ex, ey)
    assert np.allclose(g.map_box([cx, cy, cx, cy])[:2], [ex, ey])


@pytest.mark.parametrize("w,h,cx,cy", [(1600, 1200, 700, 300), (1200, 1700, 900, 1100)])
def test_reduced_jpeg_decode_keeps_the_mapping(w, h, cx, cy):
    buf = io.BytesIO()
    _blob_image(w, h, cx, cy, r=24).save(buf, "JPEG", quality=95)
    for pre in (DINO, SIGLIP):
        img = Image.open(io.BytesIO(buf.getvalue()))
        need = min_decode_size(w, h, pre)
        img.draft("RGB", need)
        assert img.size[0] >= need[0] and img.size[1] >= need[1] and img.size[0] < w  # really decoded smaller
        t = to_tensor(img, pre, orig_size=(w, h))
        g = input_geometry(w, h, pre)
        mx, my = _centroid(t, pre)
        assert abs(mx - (cx * g.sx + g.ox)) < 0.5 and abs(my - (cy * g.sy + g.oy)) < 0.5


def test_preprocess_json_round_trip_and_validation():
    for pre in (EFF, SIGLIP, WIDE, EFF.for_pool()):
        assert Preprocess.from_json(pre.to_json()) == pre
    assert EFF.for_pool().resize == "squash" and EFF.for_pool().crop_pct == 1.0
    with pytest.raises(ValueError, match="resize"):
        Preprocess((224, 224), "letterbox")
    with pytest.raises(ValueError, match="crop_pct"):
        Preprocess((224, 224), "shortest", 1.5)
    with pytest.raises(ValueError, match="size"):
        input_geometry(0, 10, EFF)


# ------------------------------------------------------------------ box weights

def test_box_weights_area_fractions():
    w = box_patch_weights([10, 20, 40, 30], (4, 5), 16)  # x 10..40, y 20..30
    assert w.shape == (4, 5)
    assert w.sum() == pytest.approx(30 * 10 / 256)
    assert w[1, 0] == pytest.approx(6 * 10 / 256)  # cell x 0..16, y 16..32
    assert w[1, 1] == pytest.approx(16 * 10 / 256)
    assert w[1, 2] == pytest.approx(8 * 10 / 256)
    assert w[0].sum() == 0 and w[2:].sum() == 0 and w[:, 3:].sum() == 0


def test_box_weights_exact_cell_half_cell_and_whole_grid():
    one = box_patch_weights([14, 28, 28, 42], (4, 4), 14)
    assert one[2, 1] == 1 and one.sum() == 1
    half = box_patch_weights([14, 28, 21, 42], (4, 4), 14)
    assert half[2, 1] == 0.5 and half.sum() == 0.5
    assert np.array_equal(box_patch_weights([0, 0, 56, 56], (4, 4), 14), whole_image_weights((4, 4)))
    assert np.array_equal(box_patch_weights([56, 56, 0, 0], (4, 4), 14), whole_image_weights((4, 4)))  # reversed


def test_box_weights_clip_at_the_edges():
    w = box_patch_weights([-30, 50, 10, 100], (4, 4), 16)  # hangs over the left and bottom edges
    assert w[:, 0] == pytest.approx([0, 0, 0, (10 / 16) * (14 / 16)])  # x 0..10 of 16, y 50..64 of 48..64
    assert w[:, 1:].sum() == 0


def test_box_weights_outside_or_empty_fall_back_to_the_nearest_cell():
    w = box_patch_weights([100, -40, 120, -20], (4, 4), 16)  # right of and above the grid
    assert w[0, 3] == 1 and w.sum() == 1
    w = box_patch_weights([-50, 30, -10, 40], (4, 4), 16)
    assert w[2, 0] == 1 and w.sum() == 1
    w = box_patch_weights([20, 40, 20, 60], (4, 4), 16)  # zero width: the cell under its centre
    assert w[3, 1] == 1 and w.sum() == 1
    with pytest.raises(ValueError):
        box_patch_weights([0, 0, float("nan"), 5], (4, 4), 16)


def test_pool_tokens_weighted_means():
    g = torch.arange(4 * 4 * 3, dtype=torch.float32).reshape(4, 4, 3)
    one = box_patch_weights([14, 28, 28, 42], (4, 4), 14)
    ws = [one, whole_image_weights((4, 4)), box_patch_weights([0, 0, 21, 14], (4, 4), 14)]
    out = pool_tokens(g.to(torch.bfloat16), ws)
    assert out.shape == (3, 3) and out.dtype == torch.float32
    assert torch.equal(out[0], g[2, 1])
    assert torch.allclose(out[1], g.reshape(-1, 3).mean(0))
    assert torch.allclose(out[2], (g[0, 0] + 0.5 * g[0, 1]) / 1.5)
    assert pool_tokens(g, []).shape == (0, 3)
    with pytest.raises(ValueError):
        pool_tokens(g, [np.zeros((4, 4))])


# ------------------------------------------------------- the distinctive patch

@pytest.fixture(scope="module")
def effnet():
    return load_backbone("effnet-lite0")


@pytest.fixture(scope="module")
def photos():
    from sklearn.datasets import load_sample_images
    china, flower = (Image.fromarray(a) for a in load_sample_images().images)
    return china, flower.crop((200, 60, 520, 380))


def _similarities(b, photo, patch, pos, psz, pre):
    """Cosine of the patch's crop embedding with the pooled box around it (first) and boxes elsewhere."""
    img = photo.copy()
    img.paste(patch.resize(psz, Image.Resampling.BICUBIC), pos)
    W, H = img.size
    true = (pos[0], pos[1], pos[0] + psz[0], pos[1] + psz[1])
    cands = [true]
    for x1 in np.linspace(0, W - psz[0], 6):
        for y1 in np.linspace(0, H - psz[1], 6):
            c = (x1, y1, x1 + psz[0], y1 + psz[1])
            if c[2] <= true[0] or c[0] >= true[2] or c[3] <= true[1] or c[1] >= true[3]:
                cands.append(c)  # no overlap with the patch
    cands.append((W - true[2], H - true[3], W - true[0], H - true[1]))  # the point-mirrored box
    with torch.no_grad():
        crop = b.embed(to_tensor(img.crop(true), b.preprocess)[None])[0]
        grid = b.patch_grid(to_tensor(img, pre)[None])[0]
    g = input_geometry(W, H, pre)
    pooled = pool_tokens(grid, [box_patch_weights(g.map_box(c), grid.shape[:2], b.patch_size) for c in cands])
    return torch.nn.functional.cosine_similarity(pooled, crop[None], dim=-1)


CORNERS = ["top-left", "top-right", "bottom-middle", "left-middle", "bottom-right"]


def _positions(W, H, pw, ph):
    return [(0, 0), (W - pw, 10), (W // 2 - 60, H - ph), (30, H // 2 - 20), (W - pw, H - ph)]


@pytest.mark.parametrize("where", range(5), ids=CORNERS)
@pytest.mark.parametrize("portrait", [False, True], ids=["landscape", "portrait"])
@pytest.mark.parametrize("psz", [(150, 150), (200, 140)], ids=["square", "wide"])
def test_pooled_box_finds_the_pasted_patch(effnet, photos, where, portrait, psz):
    """Pool mode's squash view: a box at the image edges and corners still sees its own patch."""
    photo, patch = photos
    if portrait:
        photo = photo.transpose(Image.Transpose.TRANSPOSE)  # 427 x 640
    pos = _positions(*photo.size, *psz)[where]
    s = _similarities(effnet, photo, patch, pos, psz, effnet.preprocess.for_pool())
    assert int(s.argmax()) == 0, s.tolist()


@pytest.mark.parametrize("pos,psz", [((260, 277), (150, 150)), ((440, 10), (200, 140)), ((260, 287), (200, 140))])
def test_pooled_box_through_the_centre_crop(effnet, photos, pos, psz):
    """The model's own shortest-side + centre-crop view: boxes inside the crop map through its offset."""
    photo, patch = photos
    s = _similarities(effnet, photo, patch, pos, psz, effnet.preprocess)
    assert int(s.argmax()) == 0, s.tolist()


def test_whole_image_pool_is_the_effnet_embedding(effnet, photos):
    x = to_tensor(photos[0], effnet.preprocess.for_pool())[None]
    with torch.no_grad():
        grid, emb = effnet.patch_grid(x)[0], effnet.embed(x)[0]
    assert torch.allclose(pool_tokens(grid, [whole_image_weights(grid.shape[:2])])[0], emb, atol=1e-5)
