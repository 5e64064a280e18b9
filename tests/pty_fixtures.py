"""The real `annotate` on a real pty whose far end we play: a terminal that answers late.

Why not tmux or xterm here: we must choose exactly when (and how split) the terminal's
replies arrive, which no real terminal lets a test do. Everything else is real: the
process, its tty, its termios settings, Textual's driver and the labels file.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class PtyApp:
    """`python -m tui ARGS` on a pty of `cols` x `rows`; `out` collects what it writes."""

    def __init__(self, args: list[str], cols: int = 120, rows: int = 40, env: dict | None = None):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "BINLABEL_GRAPHICS")}
        full_env.update({"TERM": "xterm-256color", "HF_HUB_OFFLINE": "1",
                         "BINLABEL_BACKGROUND_NICE": "0", **(env or {})})
        self.proc = subprocess.Popen([sys.executable, "-m", "tui", *args], stdin=slave,
                                     stdout=slave, stderr=slave, cwd=ROOT, env=full_env,
                                     start_new_session=True)
        os.close(slave)
        self.out = bytearray()
        self._lock = threading.Lock()
        self._stop = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                ready = select.select([self.master], [], [], 0.05)[0]
                chunk = os.read(self.master, 65536) if ready else b""
            except OSError:
                return
            if ready and not chunk:
                return
            with self._lock:
                self.out += chunk

    def output(self) -> bytes:
        with self._lock:
            return bytes(self.out)

    def wait_output(self, needle: bytes, timeout: float = 60.0, start: int = 0) -> float:
        """Wait until `needle` appears in the output after offset `start`; when it did."""
        deadline = time.monotonic() + timeout
        while needle not in self.output()[start:]:
            if self.proc.poll() is not None:
                raise AssertionError(f"annotate exited ({self.proc.returncode}) before "
                                     f"{needle!r}; output: {self.output()[-2000:]!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} within {timeout} s; output: "
                                     f"{self.output()[-2000:]!r}")
            time.sleep(0.02)
        return time.monotonic()

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def write_later(self, delay: float, *parts: bytes, gap: float = 0.03) -> threading.Thread:
        """Write `parts` after `delay` seconds, `gap` seconds apart (a reply split in transit)."""
        def go():
            time.sleep(delay)
            for i, p in enumerate(parts):
                if i:
                    time.sleep(gap)
                self.write(p)
        t = threading.Thread(target=go, daemon=True)
        t.start()
        return t

    def close(self, timeout: float = 20.0) -> int | None:
        if self.proc.poll() is None:
            try:
                self.write(b"q")
                self.proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        self._stop = True
        self._reader.join(2)
        try:
            os.close(self.master)
        except OSError:
            pass
        return self.proc.returncode
