"""Features files made by the real featurize with tiny random-weight models saved locally,
for examples and words to start from (tests/test_query.py, test_seeds_cli.py,
test_seeds_app.py): real photos, real refs files, the real command, offline."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from featurize_fixtures import make_photos, write_refs
from tiny_models import tiny_dinov2reg, tiny_open_clip_text

MODELS = {
    # kind: (builder, --model name as a user would give it with --weights FOLDER)
    "dino": (tiny_dinov2reg, "dinov2reg-s"),            # no text tower
    "open_clip": (tiny_open_clip_text, "siglip2-b16"),  # an open_clip folder: a text tower
}


def featurize(refs: Path, out: Path, weights: Path, model: str, *extra: str) -> Path:
    """The real featurize command, in this process (as tests/test_featurize_cli.py runs it)."""
    from featurize.cli import main
    rc = main([str(refs), "-o", str(out), "--model", model, "--weights", str(weights),
               "--precision", "fp32", "--device", "cpu", "--workers", "0", "-q", *extra])
    assert rc == 0, f"featurize exited {rc}"
    return out


def tiny_features(folder: Path, kind: str = "dino", n_photos: int = 8, boxes: int = 2,
                  extra_photos: int = 2, *featurize_args: str):
    """(features.h5, model folder, the saved model, photos in the file, photos not in it):
    every photo whole and with `boxes` boxes, featurized with the tiny `kind` model."""
    folder.mkdir(parents=True, exist_ok=True)
    build, name = MODELS[kind]
    weights, model = build(folder / f"model_{kind}")
    photos = make_photos(folder / "photos", n_photos + extra_photos)
    inside, outside = photos[:n_photos], photos[n_photos:]
    refs = write_refs(folder / "refs.txt", inside, boxes_per_image=boxes)
    out = featurize(refs, folder / "features.h5", weights, name, *featurize_args)
    return out, weights, model, inside, outside


def rows(features: Path) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    """(float64 features, keys, paths, boxes) as the file holds them, read with bare h5py."""
    with h5py.File(features, "r") as f:
        return (f["features"][()].astype(np.float64), list(f["items/key"].asstr()[()]),
                list(f["items/path"].asstr()[()]), f["items/box"][()])


def cosine_order(X: np.ndarray, q) -> list[int]:
    """Rows by decreasing cosine to q (ties: lower row first), in float64."""
    q = np.asarray(q, np.float64)
    s = X @ (q / np.linalg.norm(q))
    return [int(i) for i in np.lexsort((np.arange(len(s)), -s))]
