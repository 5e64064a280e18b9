"""End to end in a real terminal: `annotate` in tmux, keys with send-keys, the screen read
with capture-pane; the side panel's counts follow the keys and the labels file agrees."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_fixtures import current_labels, make_pool

from tui.sampler import default_labels_path

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed "
                                 "(.ci/run installs it)")]
ROOT = Path(__file__).resolve().parents[1]
COUNTS = re.compile(r"pos (\d+)\s+neg (\d+).*?skip (\d+)\s+left (\d+)", re.S)


class Tmux:
    def __init__(self, name: str, cmd: str, width: int = 160, height: int = 48):
        self.name = name
        self.socket = f"binlabel-test-{os.getpid()}-{name}"
        self.tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), cmd)

    def tmux(self, *args) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=20).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "") -> str:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")

    def close(self) -> None:
        self.tmux("kill-server")


def counts(screen: str) -> tuple[int, ...] | None:
    m = COUNTS.search(screen.replace("▏", " "))
    return tuple(int(g) for g in m.groups()) if m else None


def annotate_cmd(features: Path, *extra: str) -> str:
    args = shlex.join([sys.executable, "-m", "tui", str(features), *extra])
    env = "HF_HUB_OFFLINE=1 COLORTERM=truecolor"
    return f"cd {shlex.quote(str(ROOT))} && {env} {args}; echo EXIT=$?; sleep 30"


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
        for key, want, tally in steps:
            term.keys(key)
            term.wait_for(lambda s: counts(s) == want, timeout=30, what=f"counts {want}")
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
    term = Tmux("first", annotate_cmd(features, "--graphics", "unicode"), 100, 30)
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
    term = Tmux("second", annotate_cmd(features, "--graphics", "unicode"), 100, 30)
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
