"""End to end in a real terminal: `annotate` in tmux, keys with send-keys, the screen read
with capture-pane; the side panel's counts follow the keys and the labels file agrees."""

from __future__ import annotations

import shutil
import time

import pytest
from app_fixtures import current_labels, make_pool
from tmux_fixtures import Tmux, annotate_cmd, counts

from tui.learn.sampler import default_labels_path

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed "
                                 "(.ci/run installs it)")]


def test_keys_in_tmux_change_the_counts_and_the_labels_file(tmp_path):
    features, keys = make_pool(tmp_path / "pool")
    labels_path = default_labels_path(features)
    term = Tmux("keys", annotate_cmd(features))
    try:
        start = term.wait_for(lambda s: "of 24" in s and counts(s), what="the first item")
        assert counts(start) == (0, 0, 0, 24)
        assert "halfcell" in start or "unicode" in start  # tmux 3.3: the notice says why
        steps = [("d", (1, 0, 0, 23), {"pos": 1}),
                 ("a", (1, 1, 0, 22), {"pos": 1, "neg": 1}),
                 ("Space", (1, 1, 1, 21), {"pos": 1, "neg": 1, "skip": 1}),
                 ("Right", (2, 1, 1, 20), {"pos": 2, "neg": 1, "skip": 1}),
                 ("BSpace", (1, 1, 1, 21), {"pos": 1, "neg": 1, "skip": 1}),
                 ("Left", (1, 2, 1, 20), {"pos": 1, "neg": 2, "skip": 1})]
        shown = start.splitlines()[0]
        for key, want, tally in steps:
            term.keys(key)
            # the counts, and the next item on screen: a key that comes before its frame is
            # painted is dropped by design (nobody saw the item), as a person would not press it
            screen = term.wait_for(lambda s: counts(s) == want and s.splitlines()[0] != shown,
                                   timeout=30, what=f"counts {want} and the next item")
            shown = screen.splitlines()[0]
            labels = current_labels(labels_path)
            assert {a: list(labels.values()).count(a) for a in tally} == tally
            assert sum(tally.values()) == len(labels)
        term.keys("q")
        term.wait_for(lambda s: "EXIT=0" in s, timeout=30, what="a clean exit")
        assert set(current_labels(labels_path)) <= set(keys)
    finally:
        term.close()


def test_restart_in_tmux_resumes_counts_and_undo(tmp_path):
    features, _ = make_pool(tmp_path / "pool", n_files=6, n_boxes=2)
    labels_path = default_labels_path(features)
    term = Tmux("first", annotate_cmd(features, "--graphics", "unicode",
                                       "--session", "monday"), 100, 30)
    try:
        term.wait_for(lambda s: "of 8" in s and counts(s) == (0, 0, 0, 8), what="the first item")
        term.keys("d")
        term.wait_for(lambda s: counts(s) == (1, 0, 0, 7), what="one answer")
        first = dict(current_labels(labels_path))
        term.keys("a")
        term.wait_for(lambda s: counts(s) == (1, 1, 0, 6), what="two answers")
        term.keys("q")
        term.wait_for(lambda s: "EXIT=0" in s, what="a clean exit")
    finally:
        term.close()
    term = Tmux("second", annotate_cmd(features, "--graphics", "unicode",
                                       "--session", "monday"), 100, 30)
    try:
        term.wait_for(lambda s: "of 8" in s and counts(s) == (1, 1, 0, 6),
                      what="the counts of the first run")
        term.keys("BSpace")
        term.wait_for(lambda s: counts(s) == (1, 0, 0, 7), what="the undo of the first run")
        assert current_labels(labels_path) == first
        term.keys("q")
        term.wait_for(lambda s: "EXIT=0" in s, what="a clean exit")
    finally:
        term.close()


def test_late_terminal_replies_are_never_answers(tmp_path):
    """Replies a terminal may send late (DA1, kitty graphics, XTVERSION, cell size, DECRQM),
    typed into the running app: no item is labelled, the app keeps working."""
    features, _ = make_pool(tmp_path / "pool", n_files=6, n_boxes=2)
    labels_path = default_labels_path(features)
    term = Tmux("replies", annotate_cmd(features), 120, 36)
    replies = ["\x1b[?62;4;22c", "\x1b_Gi=31;OK\x1b\\", "\x1b_Gi=1;EINVAL:bad\x1b\\",
               "\x1bP>|xterm(390)\x1b\\", "\x1b[6;20;10t", "\x1b[4;600;800t",
               "\x1b[?2026;2$y", "\x1b[?1016;1$y", "\x1b[?0u", "\x1b]11;rgb:0000/0000/0000\x1b\\"]
    try:
        term.wait_for(lambda s: "of 8" in s and counts(s) == (0, 0, 0, 8), what="the first item")
        for reply in replies:
            term.tmux("send-keys", "-t", term.name, "-H", *(f"{b:02x}" for b in reply.encode()))
        time.sleep(1.5)
        screen = term.screen()
        assert counts(screen) == (0, 0, 0, 8), screen
        assert current_labels(labels_path) == {}
        term.keys("d")  # and a real key still answers
        term.wait_for(lambda s: counts(s) == (1, 0, 0, 7), what="one answer")
        assert list(current_labels(labels_path).values()) == ["pos"]
    finally:
        term.close()


def test_panel_lines_never_linger_after_the_panel_shrinks(tmp_path):
    """Press N (a two-line status appears), then answer: the panel is two lines shorter,
    and the rows below its new end must be repainted blank, not keep old lines (tmux and
    xterm showed "positives left" twice)."""
    import re

    features, keys = make_pool(tmp_path / "pool", n_files=60)
    n = len(keys)
    term = Tmux("shrink", annotate_cmd(features, "--graphics", "unicode"), 120, 40)
    try:
        term.wait_for(lambda s: f"of {n}" in s and counts(s), what="the first item")
        want = [0, 0, 0, n]
        for key in "dadannnddd":
            if key == "n":
                term.keys("n")
                term.wait_for(lambda s: "more like this" in s, what="the N status")
                continue
            want[0 if key == "d" else 1] += 1
            want[3] -= 1
            term.keys(key)
            screen = term.wait_for(lambda s: counts(s) == tuple(want), what=f"counts {want}")
        time.sleep(1.0)                           # the panel's next refreshes land too
        screen = term.screen()
        for line in ("positives left", "strategy ", "model agreed with your", "box "):
            assert screen.count(line) == 1, (line, screen)
        assert len(re.findall(r"model (?:v\d+|none yet)", screen)) == 1, screen
        assert len(re.findall(r"row \d+ of \d+ in the file", screen)) == 1, screen
        assert len(re.findall(r"pos \d+\s+neg \d+", screen)) == 1, screen
    finally:
        term.close()
