"""A full disk while annotating: the key is refused with a clear message, the item stays on
screen, nothing written is lost, and the next key after space is freed is saved."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from app_fixtures import annotating, current_labels, make_pool, wait_displayed
from disk_fixtures import small_tmpfs


@pytest.fixture
def small_disk(tmp_path):
    with small_tmpfs(tmp_path / "small", "8m") as d:
        yield d


def fill(folder) -> None:
    """Fill the file system to the last byte."""
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass


def test_full_disk_refuses_the_key_keeps_the_item_and_resumes(tmp_path, small_disk):
    features, _ = make_pool(tmp_path / "pool")
    labels = small_disk / "labels.sqlite"
    status = lambda app: str(app.side.status)  # noqa: E731

    async def go():
        async with annotating(features, labels=str(labels)) as (sampler, app, pilot):
            first = await wait_displayed(app, pilot)
            await pilot.press("d")
            second = await wait_displayed(app, pilot, not_key=first)
            fill(small_disk)
            await pilot.press("a")
            await pilot.pause(0.2)
            assert "not saved" in status(app) and "full" in status(app), status(app)
            assert app.displayed == second          # the unanswered item stays on screen
            assert current_labels(labels) == {first: "pos"}
            (small_disk / "filler").unlink()        # space freed: work resumes
            await pilot.press("a")
            await wait_displayed(app, pilot, not_key=second)
        return first, second

    first, second = asyncio.run(go())
    assert current_labels(labels) == {first: "pos", second: "neg"}
    with sqlite3.connect(labels) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
