"""float16 matrix-vector products for scoring a pool without a float32 copy of it.

torch's half-precision `mv` (float32 accumulation) is ~10x faster here than numpy's
float16 to float32 cast; importing torch costs 1.4 s of CPU, so `prepare_dot()` does it
ahead of the first scoring. Without torch, None: FeatureFile.dot falls back to numpy.
"""

from __future__ import annotations

import numpy as np

_MV = []


def prepare_dot() -> None:
    """Import what `FeatureFile.dot` uses, so that the first scoring does not wait for it."""
    half_mv()


def half_mv():
    """torch's float16 matrix-vector product as a numpy function, or None without torch."""
    if not _MV:
        try:
            import warnings

            import torch
        except ImportError:
            _MV.append(None)
        else:
            def mv(block16: np.ndarray, w16: np.ndarray) -> np.ndarray:
                with warnings.catch_warnings():  # read-only memory maps are never written here
                    warnings.simplefilter("ignore", UserWarning)
                    t = torch.from_numpy(block16)
                return torch.mv(t, torch.from_numpy(w16)).float().numpy()
            _MV.append(mv)
    return _MV[0]
