"""Ask the terminal what it can draw, once, before the Textual app owns the tty.

Why our own: textual-image asks at import time with a 0.1 s timeout, so a slow SSH link makes it
fall back silently and its late reply bytes are later read as keys. Here all queries go out in one
write, ending with DA1 (every terminal answers it, and answers arrive in order), so seeing the DA1
reply means every earlier reply has been read too. Whatever else is pending when we stop (a reply
that came too late, or keys typed before any image was shown) is drained, so nothing reaches the
app as a keypress.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, replace

KITTY_QUERY = b"\x1b_Gi=4242,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
CELL_QUERY = b"\x1b[16t"        # reply: ESC [ 6 ; height ; width t
WINDOW_PX_QUERY = b"\x1b[14t"   # reply: ESC [ 4 ; height ; width t (text area, pixels)
VERSION_QUERY = b"\x1b[>0q"     # XTVERSION, reply: ESC P > | name ESC \
DA1_QUERY = b"\x1b[c"           # reply: ESC [ ? attrs c ; attribute 4 = sixel

_KITTY_REPLY = re.compile(rb"\x1b_Gi=4242[^;\x1b]*;([^\x1b]*)\x1b\\")
_CELL_REPLY = re.compile(rb"\x1b\[6;(\d+);(\d+)t")
_WINDOW_PX_REPLY = re.compile(rb"\x1b\[4;(\d+);(\d+)t")
_VERSION_REPLY = re.compile(rb"\x1bP>\|([^\x1b]*)\x1b\\")
_DA1_REPLY = re.compile(rb"\x1b\[\?([\d;]*)c")


@dataclass(frozen=True)
class TermReply:
    """What the terminal said; every field has a safe value when it said nothing."""

    answered: bool = False              # a DA1 reply came back within the timeout
    kitty: bool = False                 # the kitty graphics query was answered OK
    sixel: bool = False                 # DA1 lists attribute 4
    cell_px: tuple[int, int] | None = None
    window_px: tuple[int, int] | None = None   # the text area's (w, h) in pixels (CSI 14 t)
    version: str = ""                   # XTVERSION, e.g. "kitty(0.35.2)"
    drained: int = 0                    # bytes read that were not part of any reply


def winsize_cell_px(fd: int) -> tuple[int, int] | None:
    """Cell size from the tty's pixel size (TIOCGWINSZ), when the terminal fills it in."""
    try:
        rows, cols, xpx, ypx = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    if rows and cols and xpx and ypx:
        return (xpx // cols, ypx // rows)
    return None


def query_terminal(fd_in: int, fd_out: int, *, timeout: float = 1.0, kitty: bool = True) -> TermReply:
    """Send the queries, read replies until DA1 arrives or ``timeout`` passes, drain the rest."""
    try:
        saved = termios.tcgetattr(fd_in)
    except termios.error:
        return TermReply()
    raw = list(saved)
    raw[3] &= ~(termios.ICANON | termios.ECHO)   # lflag: byte by byte, nothing echoed
    raw[6] = list(raw[6])
    raw[6][termios.VMIN], raw[6][termios.VTIME] = 0, 0
    buf = bytearray()
    try:
        termios.tcsetattr(fd_in, termios.TCSANOW, raw)
        queries = ((KITTY_QUERY if kitty else b"") + CELL_QUERY + WINDOW_PX_QUERY
                   + VERSION_QUERY + DA1_QUERY)
        os.write(fd_out, queries)
        deadline = time.monotonic() + timeout
        while not _DA1_REPLY.search(buf):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd_in], [], [], left)
            if ready:
                chunk = os.read(fd_in, 4096)
                if not chunk:
                    break
                buf += chunk
        buf += _drain(fd_in)
    except OSError:
        pass
    finally:
        try:
            # TCSAFLUSH also throws away input that is queued but not read yet
            termios.tcsetattr(fd_in, termios.TCSAFLUSH, saved)
        except termios.error:
            pass
    reply = parse_replies(bytes(buf))
    if reply.cell_px is None and reply.window_px is not None:
        grid = _grid(fd_out)   # no cell size, but the text area's pixels: divide by the grid
        if grid is not None:
            (w, h), (cols, rows) = reply.window_px, grid
            if w >= cols and h >= rows:
                reply = replace(reply, cell_px=(w // cols, h // rows))
    return reply


def _grid(fd: int) -> tuple[int, int] | None:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (cols, rows) if rows and cols else None


def _drain(fd: int) -> bytes:
    """Read whatever is pending right now, without waiting."""
    out = bytearray()
    while select.select([fd], [], [], 0)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def parse_replies(data: bytes) -> TermReply:
    """Pick the known replies out of what the terminal sent."""
    da1 = _DA1_REPLY.search(data)
    kitty = _KITTY_REPLY.search(data)
    cell = _CELL_REPLY.search(data)
    version = _VERSION_REPLY.search(data)
    window = _WINDOW_PX_REPLY.search(data)
    known = sum(m.end() - m.start() for m in (da1, kitty, cell, version, window) if m)
    cell_px = window_px = None
    if cell and int(cell.group(1)) > 0 and int(cell.group(2)) > 0:
        cell_px = (int(cell.group(2)), int(cell.group(1)))
    if window and int(window.group(1)) > 0 and int(window.group(2)) > 0:
        window_px = (int(window.group(2)), int(window.group(1)))
    return TermReply(
        answered=da1 is not None,
        kitty=bool(kitty and kitty.group(1) == b"OK"),
        sixel=bool(da1 and b"4" in da1.group(1).split(b";")),
        cell_px=cell_px,
        window_px=window_px,
        version=version.group(1).decode("utf-8", "replace") if version else "",
        drained=len(data) - known,
    )


@dataclass(frozen=True)
class TmuxInfo:
    """What tmux knows about the terminal outside it."""

    version: str = ""          # "3.3a"
    termfeatures: str = ""     # client_termfeatures, e.g. "256,RGB,sixel,..."
    termtype: str = ""         # client_termtype (XTVERSION of the outer terminal), e.g. "kitty(0.35.2)"
    termname: str = ""         # client_termname (the outer TERM), e.g. "xterm-kitty"
    passthrough: bool = False  # allow-passthrough is on (or all)


def ask_tmux(timeout: float = 1.0) -> TmuxInfo:
    """Ask the tmux server we run inside; empty fields for anything it does not say."""
    def run(*args: str) -> str:
        try:
            done = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    version = run("-V").removeprefix("tmux").strip()
    fmt = run("display", "-p", "#{client_termfeatures}\t#{client_termtype}\t#{client_termname}")
    parts = (fmt.split("\t") + ["", "", ""])[:3]
    passthrough = run("show", "-gv", "allow-passthrough") in ("on", "all")
    return TmuxInfo(version, parts[0], parts[1], parts[2], passthrough)
