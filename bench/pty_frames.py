"""The fake terminal of bench/tui_latency.py: a pseudo-terminal that runs an app, sends keys
and times each key to the end of the frame it causes (tests/test_image_pane.py uses it too).

Apart from the benchmark because it is a tool of its own: reading frames out of a byte stream
(synchronized updates, kitty graphics commands, sixel) is what every latency figure rests on.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
COLS, ROWS, CELL = 120, 40, (10, 20)             # the fake terminal: cells, px per cell
_APC = re.compile(rb"\x1b_G([^;\x1b]*)(?:;[^\x1b]*)?\x1b\\")


# ---- the fake terminal ---------------------------------------------------------------------------


_SYNC_END = b"\x1b[?2026l"                       # end of a synchronized update (one frame)
_SIXEL = re.compile(rb"\x1bP[0-9;]*q.*?\x1b\\", re.S)


def _is_upload(keys: dict) -> bool:
    """Ahead-of-time kitty work: uploads (a=t, a=f and their continuation chunks) and virtual
    placements (a=p,U=1), which show nothing until cells name them."""
    action = keys.get(b"a", b"t")
    return (action in (b"t", b"f") and (b"a" in keys or b"m" in keys)) or \
        (action == b"p" and keys.get(b"U") == b"1")


def _frame_split(data: bytes) -> int:
    """Offset just past the new frame: the first synchronized update after the key and the
    image's own display (the first kitty display command, or the first sixel), whichever ends
    later. What follows is other work: uploads of the next images, and later repaints (the
    figures of a model that finished training after the key), which are frames of their own.
    Without synchronized output: past the last byte that is not ahead-of-time kitty work."""
    ends = []
    i = data.find(_SYNC_END)
    if i >= 0:
        ends.append(i + len(_SYNC_END))
    for m in _APC.finditer(data):
        keys = dict(kv.split(b"=", 1) for kv in m.group(1).split(b",") if b"=" in kv)
        if not _is_upload(keys) and keys.get(b"a", b"t") in (b"a", b"p", b"T"):
            ends.append(m.end())
            break
    m = _SIXEL.search(data)
    if m:
        ends.append(m.end())
    if ends:
        return max(ends)
    upload = np.zeros(len(data) + 1, dtype=bool)
    for m in _APC.finditer(data):
        keys = dict(kv.split(b"=", 1) for kv in m.group(1).split(b",") if b"=" in kv)
        if _is_upload(keys):
            upload[m.start():m.end()] = True
    frame = np.flatnonzero(~upload[:len(data)])
    return int(frame[-1]) + 1 if len(frame) else 0


def drive(argv: list[str], n_keys: int, *, term: str = "xterm-256color", key: bytes = b"d", quiet: float = 0.15, think: float = 0.1,
          ready_quiet: float = 1.5, ready_timeout: float = 90.0, keep: bool = False) -> dict:
    """Run ``argv`` on a pty of 120x40 cells (1200x800 px); press ``key`` ``n_keys`` times.

    ``keep``: also return each keypress's bytes and where its frame ends (``windows``)."""
    env = dict(os.environ, TERM=term, COLORTERM="truecolor", PYTHONPATH=str(ROOT))
    env.pop("TMUX", None)
    pid, master = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, COLS * CELL[0], ROWS * CELL[1]))
        os.chdir(ROOT)
        os.execvpe(argv[0], argv, env)
    answered = False
    total = 0

    def read_until_quiet(gap: float, limit: float) -> list[tuple[float, bytes]]:
        nonlocal answered, total
        chunks, last, start = [], time.perf_counter(), time.perf_counter()
        while True:
            now = time.perf_counter()
            if now - last > gap and (chunks or now - start > limit) or now - start > limit:
                return chunks
            if select.select([master], [], [], 0.005)[0]:
                try:
                    data = os.read(master, 1 << 20)
                except OSError:
                    return chunks
                if not data:
                    return chunks
                t = time.perf_counter()
                chunks.append((t, data))
                total += len(data)
                last = t
                if not answered and b"\x1b[?2026$p" in data:
                    os.write(master, b"\x1b[?2026;2$y")   # synchronized output: yes
                    answered = True

    try:
        first = read_until_quiet(ready_quiet, ready_timeout)
        if not first:
            raise RuntimeError(f"{' '.join(argv)}: no output within {ready_timeout}s")
        startup = b"".join(c for _, c in first)
        if os.waitpid(pid, os.WNOHANG)[0]:
            raise RuntimeError(f"{' '.join(argv)} exited:\n" + startup[-1500:].decode("utf-8", "replace"))
        if b"Traceback (most recent call last)" in startup:
            raise RuntimeError(f"{' '.join(argv)} crashed:\n" + startup[-1500:].decode("utf-8", "replace"))
        lat, at_key, per_key, windows, silent = [], [], [], [], 0
        for _ in range(n_keys):
            t0 = time.perf_counter()
            os.write(master, key)
            chunks = read_until_quiet(quiet, 10.0)
            data = b"".join(c for _, c in chunks)
            end = _frame_split(data)
            if end == 0:
                silent += 1
                gone = os.waitpid(pid, os.WNOHANG)
                if gone[0] or silent >= 5:
                    why = f"exited with status {gone[1]}" if gone[0] else "stopped answering keys"
                    raise RuntimeError(f"{' '.join(argv)} {why} after {len(lat)} keys")
                continue
            silent = 0
            upto, t_end = 0, t0
            for t, c in chunks:
                upto += len(c)
                if upto >= end:
                    t_end = t
                    break
            lat.append((t_end - t0) * 1000)
            at_key.append(end)
            per_key.append(len(data))
            if keep:
                windows.append((data, end))
            time.sleep(think)
        return dict(n=len(lat), latency_ms=lat, bytes_at_key=at_key, bytes_per_key=per_key, windows=windows,
                    startup_bytes=sum(len(c) for _, c in first))
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _reap(pid, master)
        os.close(master)


def _reap(pid: int, master: int) -> None:
    """Wait up to 5 s for the child (reading its last output so it is not blocked), then kill it."""
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            try:
                select.select([master], [], [], 0.05) and os.read(master, 1 << 20)
            except OSError:
                pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass   # already reaped
