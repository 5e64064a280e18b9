"""xterm (Debian 12, `-ti vt340`, sixel) on a private Xvfb, with its screen read back as text.

Text comes from xterm itself: its `print-immediate()` action writes the current screen
(normal or alternate: printOptsImmediate 1), as plain UTF-8 without attributes
(printModeImmediate 0), to a file named printFileImmediate + a timestamp. The action is bound
to Ctrl+Shift+Alt+F12 with a `#override` translation, so the key is taken by xterm and never
reaches the program; `text()` empties a private folder, sends that key with xdotool and reads
the one file that appears. The cell size is xterm's own WM_NORMAL_HINTS resize increment.

The rest follows tests/xterm_fixtures.py: no window manager, so the pointer is put over the
window once (focus follows it) and keys go with plain `xdotool`; screenshots with ImageMagick
`import`, cropped to the character cells (no internal border).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from term_base import Terminal as BaseTerminal
from term_base import die_with_parent, free_display
from xterm_fixtures import XtermSession, missing_tools

DUMP_KEY = "ctrl+shift+alt+F12"
BORDER = 2  # xterm's internal border, in pixels (-b)
# Variables from the terminal the tests run in that would mislead the program in xterm.
FOREIGN = ("TMUX", "TMUX_PANE", "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "KITTY_WINDOW_ID",
           "KITTY_PID", "COLORTERM", "VTE_VERSION", "WEZTERM_PANE")


def missing(name: str | None = None) -> str | None:
    """Why xterm cannot start here, or None (`name`: term_base.missing passes it)."""
    tools = missing_tools() + [t for t in ("xprop",) if shutil.which(t) is None]
    if tools:
        return f"missing {', '.join(tools)} (.ci/run installs xterm xvfb xdotool imagemagick " \
               "x11-utils)"
    return None


class Xterm(XtermSession, BaseTerminal):
    """`xterm -ti vt340` running `bash -c command`; `close()` ends xterm and Xvfb by their pids
    (and they end with the test process if it is killed)."""

    name = "xterm"

    def __init__(self, command: str, cols: int = 120, rows: int = 40, font_size: int = 9,
                 screen=(1600, 1000)):
        self.command, self.cols, self.rows = command, cols, rows
        self.dumps = Path(tempfile.mkdtemp(prefix="binlabel-xterm-text-"))
        self.display = f":{free_display()}"
        self.env = dict(os.environ, DISPLAY=self.display)
        for var in FOREIGN:
            self.env.pop(var, None)
        self.xterm = None
        self.xvfb = subprocess.Popen(
            ["Xvfb", self.display, "-screen", "0", f"{screen[0]}x{screen[1]}x24", "-nolisten",
             "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: die_with_parent(15))
        try:
            self._wait(lambda: Path(f"/tmp/.X11-unix/X{self.display[1:]}").exists()
                       or self.xvfb.poll() is not None, 20, "Xvfb")
            if self.xvfb.poll() is not None:
                raise RuntimeError(f"Xvfb {self.display} did not start")
            xrm = {"printFileImmediate": f"{self.dumps}/screen", "printOptsImmediate": "1",
                   "printModeImmediate": "0",
                   "translations": "#override Ctrl Shift Alt <Key>F12: print-immediate()"}
            args = ["xterm", "-ti", "vt340", "-fa", "DejaVu Sans Mono", "-fs", str(font_size),
                    "-b", str(BORDER), "-geometry", f"{cols}x{rows}+0+0"]
            for res, value in xrm.items():
                # the print resources are not read at the VT100 level: *name, not *VT100.name
                args += ["-xrm", f"XTerm*{'VT100.' if res == 'translations' else ''}{res}: {value}"]
            for attempt in (1, 2):
                self.xterm = subprocess.Popen(
                    [*args, "-e", "bash", "-c", command], env=self.env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    preexec_fn=lambda: die_with_parent(15))
                try:
                    self.window = self._wait(self._find_window, 20, "the xterm window")
                    break
                except RuntimeError as exc:
                    # Xvfb's socket appears before it takes clients: xterm then exits 1 at
                    # once ("can't open display"); a second start, a moment later, works
                    if attempt == 2 or "exited" not in str(exc):
                        raise
                    time.sleep(0.5)
            self.xdotool("mousemove", "2", "2")  # focus follows the pointer (the internal border)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _wait(probe, timeout: float, what: str):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            value = probe()
            if value:
                return value
            time.sleep(0.05)
        raise RuntimeError(f"timed out after {timeout} s waiting for {what}")

    def _find_window(self) -> str | None:
        if self.xterm.poll() is not None:
            raise RuntimeError(f"xterm exited with {self.xterm.returncode}")
        out = subprocess.run(["xdotool", "search", "--pid", str(self.xterm.pid)], env=self.env,
                             capture_output=True, text=True, timeout=10).stdout.split()
        return out[0] if out else None

    def _hints(self) -> dict[str, tuple[int, int]]:
        out = subprocess.run(["xprop", "-id", self.window, "WM_NORMAL_HINTS"], env=self.env,
                             capture_output=True, text=True, timeout=10).stdout
        return {m[1]: (int(m[2]), int(m[3])) for m in
                re.finditer(r"program specified (resize increment|base size): (\d+) by (\d+)", out)}

    # ---- the protocol ------------------------------------------------------------------------
    def keys(self, *keys: str) -> None:
        for key in keys:
            if len(key) == 1:
                self.xdotool("type", "--delay", "0", "--", key)
            else:
                self.xdotool("key", "--delay", "0", key)

    def key(self, *keys: str) -> None:  # XtermSession's name, xdotool key names
        self.xdotool("key", *keys)

    def text(self) -> list[str]:
        for old in self.dumps.iterdir():
            old.unlink()
        self.xdotool("key", DUMP_KEY)

        def dumped():
            files = list(self.dumps.iterdir())
            if files:
                data = files[0].read_bytes()
                if data.count(b"\n") >= self.rows:  # complete (xterm writes it in one go)
                    return data
            return None
        lines = self._wait(dumped, 10, "xterm's print-immediate file").decode(
            "utf-8", "replace").split("\n")[: self.rows]
        return [line.rstrip() for line in lines] + [""] * (self.rows - len(lines))

    def screenshot(self, path) -> np.ndarray:
        from PIL import Image

        subprocess.run(["import", "-window", self.window, str(path)], env=self.env, check=True,
                       timeout=20, capture_output=True)
        cw, ch = self.cell_px()
        rgb = np.asarray(Image.open(path).convert("RGB"))
        cells = np.ascontiguousarray(rgb[BORDER:BORDER + self.rows * ch,
                                         BORDER:BORDER + self.cols * cw])
        Image.fromarray(cells).save(path)  # the file holds what is returned
        return cells

    def cell_px(self) -> tuple[int, int]:
        return self._hints()["resize increment"]

    def resize(self, cols: int, rows: int) -> None:
        self.xdotool("windowsize", "--usehints", self.window, str(cols), str(rows))
        (cw, ch), want = self.cell_px(), (cols, rows)

        def done():
            out = subprocess.run(["xdotool", "getwindowgeometry", "--shell", self.window],
                                 env=self.env, capture_output=True, text=True, timeout=10).stdout
            geo = dict(line.split("=", 1) for line in out.split())
            return ((int(geo["WIDTH"]) - 2 * BORDER) // cw,
                    (int(geo["HEIGHT"]) - 2 * BORDER) // ch) == want
        self._wait(done, 10, f"xterm at {cols}x{rows}")
        self.cols, self.rows = cols, rows

    def alive(self) -> bool:
        return self.xterm is not None and self.xterm.poll() is None

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.dumps, ignore_errors=True)


Terminal = Xterm  # the name every fixture module offers
