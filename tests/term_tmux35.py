"""tmux 3.5a (sixel passes through; kitty graphics with passthrough) inside a real outer
terminal, for end-to-end tests: `Tmux35Xterm` (xterm -ti vt340, tests/term_xterm.py) and
`Tmux35Kitty` (kitty 0.41, tests/term_kitty.py).

tmux 3.5a comes from bookworm-backports, extracted beside its libjemalloc2 in a private folder
by `.ci/terminals-tmux35.sh`, so Debian 12's tmux 3.3a stays the default `tmux`. The outer
terminal runs an attached client of a private tmux server (its own socket, status line off, so
the pane is the whole terminal: cols x rows); the command runs in its one pane. Text comes from
tmux (`capture-pane`), keys go through the outer terminal (as a person types: outer terminal,
tmux, app), screenshots and cell size are the outer terminal's.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from term_base import TMUX35_DIR, Terminal

TMUX = TMUX35_DIR / "bin" / "tmux"
CONF = """\
set -g status off
set -g escape-time 10
set -g allow-passthrough on
set -g default-terminal tmux-256color
set -g window-size latest
set -g remain-on-exit off
set -g exit-unattached on
set-environment -gu LD_LIBRARY_PATH
"""
# variables of the terminal the tests run in that would mislead tmux or the app
FOREIGN = ("TMUX", "TMUX_PANE", "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "KITTY_WINDOW_ID",
           "KITTY_PID", "KITTY_LISTEN_ON", "VTE_VERSION", "WEZTERM_PANE")


def tmux_missing() -> str | None:
    if not TMUX.exists():
        return f"no tmux 3.5 at {TMUX} (.ci/terminals-tmux35.sh extracts it)"
    try:
        version = subprocess.run([str(TMUX), "-V"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"{TMUX} does not run: {e}"
    if not version.startswith("tmux 3.5"):
        return f"{TMUX} is {version!r}, not tmux 3.5"
    return None


def missing(name: str = "tmux35-xterm") -> str | None:
    if reason := tmux_missing():
        return reason
    try:
        outer = _outer(name)
    except ImportError as e:
        return f"outer terminal: cannot import its fixture: {e}"
    reason = outer.missing() if outer.__name__ == "term_xterm" else outer.missing("kitty")
    return f"outer terminal: {reason}" if reason else None


def available(name: str = "tmux35-xterm") -> bool:
    return missing(name) is None


def _outer(name: str):
    if name.endswith("kitty"):
        import term_kitty
        return term_kitty
    import term_xterm
    return term_xterm


class _Tmux35(Terminal):
    outer_name = "?"

    def __init__(self, command: str, cols: int = 120, rows: int = 40):
        super().__init__(command, cols, rows)
        if reason := missing(self.name):
            raise RuntimeError(reason)
        self.dir = Path(tempfile.mkdtemp(prefix="binlabel-tmux35-"))
        self.socket = self.dir / "sock"
        (self.dir / "tmux.conf").write_text(CONF)
        unset = " ".join(f"-u {v}" for v in FOREIGN)
        client = (f"exec env {unset} {shlex.quote(str(TMUX))} -S {shlex.quote(str(self.socket))}"
                  f" -f {shlex.quote(str(self.dir / 'tmux.conf'))} new-session -s binlabel"
                  f" -x {cols} -y {rows} {shlex.quote(command)}")
        self.outer = None
        try:
            self.outer = self._open_outer(client, cols, rows)
            self._wait_pane()
        except BaseException:
            self.close()
            raise

    def _open_outer(self, client: str, cols: int, rows: int) -> Terminal:
        raise NotImplementedError

    def tmux(self, *args: str) -> str:
        out = subprocess.run([str(TMUX), "-S", str(self.socket), *args], capture_output=True,
                             text=True, timeout=20)
        if out.returncode:
            raise subprocess.SubprocessError(f"tmux {args[0]}: {out.stderr.strip()}")
        return out.stdout

    def _wait_pane(self, timeout: float = 30.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                if self.tmux("list-clients", "-F", "#{client_name}").strip():
                    return
            except (subprocess.SubprocessError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"no tmux 3.5 client attached within {timeout} s")

    def client_features(self) -> str:
        """What tmux detected the outer terminal can do (`sixel` for xterm -ti vt340)."""
        return self.tmux("display-message", "-p", "#{client_termfeatures}").strip()

    def keys(self, *keys: str) -> None:
        self.outer.keys(*keys)

    def text(self) -> list[str]:
        lines = self.tmux("capture-pane", "-p", "-t", "binlabel").split("\n")[: self.rows]
        lines = [line.rstrip() for line in lines]
        return lines + [""] * (self.rows - len(lines))

    def screenshot(self, path) -> np.ndarray:
        return self.outer.screenshot(path)

    def cell_px(self) -> tuple[int, int]:
        return self.outer.cell_px()

    def resize(self, cols: int, rows: int) -> None:
        self.outer.resize(cols, rows)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            size = self.tmux("display-message", "-p", "-t", "binlabel",
                             "#{pane_width}x#{pane_height}").strip()
            if size == f"{cols}x{rows}":
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"tmux's pane is {size}, not {cols}x{rows}")
        self.cols, self.rows = cols, rows

    def close(self) -> None:
        if self.socket.exists():
            try:
                self.tmux("kill-server")  # this private server only: its pane's app gets SIGHUP
            except (subprocess.SubprocessError, OSError):
                pass
        if self.outer is not None:
            self.outer.close()
            self.outer = None
        shutil.rmtree(self.dir, ignore_errors=True)


class Tmux35Xterm(_Tmux35):
    name = "tmux35-xterm"

    def _open_outer(self, client, cols, rows):
        import term_xterm
        return term_xterm.Terminal(client, cols, rows)


class Tmux35Kitty(_Tmux35):
    name = "tmux35-kitty"

    def _open_outer(self, client, cols, rows):
        import term_kitty
        return term_kitty.Kitty(client, cols, rows)
