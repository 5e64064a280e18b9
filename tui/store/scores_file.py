"""The scores HDF5 file (`annotate export --format scores-h5`): one row per item of a
features file, for pools of millions.

Why in store/: HDF5 is opened here alone. The item columns (key, path, box) are copied
dataset to dataset by HDF5 itself (no Python per row), from the very file the
FeatureFile holds (`tui.store.features_read.opened`).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from tui.store.features import FeatureFile
from tui.store.features_read import opened


def write_scores_h5(ff: FeatureFile, out: Path, columns: dict[str, np.ndarray],
                    attrs: dict) -> None:
    """Write `out`: datasets key, path and box from `ff`, then `columns`, and `attrs`."""
    with opened(ff) as h, h5py.File(out, "w") as o:
        for name in ("key", "path", "box"):
            o.copy(h[f"items/{name}"], name)
        for name, data in columns.items():
            o.create_dataset(name, data=data)
        o.attrs.update(attrs)
