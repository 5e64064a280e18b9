"""A backbone's input preprocessing as data, and the exact geometry it applies.

Boxes in `pool` mode are mapped from original pixels to model-input pixels, so
the resize and crop must be known exactly: `input_geometry` computes them once
and `to_tensor` performs exactly that resize and crop with Pillow (the same
operations timm's and open_clip's eval transforms do on PIL images), so a point
lands where the geometry says.

Coordinates are continuous pixel coordinates: pixel (i, j) covers
[i, i+1) x [j, j+1), so an image of width w spans x in [0, w]. Pillow's resize
maps that span linearly onto the output span, hence a point x maps to x * sx.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

_INTERP = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
RESIZE_MODES = ("squash", "shortest")


@dataclass(frozen=True)
class Preprocess:
    """The model's own preprocessing; stored as JSON in the features file.

    resize: "squash" resizes straight to `size` (SigLIP); "shortest" resizes the
    shortest side to floor(size / crop_pct) and centre-crops `size` (timm's eval
    transform: DINOv2, EfficientNet). For a non-square `size` with "shortest",
    the image is scaled, keeping its aspect, to cover floor(size / crop_pct),
    then centre-cropped, as timm does.
    """

    size: tuple[int, int]  # (H, W)
    resize: str = "shortest"
    crop_pct: float = 1.0
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __post_init__(self):
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if self.interpolation not in _INTERP:
            raise ValueError(f"interpolation must be one of {tuple(_INTERP)}, got {self.interpolation!r}")
        if not 0 < self.crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct!r}")
        object.__setattr__(self, "size", tuple(int(s) for s in self.size))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Preprocess":
        d = json.loads(text)
        d["size"] = tuple(d["size"])
        d["mean"] = tuple(d["mean"])
        d["std"] = tuple(d["std"])
        return cls(**d)

    def for_pool(self) -> "Preprocess":
        """The variant for `pool` mode: squash, so the whole image is in view.

        A centre crop would cut off the sides of a non-square image, and boxes
        there would have no tokens under them; squashing keeps every box inside
        the grid at the price of an aspect change (what SigLIP does anyway).
        """
        return replace(self, resize="squash", crop_pct=1.0)


@dataclass(frozen=True)
class Geometry:
    """original pixel (x, y) -> model-input pixel (x * sx + ox, y * sy + oy)."""

    sx: float
    sy: float
    ox: float
    oy: float
    resize_wh: tuple[int, int]  # the intermediate size the image is resized to
    crop_xy: tuple[int, int]  # top-left corner of the crop in the resized image
    size: tuple[int, int]  # (H, W) of the model input

    def map_box(self, box) -> np.ndarray:
        """x1 y1 x2 y2 in original pixels -> the same box in model-input pixels."""
        b = np.asarray(box, dtype=np.float64)
        return np.array([b[0] * self.sx + self.ox, b[1] * self.sy + self.oy,
                         b[2] * self.sx + self.ox, b[3] * self.sy + self.oy])


def _resized_size(w: int, h: int, pre: Preprocess) -> tuple[int, int]:
    H, W = pre.size
    if pre.resize == "squash":
        return W, H
    if H == W:
        s = math.floor(H / pre.crop_pct)
        # torchvision's Resize(int) rule: shortest side to s, the other int(s * long / short)
        if w <= h:
            return s, int(s * h / w)
        return int(s * w / h), s
    # timm's ResizeKeepRatio: cover floor(size / crop_pct) keeping the aspect ratio
    th, tw = math.floor(H / pre.crop_pct), math.floor(W / pre.crop_pct)
    ratio = min(h / th, w / tw)
    return round(w / ratio), round(h / ratio)


def input_geometry(w: int, h: int, pre: Preprocess) -> Geometry:
    """The exact affine map from an original w x h image to the model input."""
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {w}x{h}")
    rw, rh = _resized_size(w, h, pre)
    H, W = pre.size
    left = int(round((rw - W) / 2.0))  # torchvision CenterCrop's rounding
    top = int(round((rh - H) / 2.0))
    return Geometry(sx=rw / w, sy=rh / h, ox=-float(left), oy=-float(top),
                    resize_wh=(rw, rh), crop_xy=(left, top), size=(H, W))


def min_decode_size(w: int, h: int, pre: Preprocess) -> tuple[int, int]:
    """Smallest decoded (w, h) that loses nothing at the model input.

    It is the intermediate resize size: decoding larger only to shrink to it
    adds no information. Pass it to `Image.draft("RGB", size)`, which keeps a
    scale whose result is at least this large. For a box crop, call it with the
    box's size and scale the result by image size / box size.
    """
    rw, rh = _resized_size(w, h, pre)
    return min(rw, w), min(rh, h)


def resize_crop(img: Image.Image, pre: Preprocess,
                orig_size: tuple[int, int] | None = None) -> Image.Image:
    """The RGB model input as a picture: resized and cropped exactly as
    `input_geometry` says (`orig_size`: the size before a reduced JPEG decode).
    The one place the geometry is applied, so every path maps boxes alike."""
    w, h = orig_size if orig_size is not None else img.size
    g = input_geometry(w, h, pre)
    if img.mode != "RGB":
        img = img.convert("RGB")
    if img.size != g.resize_wh:
        img = img.resize(g.resize_wh, _INTERP[pre.interpolation])
    H, W = pre.size
    left, top = g.crop_xy
    if (left, top) != (0, 0) or img.size != (W, H):
        img = img.crop((left, top, left + W, top + H))
    return img


def to_tensor(img: Image.Image, pre: Preprocess, orig_size: tuple[int, int] | None = None) -> torch.Tensor:
    """float32 [3, H, W], normalised, resized and cropped exactly as `input_geometry`.

    `orig_size` (w, h) is the size before a reduced JPEG decode (`draft`): the
    geometry is computed from it, and the decoded image is resized straight to
    the same intermediate size, so original-pixel boxes map exactly.
    """
    a = np.asarray(resize_crop(img, pre, orig_size), dtype=np.float32) / 255.0
    import torch      # here, not at the top: the command line reads this module before torch

    t = torch.from_numpy(a).permute(2, 0, 1)
    mean = torch.tensor(pre.mean, dtype=torch.float32)[:, None, None]
    std = torch.tensor(pre.std, dtype=torch.float32)[:, None, None]
    return ((t - mean) / std).contiguous()
