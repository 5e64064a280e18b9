"""Real pools of other kinds than Fashion-MNIST's, embedded once and cached (bench/first_positive.py).

Why these two: the cold start was tuned on Fashion-MNIST's ten one-against-rest tasks,
where a rare class either has a cluster of its own or hides among similar products.
Issue 16 saw it fail elsewhere, so the benchmark also runs on
- ELPV (`pip install elpv-dataset`, CC BY-NC-SA, never committed): 2,624 grey 300x300
  electroluminescence photos of solar cells, defective = defect probability >= 0.5
  (821). Another domain (one kind of object, defects are small cracks and dark areas,
  not a separate kind of thing), featurized exactly as a person would: the featurize
  CLI with the offline effnet-lite0 model on a refs.csv naming the installed images.
- scikit-learn's digits (`load_digits`, shipped with scikit-learn): 1,797 handwritten
  digits of 8x8 pixels, upscaled and embedded by the same effnet-lite0 as
  bench/fmnist_embed.py. Another domain again (strokes, not photos), a small pool
  (about 1,600 images at 1%, the size of the pool in issue 16), and ten tasks, one a
  digit.
Both caches live in bench/cache/ beside Fashion-MNIST's embeddings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.fmnist_embed import CACHE, embed_images


def elpv(log=print) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 [2624, 1280], defective bool): effnet-lite0 through the featurize
    CLI (resumable: a killed run picks up where it stopped)."""
    from bench.demo import elpv_labels
    from tui.store.features import FeatureFile

    CACHE.mkdir(parents=True, exist_ok=True)
    features = CACHE / "elpv_effnet-lite0.h5"
    root, paths, probs, types = elpv_labels()
    refs = CACHE / "elpv_refs.csv"
    text = "path,defect_probability,cell_type\n" + "".join(
        f"{root / p},{q:.4f},{t}\n" for p, q, t in zip(paths, probs, types))
    if not refs.exists() or refs.read_text() != text:
        refs.write_text(text)
    if not _complete(features):
        if log:
            log(f"featurizing {len(paths)} ELPV cells with effnet-lite0 into {features}")
        subprocess.run([sys.executable, "-m", "featurize", str(refs), "-o", str(features),
                        "--model", "effnet-lite0", "--workers", "1", "--log-every", "60"],
                       check=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    with FeatureFile(str(features)) as f:
        X = f.rows(np.arange(f.n)).astype(np.float32)
        defective = np.array([float(f.meta(i)["defect_probability"]) >= 0.5 for i in range(f.n)])
    return X, defective


def digits(size: int = 112, log=print) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 [1797, 1280], digit): scikit-learn's digits embedded like
    Fashion-MNIST (grey, upscaled to `size` px)."""
    path = CACHE / f"digits_effnet-lite0_{size}px.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return z["X"].astype(np.float32), z["y"]
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(d.images * 16, 0, 255).astype(np.uint8)       # 0..16 -> 0..255
    if log:
        log(f"embedding {len(images)} digits at {size}px (cached in {path})")
    X = embed_images(images, size, log=log).astype(np.float16)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, X=X, y=d.target.astype(np.int8))
    os.replace(tmp, path)
    return X.astype(np.float32), d.target.astype(np.int8)


def _complete(features: Path) -> bool:
    try:
        import h5py

        with h5py.File(features, "r", locking=False) as f:
            return bool(f.attrs.get("complete", False))
    except Exception:  # missing, or cut by a kill: featurize resumes it
        return False
