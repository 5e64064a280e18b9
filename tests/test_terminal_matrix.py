"""Screen truth in the terminals people use (issue 13): one scripted session per terminal.

The real `annotate` runs in each real terminal (xterm with sixel, xterm.js as in VS Code,
kitty 0.41 with Unicode placeholders, foot 1.21 with sixel, tmux 3.5 inside xterm and
inside kitty, Debian 12's tmux 3.3 with halfcell) and is driven with real keys: answer,
undo, help, Escape, export dialog, close, N, Z, P, M, a resize and a burst of 30 answers.
After every step the screen, read back from the terminal itself, must agree with the
labels file: each side-panel line once, the counts equal the file's, the item line on
the first row (nothing scrolled), the footer once and on the last row. Where the terminal
has pixels, the picture on screen before an answer must be the picture of the item the
answer was recorded for, and not the next item's.
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from app_fixtures import current_labels, make_pool, query_labels
from PIL import Image
from term_base import missing, open_terminal

from tui.image import encoders
from tui.store.features import FeatureFile
from tui.image.render import render_item

ROOT = Path(__file__).resolve().parents[1]
TERMINALS = ["xterm", "xtermjs", "kitty", "foot", "tmux35-xterm", "tmux35-kitty", "tmux33"]
BORDER = "▏"

pytestmark = pytest.mark.slow


def annotate_command(features: Path, labels: Path) -> str:
    args = shlex.join([sys.executable, "-m", "tui", str(features), "--labels", str(labels)])
    return f"cd {shlex.quote(str(ROOT))} && HF_HUB_OFFLINE=1 {args}; sleep 3"


def expected_counts(labels: Path, n: int) -> tuple[int, int, int, int]:
    import sqlite3

    try:   # never create the file: annotate must be the one that does
        values = list(current_labels(labels).values()) if labels.exists() else []
    except sqlite3.OperationalError:              # created, its tables not yet
        values = []
    c = [values.count(a) for a in ("pos", "neg", "skip")]
    return (*c, n - sum(c))


def problems(lines: list[str], rows: int, n: int, want) -> list[str]:
    """What is wrong with this screen (empty: it tells the truth)."""
    out = []
    text = "\n".join(lines)
    footer = [i for i, line in enumerate(lines) if "Negative" in line and "Positive" in line]
    if footer != [rows - 1]:
        out.append(f"the footer is on rows {footer}, expected once on row {rows - 1}")
    items = [i for i, line in enumerate(lines) if re.search(rf"row \d+ of {n} in the file", line)]
    if items != [0]:
        out.append(f"'row N of {n} in the file' on rows {items}, expected once on row 0 (nothing scrolled)")
    for word in ("strategy ", "model agreed with your", "positives left"):
        if text.count(word) != 1:
            out.append(f"{word!r} {text.count(word)} times")
    if len(re.findall(r"\bmodel (v\d+|none yet)", text)) != 1:
        out.append("the model line is not there exactly once")
    got = re.findall(r"pos (\d+)\s+neg (\d+)", text)
    rest = re.findall(r"skip (\d+)\s+left (\d+)", text)
    if len(got) != 1 or len(rest) != 1:
        out.append(f"the counts appear {len(got)} and {len(rest)} times")
    elif tuple(int(v) for v in got[0] + rest[0]) != want:
        out.append(f"the counts on screen {got[0] + rest[0]} are not the file's {want}")
    return out


def settle(term, labels: Path, n: int, what: str, extra=None, timeout: float = 40.0):
    """Wait until the screen agrees with the labels file (and `extra(text)` holds)."""
    t0, last = time.monotonic(), []
    while time.monotonic() - t0 < timeout:
        lines = term.text()
        want = expected_counts(labels, n)
        last = problems(lines, term.rows, n, want)
        if extra is not None and not extra("\n".join(lines)):
            last.append(f"not on screen: {what}")
        if not last:
            time.sleep(0.5)                           # and still so a moment later
            lines = term.text()
            last = problems(lines, term.rows, n, expected_counts(labels, n))
            if extra is not None and not extra("\n".join(lines)):
                last.append(f"not on screen: {what}")
            if not last:
                return lines
        time.sleep(0.3)
    pytest.fail(f"{term.name}, after {what}: " + "; ".join(last) + "\nscreen:\n"
                + "\n".join(lines))


def pane_region(lines: list[str]) -> tuple[int, int]:
    """(columns, rows) of the image pane: left of the side panel's border."""
    cols = [line.rfind(BORDER) for line in lines]
    rows = 0
    while rows < len(cols) and cols[rows] > 0:
        rows += 1
    return (max(set(cols[:rows]), key=cols[:rows].count) if rows else 0), rows


def grey_small(pixels: np.ndarray) -> np.ndarray:
    img = Image.fromarray(pixels).convert("L").resize((48, 48), Image.Resampling.BILINEAR)
    a = np.asarray(img, np.float64).ravel()
    return (a - a.mean()) / (a.std() + 1e-9)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(grey_small(a) * grey_small(b)))


def expected_picture(features: Path, key: str, size_px) -> np.ndarray:
    with FeatureFile(features) as f:
        i = f.index_of(key)
        path, box = f.path(i), f.box(i)
    pic = render_item(path, box, view="crop", context=0.15, size_px=size_px)
    return np.asarray(encoders.letterbox(pic, size_px))


def answer_and_check_picture(term, key: str, features: Path, labels: Path, n: int, tmp: Path):
    """Screenshot, press `key`; the picture must be the answered item's, not the next one's."""
    lines = term.text()
    cols, rows = pane_region(lines)
    cw, ch = term.cell_px()
    shot = term.screenshot(tmp / f"{term.name}-before.png")[: rows * ch, : cols * cw]
    before = {k for [k] in query_labels(labels, "SELECT key FROM answers")[0]}
    term.keys(key)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20:
        [rows_now] = query_labels(labels, "SELECT key FROM answers ORDER BY id")
        new = [k for (k,) in rows_now if k not in before]
        if new:
            break
        time.sleep(0.1)
    assert new, f"{term.name}: the key {key!r} recorded nothing"
    answered = new[-1]
    settle(term, labels, n, f"the answer {key!r}")
    size = (cols * cw, rows * ch)
    right = correlation(shot, expected_picture(features, answered, size))
    with FeatureFile(features) as f:
        others = [f.key(i) for i in range(0, f.n, max(1, f.n // 6)) if f.key(i) != answered]
    wrong = max(correlation(shot, expected_picture(features, k, size)) for k in others)
    assert right >= 0.95 and right > wrong, \
        f"{term.name}: the screen showed another picture (r={right:.2f} vs {wrong:.2f})"


@pytest.mark.parametrize("name", TERMINALS)
def test_screen_tells_the_truth_at_every_step(name, tmp_path):
    why = missing(name)
    if why:
        pytest.skip(why)
    features, keys = make_pool(tmp_path / "pool", n_files=40, n_boxes=8)
    n = len(keys)
    labels = tmp_path / "labels.sqlite"
    pixels = name != "tmux33"                          # a detached tmux has no pixels
    with open_terminal(name, annotate_command(features, labels), 120, 40) as term:
        settle(term, labels, n, "the start", timeout=90)
        if pixels:
            answer_and_check_picture(term, "d", features, labels, n, tmp_path)
        else:
            term.keys("d")
            settle(term, labels, n, "D")
        term.keys("BackSpace")
        settle(term, labels, n, "Backspace", lambda t: not current_labels(labels))
        term.keys("?")
        term.wait_text(lambda ls: "closes this help" in "\n".join(ls), 30, "the help")
        help_text = "\n".join(term.text())
        assert "negative: no, the item is not what you look for" in help_text
        assert "more like this" in help_text
        term.keys("Escape")
        settle(term, labels, n, "Escape after help", lambda t: "closes this help" not in t)
        term.keys("e")
        term.wait_text(lambda ls: "Close" in "\n".join(ls) and "Export" in "\n".join(ls),
                       30, "the export dialog")
        term.keys("Escape")
        settle(term, labels, n, "Escape after export", lambda t: "Close" not in t)
        for k in "adad":
            term.keys(k)
            settle(term, labels, n, f"{k!r}")
        if pixels:
            answer_and_check_picture(term, "a", features, labels, n, tmp_path)
        term.keys("n")
        settle(term, labels, n, "N", lambda t: "more like this" in t)
        term.keys("d")
        settle(term, labels, n, "D after N", lambda t: "more like this" not in t)
        term.keys("z")
        settle(term, labels, n, "Z")
        term.keys("p")
        settle(term, labels, n, "P", lambda t: "p(target)" in t)
        term.keys("p")
        settle(term, labels, n, "P again", lambda t: "p(target)" not in t)
        term.keys("m")
        settle(term, labels, n, "M")
        term.resize(100, 34)
        settle(term, labels, n, "a resize to 100x34")
        term.resize(120, 40)
        settle(term, labels, n, "a resize back to 120x40")
        term.keys(*(["d", "a"] * 15))                 # a burst of 30 answers
        settle(term, labels, n, "a burst of 30 keys", timeout=90)
        term.keys("q")
        time.sleep(1.0)
