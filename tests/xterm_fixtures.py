"""A real xterm with sixel graphics on a private headless X server (Xvfb), for end-to-end tests.

Recipe from NOTES.md: no window manager, so focus follows the pointer (move it over the
window before typing); xterm ignores synthetic events sent to a window id, so keys go
with plain `xdotool key`; screenshots with ImageMagick `import -window root`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image
from term_base import free_display

TOOLS = ("Xvfb", "xterm", "xdotool", "import")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


class XtermSession:
    """Xvfb + xterm -ti vt340 running `command`; `close()` ends both (by their pids)."""

    def __init__(self, command: str, cols: int = 120, rows: int = 40, font_size: int = 9,
                 screen=(1280, 800)):
        self.display = f":{free_display()}"
        self.env = dict(os.environ, DISPLAY=self.display)
        self.xvfb = subprocess.Popen(
            ["Xvfb", self.display, "-screen", "0", f"{screen[0]}x{screen[1]}x24", "-nolisten",
             "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.xterm = None
        sock = Path(f"/tmp/.X11-unix/X{self.display[1:]}")
        t0 = time.monotonic()
        while not sock.exists():
            if time.monotonic() - t0 > 20 or self.xvfb.poll() is not None:
                self.close()
                raise RuntimeError(f"Xvfb {self.display} did not start")
            time.sleep(0.05)
        self.xterm = subprocess.Popen(
            ["xterm", "-ti", "vt340", "-fa", "DejaVu Sans Mono", "-fs", str(font_size),
             "-geometry", f"{cols}x{rows}+0+0",
             "-e", "bash", "-c", command],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.env, check=True, timeout=10,
                       capture_output=True)

    def key(self, *keys: str) -> None:
        self.xdotool("mousemove", "400", "300")  # focus follows the pointer
        self.xdotool("key", *keys)

    def screenshot(self, path: Path) -> np.ndarray:
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True,
                       timeout=20, capture_output=True)
        return np.asarray(Image.open(path).convert("RGB"))

    def close(self) -> None:
        for proc in (self.xterm, self.xvfb):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def outline_pixels(rgb: np.ndarray) -> np.ndarray:
    """Where the box outline's bright yellow (render.OUTLINE = 255, 221, 0) shows,
    with room for a 256-colour sixel palette."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (r > 200) & (g > 170) & (b < 90) & (r - b > 150)
