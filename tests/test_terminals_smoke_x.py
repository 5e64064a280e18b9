"""Each real-terminal fixture of this file's terminals (xterm.js in chromium, xterm with text
readback) runs the real app on a real pool with real keys: the first frame shows, `d` answers
into the labels file, the footer is on the last row read back from the terminal, the image
pane is drawn, `q` ends the process. Only what must hold in every terminal is checked here;
the step-by-step screen truth belongs to the matrix."""

from __future__ import annotations

import importlib
import shlex
import time

import numpy as np
import pytest
from app_fixtures import current_labels, make_pool, query_labels
from tmux_fixtures import annotate_cmd

pytestmark = pytest.mark.slow
COLS, ROWS = 120, 40
SIDE = 34  # the side panel's width in cells (tui/app/app.tcss #side)


def wait(probe, timeout: float, what: str, screen=None):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    shown = "\n".join(screen()) if screen else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; screen:\n{shown}")


def dump(title: str, lines: list[str]) -> None:
    print(f"--- {title}\n" + "\n".join(f"{i:2d}|{line}" for i, line in enumerate(lines)))


@pytest.fixture(params=["term_xtermjs", "term_xterm"])
def terminal_module(request):
    module = importlib.import_module(request.param)
    reason = module.missing()
    if reason:
        pytest.skip(f"{request.param}: {reason}")
    return module


def test_answer_and_quit_in_a_real_terminal(terminal_module, tmp_path):
    features, keys = make_pool(tmp_path / "pool")
    labels = tmp_path / "labels.sqlite"
    done = tmp_path / "exit_code"
    cmd = annotate_cmd(features, "--labels", str(labels),
                       then=f"echo $? > {shlex.quote(str(done))}")
    term = terminal_module.Terminal(cmd, COLS, ROWS)
    try:
        start = wait(lambda: (lambda t: t if any("of 24" in line for line in t) else None)(
            term.text()), 90, "the side panel's 'N of 24'", term.text)
        dump(f"{term.name}: after start", start)
        cw, ch = term.cell_px()
        print(f"{term.name}: cell {cw}x{ch} px, renderer {getattr(term, 'renderer', '-')}")
        assert 4 <= cw <= 30 and 8 <= ch <= 60

        term.keys("d")
        wait(lambda: len(current_labels(labels)) == 1, 30, "the answer in the labels file",
             term.text)
        [rows] = query_labels(labels, "SELECT key, answer FROM answers")
        assert [a for _, a in rows] == ["pos"] and rows[0][0] in keys, rows
        assert list(current_labels(labels).values()) == ["pos"]

        after = wait(lambda: (lambda t: t if any("pos 1" in line for line in t)
                              and "Positive" in t[-1] else None)(term.text()), 30,
                     "'pos 1' in the side panel and the footer on the last row", term.text)
        dump(f"{term.name}: after one answer", after)
        assert len(after) == ROWS

        def drawn():
            shot = term.screenshot(tmp_path / "shot.png")
            assert shot.shape[:2] == (ROWS * ch, COLS * cw), (shot.shape, cw, ch)
            pane = shot[: (ROWS - 3) * ch, : (COLS - SIDE) * cw]
            colours = len(np.unique(pane.reshape(-1, 3), axis=0))
            spread = float(pane.mean(axis=2).std())
            return (colours, spread) if colours >= 16 and spread > 10 else None
        colours, spread = wait(drawn, 30, "a picture in the image pane", term.text)
        print(f"{term.name}: image pane {colours} colours, std {spread:.1f}")

        term.keys("q")
        wait(lambda: done.exists() and done.read_text().strip() != "", 30, "the app's exit",
             term.text)
        assert done.read_text().strip() == "0"
        wait(lambda: not term.alive(), 15, "the terminal's shell to end")
    finally:
        term.close()
