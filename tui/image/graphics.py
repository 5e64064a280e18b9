"""Choose how images reach the terminal: kitty, sixel, halfcell or unicode, and say why.

Why ours, not textual-image's import-time guess: the choice must survive a slow SSH link (a 1 s
timeout, asked once, before the app starts), never leave reply bytes behind to be read as keys,
look through tmux to the terminal outside it, and tell the person in one line how to get sharper
images when they get the fallback.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from tui.image import termquery

PROTOCOLS = ("kitty", "sixel", "halfcell", "unicode")
DEFAULT_CELL_PX = (10, 20)
ENV_VAR = "BINLABEL_GRAPHICS"


@dataclass(frozen=True)
class Graphics:
    protocol: str             # "kitty" | "sixel" | "halfcell" | "unicode"
    cell_px: tuple[int, int]  # (w, h) pixels of one cell
    in_tmux: bool
    passthrough: bool         # kitty sequences wrapped for tmux passthrough
    notice: str               # one line for the UI ("" when the best is in use)
    terminal: str = ""        # the terminal's own name when known (XTVERSION / tmux client_termtype)

    @property
    def kitty_frames(self) -> bool:
        """True where switching images by animation frames is known to work (kitty itself)."""
        return self.protocol == "kitty" and "kitty" in self.terminal.lower()


def choose_graphics(requested: str = "auto", *, timeout: float = 1.0,
                    fd_in: int | None = None, fd_out: int | None = None) -> Graphics:
    """Pick the protocol. ``requested`` auto|kitty|sixel|halfcell|unicode; auto reads $BINLABEL_GRAPHICS.

    Raises ValueError (a message naming the value and the choices) only for a bad ``requested``; an odd
    terminal never makes this raise or hang.
    """
    source = "--graphics"
    if requested == "auto" and os.environ.get(ENV_VAR, "").strip():
        requested, source = os.environ[ENV_VAR].strip().lower(), f"${ENV_VAR}"
    if requested not in ("auto",) + PROTOCOLS:
        raise ValueError(f"{source}: unknown graphics {requested!r} (expected one of auto, {', '.join(PROTOCOLS)})")
    fd_in = _fileno(sys.stdin) if fd_in is None else fd_in
    fd_out = _fileno(sys.stdout) if fd_out is None else fd_out
    is_tty = fd_in is not None and fd_out is not None and os.isatty(fd_in) and os.isatty(fd_out)
    in_tmux = bool(os.environ.get("TMUX"))
    env_cell = _env_cell_px()
    cell = (termquery.winsize_cell_px(fd_out) if is_tty else None) or env_cell or DEFAULT_CELL_PX
    tmux = termquery.ask_tmux() if in_tmux else termquery.TmuxInfo()
    term_name = tmux.termtype or tmux.termname if in_tmux else os.environ.get("TERM_PROGRAM") or os.environ.get("TERM", "")

    if requested != "auto":
        if is_tty and requested in ("kitty", "sixel") and not env_cell \
                and not termquery.winsize_cell_px(fd_out):
            # a pty that reports no pixels (VS Code's node-pty): ask the terminal, or a
            # 10x20 guess where the cell is 9x18 overflows the pane and scrolls the screen
            asked = termquery.query_terminal(fd_in, fd_out, timeout=timeout, kitty=False)
            cell = asked.cell_px or cell
        passthrough = in_tmux and requested == "kitty" and tmux.passthrough
        notice = ""
        if in_tmux and requested == "kitty" and not tmux.passthrough:
            notice = "kitty inside tmux needs `tmux set -g allow-passthrough on`"
        return Graphics(requested, cell, in_tmux, passthrough, notice, term_name)
    if not is_tty:
        return Graphics("unicode", cell, in_tmux, False, "not a terminal: text rendering", "")

    reply = termquery.query_terminal(fd_in, fd_out, timeout=timeout, kitty=not in_tmux)
    if reply.cell_px and not termquery.winsize_cell_px(fd_out) and not env_cell:
        cell = reply.cell_px
    if in_tmux:
        return _inside_tmux(tmux, reply, cell)
    name = reply.version or term_name
    if reply.sixel:
        return Graphics("sixel", cell, False, False, "", name)
    if reply.kitty:
        return Graphics("kitty", cell, False, False, "", name)
    why = "the terminal did not answer within %.1f s" % timeout if not reply.answered else "no kitty or sixel graphics"
    return Graphics("halfcell", cell, False, False,
                    f"halfcell images ({why}); for sharp images use kitty >= 0.28, or a sixel terminal "
                    "(foot, wezterm, xterm -ti vt340), or --graphics kitty|sixel" + _colour_hint(), name)


def _inside_tmux(tmux: termquery.TmuxInfo, reply: termquery.TermReply, cell) -> Graphics:
    outer = f"{tmux.termtype} {tmux.termname}".lower()
    version = f"tmux {tmux.version}".strip()
    name = tmux.termtype or tmux.termname
    if "kitty" in outer or "ghostty" in outer:
        if tmux.passthrough:
            return Graphics("kitty", cell, True, True, "", name)
        return Graphics("halfcell", cell, True, False,
                        f"halfcell images: the terminal has kitty graphics but {version} blocks them; "
                        "run `tmux set -g allow-passthrough on` and restart", name)
    if "sixel" in tmux.termfeatures.split(",") and reply.sixel:
        return Graphics("sixel", cell, True, False, "", name)
    if not tmux.termfeatures and not name:
        why = f"{version} has no client attached to ask"
    elif "sixel" in tmux.termfeatures.split(","):
        why = f"{version} was built without sixel"
    else:
        why = f"{version} reports no sixel or kitty graphics for {name or 'this terminal'}"
    return Graphics("halfcell", cell, True, False,
                    f"halfcell images: {why}; for sharp images run outside tmux, use tmux >= 3.4 "
                    "with sixel, or kitty with allow-passthrough on" + _colour_hint(), name)


def _colour_hint() -> str:
    """Half cells in 256 colours look poor; SSH and tmux often drop COLORTERM."""
    if os.environ.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return ""
    return "; COLORTERM=truecolor gives full colour"


def _fileno(stream) -> int | None:
    try:
        return stream.fileno() if stream is not None else None
    except (OSError, ValueError, AttributeError):
        return None


def _env_cell_px() -> tuple[int, int] | None:
    w, h = os.environ.get("TEXTUAL_CELL_WIDTH", ""), os.environ.get("TEXTUAL_CELL_HEIGHT", "")
    return (int(w), int(h)) if w.isdigit() and h.isdigit() and int(w) and int(h) else None
