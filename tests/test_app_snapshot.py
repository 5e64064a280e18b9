"""Snapshots of the layout (pytest-textual-snapshot), halfcell renderer, 10x20 px cells.

The pool lives in a fixed folder so that the paths in the side panel are the same on
every run, and holds one item (a box on a photo), so that the picture does not depend on
which item the sampler's cold start picks first; each snapshot also asserts the app's state, since a crashed app can still
match a picture. Update with `pytest tests/test_app_snapshot.py --snapshot-update`
after checking the new pictures by eye.
"""

from __future__ import annotations

import getpass
import shutil
import tempfile
from pathlib import Path

import pytest
from app_fixtures import (current_labels, halfcell, make_pool, panel_text, screen_text,
                          wait_displayed)

from tui.app.app import AnnotateApp
from tui.app.help_screen import HelpScreen
from tui.app.keys import KEYS
from tui.learn.sampler import Sampler, default_labels_path

POOL = Path(tempfile.gettempdir()) / f"binlabel-snapshot-pool-{getpass.getuser()}"


@pytest.fixture
def sampler():
    shutil.rmtree(POOL, ignore_errors=True)
    features, keys = make_pool(POOL, n_files=0, n_boxes=1)
    s = Sampler(str(features), seed=0)
    yield s
    s.close()
    shutil.rmtree(POOL, ignore_errors=True)


def settle(app, sampler, seen=None):
    async def run_before(pilot):
        await wait_displayed(app, pilot)
        assert sampler.wait_idle(30)
        app._refresh_stats()
        await pilot.pause(0.1)
        text = panel_text(app)
        assert "pos 0  neg 0" in text and "left 1" in text and "row 1 of 1 in the file" in text
        assert app.pane.painted.startswith(app.displayed + ":crop:")
        if seen is not None:
            seen.update(displayed=app.displayed, pixel_size=app.pane.pixel_size())
    return run_before


def test_layout(snap_compare, sampler):
    app, seen = AnnotateApp(sampler, halfcell()), {}
    assert snap_compare(app, terminal_size=(100, 30), run_before=settle(app, sampler, seen))
    assert seen["displayed"] == sampler.next()


def test_layout_20x10(snap_compare, sampler):
    app, seen = AnnotateApp(sampler, halfcell()), {}
    assert snap_compare(app, terminal_size=(20, 10), run_before=settle(app, sampler, seen))
    assert min(seen["pixel_size"]) > 0


def test_help(snap_compare, sampler):
    app = AnnotateApp(sampler, halfcell())
    before = settle(app, sampler)

    async def run_before(pilot):
        await before(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("d")  # refused while the help is open
        assert current_labels(default_labels_path(sampler.features.filename)) == {}
        await pilot.pause(0.2)
        text = "\n".join(screen_text(app))   # the picture must hold the words, not a box
        for key in KEYS:
            assert key.help in text, key

    assert snap_compare(app, terminal_size=(90, 26), run_before=run_before)
