"""End to end in xterm with sixel graphics under Xvfb: the picture and its box outline are
on screen (checked by pixels of a real screenshot), a key answers the item shown."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from app_fixtures import current_labels, make_pool
from xterm_fixtures import XtermSession, missing_tools, outline_pixels

from tui.learn.sampler import default_labels_path

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(missing_tools()), reason=f"missing {missing_tools()} "
                                 "(.ci/run installs them)")]
ROOT = Path(__file__).resolve().parents[1]
COLS, ROWS = 120, 40


def pane_region(shot: np.ndarray) -> np.ndarray:
    """The image pane: the left part of the xterm window, above the footer."""
    h, w, _ = shot.shape
    # xterm at 120x40 with DejaVu Sans Mono 9: find the window by its non-black extent
    lit = np.argwhere(shot.sum(axis=2) > 0)
    bottom, right = lit.max(axis=0)[:2] if len(lit) else (h, w)
    cell_w, cell_h = right / COLS, bottom / ROWS
    return shot[: int((ROWS - 3) * cell_h), : int((COLS - 36) * cell_w)]


def wait(predicate, timeout, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_sixel_image_and_box_in_xterm(tmp_path):
    features, keys = make_pool(tmp_path / "pool", n_files=0, n_boxes=6)  # every item a box
    labels_path = default_labels_path(features)
    done = tmp_path / "exit_code"
    cmd = (f"cd {shlex.quote(str(ROOT))} && HF_HUB_OFFLINE=1 "
           f"{shlex.join([sys.executable, '-m', 'tui', str(features), '--graphics', 'sixel'])}"
           f"; echo $? > {shlex.quote(str(done))}")
    term = XtermSession(cmd, COLS, ROWS)
    try:
        def shown():
            pane = pane_region(term.screenshot(tmp_path / "shot.png"))
            colours = len(np.unique(pane.reshape(-1, 3), axis=0))  # a picture, not text:
            spread = float(pane.mean(axis=2).std())                 # many colours, shading
            yellow = int(outline_pixels(pane).sum())
            ok = colours >= 16 and spread > 10 and yellow > 100
            return (pane, colours, yellow) if ok else None

        pane, colours, yellow = wait(shown, 60, "the sixel image with its box outline")
        # the outline is a frame: yellow on at least two distinct rows and two columns
        ys, xs = np.nonzero(outline_pixels(pane))
        assert ys.max() - ys.min() > 20 and xs.max() - xs.min() > 20
        term.key("d")
        wait(lambda: len(current_labels(labels_path)) == 1, 30, "the answer in the labels file")
        assert list(current_labels(labels_path).values()) == ["pos"]

        def changed():
            now = pane_region(term.screenshot(tmp_path / "shot2.png"))
            return now.shape == pane.shape and np.abs(now.astype(int) - pane).mean() > 2
        wait(changed, 30, "the next image")
        term.key("a")
        wait(lambda: sorted(current_labels(labels_path).values()) == ["neg", "pos"], 30,
             "the second answer")
        term.key("q")
        wait(lambda: done.exists() and done.read_text().strip() == "0", 30, "a clean exit")
    finally:
        term.close()
