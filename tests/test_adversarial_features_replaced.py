"""The features file replaced under a running annotate (issue 12, case 1).

The README's workflow: annotate while featurize writes. A second featurize with
--overwrite renames a new file (another uuid, rows in another order, maybe another
length) over the path. Before the fix the app kept the old keys but read paths from
the new file: the screen showed one image and the answer went to another item's key,
and a new length crashed the app. Each answer must go to the item on screen.
"""

from __future__ import annotations

import os
import time

import h5py
import numpy as np
import pytest
from app_fixtures import annotating, make_pool, panel_text, sync, wait_displayed
from h5fixtures import write_features

from refs.items import item_key


def read_pool(path):
    with h5py.File(path, "r") as f:
        return dict(X=f["features"][:].astype(np.float32),
                    paths=[p.decode() if isinstance(p, bytes) else p for p in f["items/path"][:]],
                    boxes=f["items/box"][:], sizes=f["items/image_size"][:])


def write_rows(path, pool, rows, **kw):
    return write_features(path, pool["X"][rows], paths=[pool["paths"][i] for i in rows],
                          boxes=pool["boxes"][rows], image_size=pool["sizes"][rows], **kw)


def replace_with(path, pool, rows):
    """As featurize --overwrite does: a whole new file, renamed over the old one."""
    tmp = path.with_name(".new-" + path.name)
    write_rows(tmp, pool, rows)
    os.replace(tmp, path)


async def answer_and_check(app, pilot, n: int, labels) -> list[tuple[str, str]]:
    """Answer n items with D; each recorded key must be the key of the path and box shown."""
    from app_fixtures import current_labels

    pairs = []
    for _ in range(n):
        key = await wait_displayed(app, pilot)
        info = app.side.info
        assert info is not None and info.key == key
        await pilot.press("d")
        await wait_displayed(app, pilot, not_key=key)
        pairs.append((key, item_key(info.path, info.box)))
    recorded = current_labels(labels)
    for key, shown in pairs:
        assert key in recorded
        assert key == shown, "the answer went to another item than the one on screen"
    return pairs


@pytest.mark.parametrize("new_rows", ["reversed", "shorter"])
@sync
async def test_answers_go_to_the_item_shown_after_the_file_is_replaced(tmp_path, monkeypatch,
                                                                       new_rows):
    import tui.learn.queue_builder as queue_mod

    monkeypatch.setattr(queue_mod, "REFRESH_S", 0.1)
    src, _ = make_pool(tmp_path / "pool", n_files=72)   # more items than the app caches
    pool = read_pool(src)
    n = len(pool["paths"])
    features = tmp_path / "features.h5"
    status = np.r_[np.ones(n // 2, np.int8), np.zeros(n - n // 2, np.int8)]
    write_rows(features, pool, np.arange(n), status=status, complete=False)  # featurize halfway
    labels = tmp_path / "labels.sqlite"
    async with annotating(features, labels=str(labels)) as (sampler, app, pilot):
        await answer_and_check(app, pilot, 2, labels)
        rows = np.arange(n)[::-1] if new_rows == "reversed" else np.arange(n)[::-1][:n - 7]
        replace_with(features, pool, rows)
        t0 = time.monotonic()
        while sampler.stats().get("features_notice") is None and time.monotonic() - t0 < 30:
            await pilot.pause(0.1)
        await pilot.pause(0.5)
        await answer_and_check(app, pilot, 3, labels)
        text = panel_text(app)
        assert "was replaced by another featurize run" in text and "Restart annotate" in text
        assert app.is_running and sampler.stats()["error"] is None


@sync
async def test_waiting_for_featurize_is_said_and_the_first_rows_show_when_they_land(
        tmp_path, monkeypatch):
    """Before featurize's first batch the app said "Every item has an answer"."""
    import tui.learn.queue_builder as queue_mod

    monkeypatch.setattr(queue_mod, "REFRESH_S", 0.1)
    src, _ = make_pool(tmp_path / "pool", n_files=6, n_boxes=0)
    pool = read_pool(src)
    n = len(pool["paths"])
    features = tmp_path / "features.h5"
    write_rows(features, pool, np.arange(n), status=np.zeros(n, np.int8), complete=False)
    async with annotating(features, labels=str(tmp_path / "l.sqlite")) as (sampler, app, pilot):
        t0 = time.monotonic()
        while "Waiting for featurize: 0 of 6" not in panel_text(app):
            assert time.monotonic() - t0 < 20, panel_text(app)
            await pilot.pause(0.1)
        assert "Every item has an answer" not in panel_text(app)
        # featurize's first batch, from another process as featurize would write it
        import subprocess
        import sys

        subprocess.run([sys.executable, "-c", (
            "import h5py, sys\n"
            "with h5py.File(sys.argv[1], 'r+', locking=False) as f:\n"
            "    f['status'][:2] = 1\n"), str(features)], check=True, timeout=60)
        shown = await wait_displayed(app, pilot)
        assert sampler.features.index_of(shown) in (0, 1)
