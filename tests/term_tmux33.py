"""Debian 12's tmux 3.3a (no sixel: halfcell images) behind the common terminal interface.

Detached, as in tests/tmux_fixtures.py: no outer terminal, so there is no screenshot; the
screen is tmux's own (`capture-pane`), which is what a person attached to it sees.
"""

from __future__ import annotations

import shutil
import subprocess

from term_base import Terminal
from tmux_fixtures import Tmux

_KEYS = {"BackSpace": "BSpace", "space": "Space", "Return": "Enter", "ctrl+l": "C-l",
         "Escape": "Escape", "Left": "Left", "Right": "Right"}


def missing(name: str = "tmux33") -> str | None:
    if shutil.which("tmux") is None:
        return "tmux not installed (.ci/run installs it)"
    version = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    return None if version.startswith("tmux 3.") else f"tmux is {version!r}"


class Tmux33(Terminal):
    name = "tmux33"
    screenshots = False

    def __init__(self, command: str, cols: int = 120, rows: int = 40):
        super().__init__(command, cols, rows)
        self._t = Tmux(f"matrix{id(self) % 10000}", command, cols, rows)

    def keys(self, *keys: str) -> None:
        for k in keys:
            self._t.keys(_KEYS.get(k, k))

    def text(self) -> list[str]:
        lines = self._t.screen().split("\n")[: self.rows]
        return [line.rstrip() for line in lines] + [""] * (self.rows - len(lines))

    def screenshot(self, path):
        raise NotImplementedError("a detached tmux has no pixels")

    def cell_px(self) -> tuple[int, int]:
        return (10, 20)

    def resize(self, cols: int, rows: int) -> None:
        self._t.tmux("resize-window", "-t", self._t.name, "-x", str(cols), "-y", str(rows))
        self.cols, self.rows = cols, rows

    def close(self) -> None:
        self._t.close()
