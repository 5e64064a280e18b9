"""tmux as a real terminal for end-to-end tests (and the kill benchmark): start a command
in a detached session on a private server, send keys, read the screen."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COUNTS = re.compile(r"pos (\d+)\s+neg (\d+).*?skip (\d+)\s+left (\d+)", re.S)


class Tmux:
    """One detached session on its own server socket; `close()` kills that server only."""

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

    def pane_pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", self.name, "#{pane_pid}").strip())

    def close(self) -> None:
        self.tmux("kill-server")


def counts(screen: str) -> tuple[int, ...] | None:
    """(pos, neg, skip, left) as the side panel shows them, or None."""
    m = COUNTS.search(screen.replace("▏", " "))
    return tuple(int(g) for g in m.groups()) if m else None


def annotate_cmd(features: Path, *extra: str, then: str = "echo EXIT=$?; sleep 30") -> str:
    args = shlex.join([sys.executable, "-m", "tui", str(features), *extra])
    env = "HF_HUB_OFFLINE=1 COLORTERM=truecolor"
    return f"cd {shlex.quote(str(ROOT))} && {env} {args}; {then}"
