"""A small real pool for the app's tests: crops of scikit-learn's sample photos.

Images are real JPEG and PNG files in a temporary folder; the features file is
written with h5py per the README format (`tests/h5fixtures.py`); the features
are colour histograms of the crops, real enough for the sampler to learn from.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from pathlib import Path

import numpy as np
from PIL import Image

from h5fixtures import write_features


def sample_photos() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    return list(load_sample_images().images)  # china.jpg, flower.jpg: 427x640x3 uint8


def colour_features(pixels: np.ndarray, bins: int = 4) -> np.ndarray:
    """A bins^3 colour histogram, plus the mean colour: a small real embedding."""
    q = (pixels.reshape(-1, 3) // (256 // bins)).astype(np.int64)
    idx = q[:, 0] * bins * bins + q[:, 1] * bins + q[:, 2]
    hist = np.bincount(idx, minlength=bins ** 3).astype(np.float32)
    return np.concatenate([hist / max(1, hist.sum()), pixels.reshape(-1, 3).mean(0) / 255])


def make_pool(folder: Path, n_files: int = 16, n_boxes: int = 8, seed: int = 0,
              names: list[str] | None = None) -> tuple[Path, list[str]]:
    """Write `n_files` crops as JPEG/PNG, plus `n_boxes` boxes on the two full photos.

    Returns (features.h5 path, keys in file order). `names` overrides the file names
    of the first crops (for odd names: markup, escapes)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    photos = sample_photos()
    paths, boxes, feats, meta, sizes = [], [], [], [], []
    for i in range(n_files):
        photo = photos[i % 2]
        h, w = rng.integers(80, 200), rng.integers(80, 200)
        y, x = rng.integers(0, photo.shape[0] - h), rng.integers(0, photo.shape[1] - w)
        crop = photo[y:y + h, x:x + w]
        name = names[i] if names and i < len(names) else f"crop_{i:03d}.{'jpg' if i % 2 else 'png'}"
        path = folder / name
        Image.fromarray(crop).save(path, format="JPEG" if name.endswith("jpg") else "PNG")
        paths.append(str(path))
        boxes.append([np.nan] * 4)
        feats.append(colour_features(crop))
        meta.append({"source": "sklearn", "photo": ["china", "flower"][i % 2]})
        sizes.append([w, h])
    for j in range(2):
        path = folder / f"photo_{j}.jpg"
        Image.fromarray(photos[j]).save(path, format="JPEG", quality=92)
    for i in range(n_boxes):
        j = i % 2
        photo = photos[j]
        h, w = rng.integers(60, 160), rng.integers(60, 160)
        y, x = rng.integers(0, photo.shape[0] - h), rng.integers(0, photo.shape[1] - w)
        paths.append(str(folder / f"photo_{j}.jpg"))
        boxes.append([float(x), float(y), float(x + w), float(y + h)])
        feats.append(colour_features(photo[y:y + h, x:x + w]))
        meta.append({"score": round(float(rng.uniform()), 3)})
        sizes.append([photo.shape[1], photo.shape[0]])
    out = folder / "features.h5"
    keys = write_features(out, np.asarray(feats), paths=paths, boxes=np.asarray(boxes, np.float32),
                          meta=meta, image_size=np.asarray(sizes, np.int32))
    return out, keys


# ---- driving the real app ---------------------------------------------------------------------

def halfcell(notice: str = "halfcell graphics: images are coarse here") -> "object":
    """A pinned graphics choice (no terminal query): halfcell, 10x20 px cells."""
    from tui.image.graphics import Graphics

    return Graphics(protocol="halfcell", cell_px=(10, 20), in_tmux=False, passthrough=False,
                    notice=notice)


def sync(test):
    """Run an async test on its own event loop (no pytest asyncio plugin needed)."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))
    return run


@contextlib.asynccontextmanager
async def annotating(features, size=(100, 30), app_kw: dict | None = None, **sampler_kw):
    """The real app on a real sampler (seed 0, halfcell at pinned cells) under Pilot:
    yields (sampler, app, pilot); the sampler is closed however the test ends."""
    from tui.app.app import AnnotateApp
    from tui.learn.sampler import Sampler

    sampler = Sampler(str(features), seed=0, **sampler_kw)
    try:
        app = AnnotateApp(sampler, halfcell(), **(app_kw or {}))
        async with app.run_test(size=size) as pilot:
            yield sampler, app, pilot
    finally:
        sampler.close()


async def wait_displayed(app, pilot, timeout: float = 20.0, not_key: str | None = None) -> str:
    """Wait until an item's frame is painted (and, if given, it is not `not_key`)."""
    import time

    t0 = time.monotonic()
    while app.displayed is None or app.displayed == not_key:
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"no item displayed within {timeout} s "
                                 f"(status: {app.side.status!r})")
        await pilot.pause(0.02)
    return app.displayed


def query_labels(labels_path, *sql: str) -> list[list[tuple]]:
    """The labels file read with plain SQL, not through the app's code: the rows of each query.

    A read-write connection, as the app's: after a SIGKILL, the first connection rebuilds
    the WAL index and so sees every committed answer."""
    import sqlite3

    con = sqlite3.connect(str(labels_path), timeout=15)
    try:
        return [con.execute(q).fetchall() for q in sql]
    finally:
        con.close()


def current_labels(labels_path) -> dict[str, str]:
    """Each key's latest answer not undone, read with plain SQL."""
    [rows] = query_labels(labels_path, "SELECT key, answer FROM answers WHERE undone_at IS NULL "
                                       "ORDER BY id")
    return dict(rows)


def panel_text(app) -> str:
    return app.side.render().plain


def screen_text(app) -> list[str]:
    """The whole screen as Textual composes it for the terminal (dialogs over the app
    included), one string per row: what the person sees, not what a widget believes."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False).splitlines()
