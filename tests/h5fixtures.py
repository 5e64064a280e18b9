"""Write valid `features.h5` files (README format version 1) with h5py, for tests and benchmarks.

Written the way the README describes, independently of `featurize`, so the reader
is tested against the format rather than against one writer's habits.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from datetime import datetime, timezone

import h5py
import numpy as np

from refs.items import item_key

STR = h5py.string_dtype("utf-8")


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def write_features(path, X, *, paths=None, boxes=None, meta=None, status=None, image_size=None,
                   chunked=False, file_uuid=None, complete=True, model="test-model", errors=None):
    """A features file holding the rows of X (L2-normalised here), one item per row.

    Returns the list of item keys in file order."""
    X = normalise(X)
    n, d = X.shape
    paths = paths or [f"/data/img_{i:06d}.jpg" for i in range(n)]
    boxes = np.full((n, 4), np.nan, np.float32) if boxes is None else np.asarray(boxes, np.float32)
    keys = [item_key(p, None if np.isnan(b).any() else tuple(float(v) for v in b))
            for p, b in zip(paths, boxes)]
    status = np.ones(n, np.int8) if status is None else np.asarray(status, np.int8)
    feats = np.where((status == 1)[:, None], X, 0).astype(np.float16)
    with h5py.File(path, "w") as f:
        kw = dict(chunks=(min(max(n, 1), 256), d)) if chunked else {}
        f.create_dataset("features", data=feats, **kw)
        f.create_dataset("status", data=status)
        f.create_dataset("error", data=errors or [""] * n, dtype=STR)
        f.create_dataset("items/key", data=keys, dtype=STR)
        f.create_dataset("items/path", data=paths, dtype=STR)
        f.create_dataset("items/box", data=boxes)
        f.create_dataset("items/meta", data=[json.dumps(m) for m in (meta or [{}] * n)], dtype=STR)
        f.create_dataset("items/image_size",
                         data=np.full((n, 2), 64, np.int32) if image_size is None else image_size)
        _attrs(f, d, file_uuid, complete, model)
    return keys


def _attrs(f, d, file_uuid, complete, model):
    f.attrs.update({
        "format": "binlabel.features", "format_version": 1,
        "uuid": file_uuid or str(uuidlib.uuid4()), "model": model, "weights": "none",
        "preprocess": json.dumps({}), "box_mode": "crop", "context": 0.0, "dim": d,
        "refs_path": "/data/refs.txt", "refs_sha256": "0" * 64, "binlabel_version": "test",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "complete": complete,
    })


def write_synthetic(path, n: int, d: int, *, seed=0, block=262_144, log=None):
    """A large file of random L2-normalised float16 rows, written block by block
    (contiguous, uncompressed, as featurize writes it) without holding it in memory."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        x = f.create_dataset("features", shape=(n, d), dtype=np.float16)
        f.create_dataset("status", data=np.ones(n, np.int8))
        f.create_dataset("error", shape=(n,), dtype=STR)
        k = f.create_dataset("items/key", shape=(n,), dtype=STR)
        p = f.create_dataset("items/path", shape=(n,), dtype=STR)
        f.create_dataset("items/box", data=np.full((n, 4), np.nan, np.float32))
        m = f.create_dataset("items/meta", shape=(n,), dtype=STR)
        f.create_dataset("items/image_size", data=np.full((n, 2), 64, np.int32))
        for a in range(0, n, block):
            b = min(n, a + block)
            x[a:b] = normalise(rng.standard_normal((b - a, d), dtype=np.float32)).astype(np.float16)
            names = [f"/data/{i:09d}.jpg" for i in range(a, b)]
            p[a:b] = names
            k[a:b] = [item_key(s, None) for s in names]
            m[a:b] = ["{}"] * (b - a)
            if log:
                log(f"  wrote {b}/{n}")
        _attrs(f, d, None, True, "synthetic")


def sampler_pool(path, n=80, d=8, seed=0, share=0.2):
    """A Gaussian pool of n items, `share` positive (shifted along the first axis): (keys,
    {key: is positive}). The sampler tests' pool."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < share
    X = rng.standard_normal((n, d))
    X[y, 0] += 2.5
    keys = write_features(path, X)
    return keys, dict(zip(keys, y))
