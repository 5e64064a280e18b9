"""Each real-terminal fixture (tests/term_*.py) runs the real `annotate` on a real pool with real
keys: the side panel is read back from the terminal, one key writes one answer to the labels
file, the footer is on the last row, the image pane is not blank, Q ends the app.

Only what must hold in every terminal is checked here; the screen's full truth after every step
is the matrix's job (issue 13)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from app_fixtures import current_labels, make_pool, query_labels
from term_base import missing, open_terminal, plain
from tmux_fixtures import annotate_cmd

pytestmark = pytest.mark.slow
COLS, ROWS, SIDE = 120, 40, 34
# the fixtures of tests/term_kitty.py, term_foot.py, term_tmux35.py (xterm and xterm.js have
# their own smoke tests)
NAMES = ["kitty", "foot", "tmux35-xterm", "tmux35-kitty"]


def wait(predicate, timeout, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def image_region(shot: np.ndarray, cell: tuple[int, int], cols: int, rows: int) -> np.ndarray:
    """The image pane: left of the side panel, above the notice line and footer."""
    cw, ch = cell
    return shot[: (rows - 3) * ch, : (cols - SIDE - 2) * cw]


def dump(name: str, when: str, lines: list[str]) -> None:
    print(f"--- {name}: text() {when} ---")
    print("\n".join(f"{i:2d}|{line}" for i, line in enumerate(plain(lines))))


@pytest.mark.parametrize("name", NAMES)
def test_annotate_in_real_terminal(name, tmp_path):
    if reason := missing(name):
        pytest.skip(f"{name}: {reason}")
    features, keys = make_pool(tmp_path / "pool")
    labels = tmp_path / "labels.sqlite"
    done = tmp_path / "exit_code"
    cmd = annotate_cmd(features, "--labels", str(labels), then=f"echo $? > {done}; sleep 120")
    term = open_terminal(name, cmd, COLS, ROWS)
    try:
        first = term.wait_text("of 24", 90, "the side panel's 'row N of 24'")
        dump(name, "after start", first)
        # the first frame must be painted before a key can answer it: the footer shows then
        term.wait_text(lambda lines: "Positive" in lines[-1], 30, "the footer on the last row")
        term.keys("d")
        wait(lambda: len(current_labels(labels)) == 1, 30, "one answer in the labels file")
        [rows] = query_labels(labels, "SELECT key, answer FROM answers")
        assert [a for _, a in rows] == ["pos"], rows
        assert rows[0][0] in keys
        after = term.wait_text(lambda lines: any("pos 1" in line for line in lines), 30,
                               "the panel's count 'pos 1'")
        after = term.wait_text(lambda lines: "Positive" in lines[-1], 10,
                               "the footer on the last row after an answer")
        dump(name, "after one answer", after)

        cell = term.cell_px()
        assert 5 <= cell[0] <= 30 and 10 <= cell[1] <= 60, cell

        def painted():
            shot = term.screenshot(tmp_path / f"{name}.png")
            pane = image_region(shot, cell, COLS, ROWS)
            colours = len(np.unique(pane.reshape(-1, 3), axis=0))
            spread = float(pane.mean(axis=2).std())
            return (colours, spread) if colours >= 16 and spread > 10 else None
        colours, spread = wait(painted, 30, "a picture in the image pane of the screenshot")
        print(f"{name}: cell {cell} px, image pane {colours} colours, spread {spread:.1f}")

        term.keys("q")
        wait(lambda: done.exists() and done.read_text().strip() != "", 30, "the app to end")
        assert done.read_text().strip() == "0", done.read_text()
        assert len(current_labels(labels)) == 1
    finally:
        term.close()
