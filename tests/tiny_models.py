"""Tiny random-weight checkpoints of the real backbone architectures, saved as a hub download would be.

Everyone's tests use these through `load_backbone(name, weights=PATH)` or
`featurize --model NAME --weights PATH`, offline. Each builder is seeded, so
the same call gives the same weights, and returns (path, model): the model is
the one that was saved, in eval mode, to compare outputs with.

- `tiny_dinov2reg(dir)`: timm `vit_small_patch14_reg4_dinov2` (4 registers,
  CLS token, layer scale) shrunk to embed_dim 32, depth 2, 2 heads, 56 px
  (a 4 x 4 grid of 14 px patches); a timm/HF folder: `config.json` (with
  `model_args`) + `model.safetensors`.
- `tiny_siglip2(dir)`: timm `vit_base_patch16_siglip_224` (SigLIP2's image
  tower: no class token, MAP attention-pool head) shrunk to 32-d, depth 2,
  64 px (4 x 4 grid of 16 px patches); a timm/HF folder.
- `tiny_open_clip(dir)`: an open_clip folder (`open_clip_config.json` +
  `open_clip_model.safetensors`) of ViT-B-16-SigLIP2's config shrunk: its text
  tower (SigLIP2's custom text settings) at width 32, and, since open_clip
  cannot shrink a timm trunk through its config, open_clip's own ViT
  (32-d, 2 layers, 8 px patches, 32 px) as the image tower; SigLIP
  preprocessing (squash, bicubic, mean/std 0.5).
- `tiny_vit_file(path)`: timm's registered tiny `test_vit` saved as one
  safetensors file, for `--model timm:test_vit --weights FILE`.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

DINO_ARGS = dict(embed_dim=32, depth=2, num_heads=2, img_size=56)
SIGLIP_ARGS = dict(embed_dim=32, depth=2, num_heads=2, img_size=64)
OPEN_CLIP_ARCH = "tiny-SigLIP2-test"
OPEN_CLIP_CFG = {
    "embed_dim": 32,
    "init_logit_bias": -10,
    "custom_text": True,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 2, "head_width": 16,
                   "mlp_ratio": 2.0, "pool_type": "avg"},
    "text_cfg": {"context_length": 16, "vocab_size": 256, "width": 32, "heads": 2, "layers": 1,
                 "no_causal_mask": True, "proj_bias": True, "pool_type": "last",
                 "norm_kwargs": {"eps": 1e-6}, "act_kwargs": {"approximate": "tanh"}},
}
OPEN_CLIP_PRE = {"size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                 "interpolation": "bicubic", "resize_mode": "squash"}


def _timm_folder(arch: str, args: dict, out: Path, seed: int):
    import timm
    torch.manual_seed(seed)
    model = timm.create_model(arch, pretrained=False, num_classes=0, **args).eval()
    out.mkdir(parents=True, exist_ok=True)
    timm.models.save_for_hf(model, str(out), model_args=dict(args), safe_serialization=True)
    return out, model


def tiny_dinov2reg(out: str | Path, seed: int = 0):
    """A timm/HF folder holding a tiny DINOv2-with-registers ViT."""
    return _timm_folder("vit_small_patch14_reg4_dinov2", DINO_ARGS, Path(out), seed)


def tiny_siglip2(out: str | Path, seed: int = 0):
    """A timm/HF folder holding a tiny SigLIP2 image tower (MAP head, no class token)."""
    return _timm_folder("vit_base_patch16_siglip_224", SIGLIP_ARGS, Path(out), seed)


def register_open_clip_arch() -> str:
    """Register the tiny config with open_clip (for `open_clip:ARCH:FILE` in this process)."""
    import open_clip
    if OPEN_CLIP_ARCH not in open_clip.list_models():
        import tempfile
        d = Path(tempfile.mkdtemp(prefix="tiny_oc_cfg_"))
        (d / f"{OPEN_CLIP_ARCH}.json").write_text(json.dumps(OPEN_CLIP_CFG))
        open_clip.add_model_config(d / f"{OPEN_CLIP_ARCH}.json")
    return OPEN_CLIP_ARCH


def tiny_open_clip(out: str | Path, seed: int = 0):
    """An open_clip folder: open_clip_config.json + open_clip_model.safetensors; returns (folder, full model)."""
    import open_clip
    from safetensors.torch import save_file
    register_open_clip_arch()
    torch.manual_seed(seed)
    model = open_clip.create_model(OPEN_CLIP_ARCH, pretrained=None).eval()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": OPEN_CLIP_CFG, "preprocess_cfg": OPEN_CLIP_PRE}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))
    return out, model


def tiny_open_clip_text(out: str | Path, seed: int = 0):
    """`tiny_open_clip` with a text tower that open_clip's own tokenizer fits, offline: the
    vocabulary of its bundled CLIP BPE (SimpleTokenizer, 49,408 tokens; SigLIP2's Gemma
    tokenizer is a hub download). For words to start from; returns (folder, full model)."""
    import copy

    import open_clip
    from safetensors.torch import save_file
    cfg = copy.deepcopy(OPEN_CLIP_CFG)
    cfg["text_cfg"]["vocab_size"] = 49408
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": OPEN_CLIP_PRE}))
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{out}", pretrained=None).eval()  # random: no weights yet
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "open_clip_model.safetensors"))
    return out, model


def tiny_vit_file(path: str | Path, seed: int = 0):
    """timm's tiny `test_vit` saved as a single safetensors file."""
    import timm
    from safetensors.torch import save_file
    torch.manual_seed(seed)
    model = timm.create_model("test_vit", pretrained=False, num_classes=0).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path, model


if __name__ == "__main__":  # python tests/tiny_models.py OUTDIR: write all of them
    import sys
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "tiny_models")
    for fn, sub in ((tiny_dinov2reg, "dinov2reg"), (tiny_siglip2, "siglip2"), (tiny_open_clip, "open_clip")):
        print(fn(root / sub)[0])
    print(tiny_vit_file(root / "test_vit.safetensors")[0])
