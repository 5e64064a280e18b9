"""`pool` mode: a box's embedding as the area-weighted mean of the patch tokens under it.

The token grid is read as a piecewise-constant field over the model input
(cell (i, j) covers [j*p, (j+1)*p) x [i*p, (i+1)*p) input pixels). A box's
embedding is the mean of that field over the box: each cell weighs the
fraction of its area that the box covers, so a box half over a cell counts
that cell half.

Whole-image items in pool mode are the mean over all cells (uniform weights,
`whole_image_weights`), i.e. a box covering the whole model input: they live in
the same space as the box rows of the same file. (For EfficientNet-Lite0 this
equals `Backbone.embed` exactly, its head being a global average pool.)
"""
from __future__ import annotations

import numpy as np
import torch


def _overlap_1d(a: float, b: float, n: int, p: float) -> np.ndarray:
    """Length of [a, b] inside each of the n cells [k*p, (k+1)*p), as a fraction of p."""
    lo = np.arange(n, dtype=np.float64) * p
    return np.clip(np.minimum(b, lo + p) - np.maximum(a, lo), 0.0, None) / p


def box_patch_weights(box_xyxy_input_px, grid_hw: tuple[int, int], patch_size: float) -> np.ndarray:
    """[gh, gw] float64: the fraction of each cell's area that the box covers.

    The box is in model-input pixels (`Geometry.map_box`) and clipped to the
    grid. A box with nothing inside the grid (outside the crop, or of zero
    area) falls back to the cell nearest its centre (weight 1), so every item
    gets an embedding; a zero-width or zero-height box inside the grid is the
    cell under its centre.
    """
    gh, gw = int(grid_hw[0]), int(grid_hw[1])
    x1, y1, x2, y2 = (float(v) for v in box_xyxy_input_px)
    if not all(np.isfinite([x1, y1, x2, y2])):
        raise ValueError(f"box must be finite, got {box_xyxy_input_px!r}")
    x1, x2 = min(x1, x2), max(x1, x2)
    y1, y2 = min(y1, y2), max(y1, y2)
    w = np.outer(_overlap_1d(y1, y2, gh, patch_size), _overlap_1d(x1, x2, gw, patch_size))
    if w.sum() > 0:
        return w
    cx = min(max((x1 + x2) / 2.0, 0.0), gw * patch_size)
    cy = min(max((y1 + y2) / 2.0, 0.0), gh * patch_size)
    w = np.zeros((gh, gw))
    w[min(int(cy // patch_size), gh - 1), min(int(cx // patch_size), gw - 1)] = 1.0
    return w


def whole_image_weights(grid_hw: tuple[int, int]) -> np.ndarray:
    """Uniform weights: the whole-image item of pool mode."""
    return np.ones((int(grid_hw[0]), int(grid_hw[1])))


def pool_tokens(grid: torch.Tensor, weights: list[np.ndarray]) -> torch.Tensor:
    """[gh, gw, D] tokens and K weight maps -> [K, D] weighted means (in float32)."""
    gh, gw, D = grid.shape
    if not weights:
        return grid.new_zeros((0, D), dtype=torch.float32)
    W = torch.from_numpy(np.stack([np.asarray(w, dtype=np.float32).reshape(gh * gw) for w in weights]))
    W = W.to(grid.device)
    s = W.sum(dim=1, keepdim=True)
    if bool((s <= 0).any()):
        raise ValueError("every weight map must have a positive sum")
    return (W / s) @ grid.reshape(gh * gw, D).float()
