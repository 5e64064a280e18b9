"""Pictures to terminal bytes and cells, done in a worker thread before the keypress.

Why not textual-image's renderables: they encode at render time (the keypress pays for it), re-send
the whole kitty PNG on every change, send sixel twice, and importing them queries the terminal.
These functions are pure (picture in, bytes or Rich segments out), so tests check them directly.
"""

from __future__ import annotations

import base64
import io
import multiprocessing
import os
import re
import sys
import threading
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from PIL import Image
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

from tui.image.quantize import quantize
from tui.image.render import BACKGROUND

# ---- shared -------------------------------------------------------------------------------------


def letterbox(image: Image.Image, size: tuple[int, int], background=BACKGROUND) -> Image.Image:
    """``image`` fitted (aspect kept, never enlarged past ``size``) and centred on a ``size`` canvas."""
    w, h = max(1, size[0]), max(1, size[1])
    image = image.convert("RGB") if image.mode != "RGB" else image
    if image.size != (w, h):
        fit = min(w / image.width, h / image.height)
        if fit < 1 or (image.width != w and image.height != h):
            new = (max(1, min(w, round(image.width * fit))), max(1, min(h, round(image.height * fit))))
            image = image.resize(new, Image.Resampling.LANCZOS if fit < 1 else Image.Resampling.BICUBIC)
    if image.size == (w, h):
        return image
    canvas = Image.new("RGB", (w, h), background)
    canvas.paste(image, ((w - image.width) // 2, (h - image.height) // 2))
    return canvas


# ---- kitty graphics protocol ---------------------------------------------------------------------

PLACEHOLDER = "\U0010eeee"
# Row/column diacritics of kitty's Unicode placeholders (rowcolumn-diacritics.txt), first 256.
DIACRITICS = [chr(c) for c in (
    0x0305, 0x030D, 0x030E, 0x0310, 0x0312, 0x033D, 0x033E, 0x033F, 0x0346, 0x034A, 0x034B, 0x034C,
    0x0350, 0x0351, 0x0352, 0x0357, 0x035B, 0x0363, 0x0364, 0x0365, 0x0366, 0x0367, 0x0368, 0x0369,
    0x036A, 0x036B, 0x036C, 0x036D, 0x036E, 0x036F, 0x0483, 0x0484, 0x0485, 0x0486, 0x0487, 0x0592,
    0x0593, 0x0594, 0x0595, 0x0597, 0x0598, 0x0599, 0x059C, 0x059D, 0x059E, 0x059F, 0x05A0, 0x05A1,
    0x05A8, 0x05A9, 0x05AB, 0x05AC, 0x05AF, 0x05C4, 0x0610, 0x0611, 0x0612, 0x0613, 0x0614, 0x0615,
    0x0616, 0x0617, 0x0657, 0x0658, 0x0659, 0x065A, 0x065B, 0x065D, 0x065E, 0x06D6, 0x06D7, 0x06D8,
    0x06D9, 0x06DA, 0x06DB, 0x06DC, 0x06DF, 0x06E0, 0x06E1, 0x06E2, 0x06E4, 0x06E7, 0x06E8, 0x06EB,
    0x06EC, 0x0730, 0x0732, 0x0733, 0x0735, 0x0736, 0x073A, 0x073D, 0x073F, 0x0740, 0x0741, 0x0743,
    0x0745, 0x0747, 0x0749, 0x074A, 0x07EB, 0x07EC, 0x07ED, 0x07EE, 0x07EF, 0x07F0, 0x07F1, 0x07F3,
    0x0816, 0x0817, 0x0818, 0x0819, 0x081B, 0x081C, 0x081D, 0x081E, 0x081F, 0x0820, 0x0821, 0x0822,
    0x0823, 0x0825, 0x0826, 0x0827, 0x0829, 0x082A, 0x082B, 0x082C, 0x082D, 0x0951, 0x0953, 0x0954,
    0x0F82, 0x0F83, 0x0F86, 0x0F87, 0x135D, 0x135E, 0x135F, 0x17DD, 0x193A, 0x1A17, 0x1A75, 0x1A76,
    0x1A77, 0x1A78, 0x1A79, 0x1A7A, 0x1A7B, 0x1A7C, 0x1B6B, 0x1B6D, 0x1B6E, 0x1B6F, 0x1B70, 0x1B71,
    0x1B72, 0x1B73, 0x1CD0, 0x1CD1, 0x1CD2, 0x1CDA, 0x1CDB, 0x1CE0, 0x1DC0, 0x1DC1, 0x1DC3, 0x1DC4,
    0x1DC5, 0x1DC6, 0x1DC7, 0x1DC8, 0x1DC9, 0x1DCB, 0x1DCC, 0x1DD1, 0x1DD2, 0x1DD3, 0x1DD4, 0x1DD5,
    0x1DD6, 0x1DD7, 0x1DD8, 0x1DD9, 0x1DDA, 0x1DDB, 0x1DDC, 0x1DDD, 0x1DDE, 0x1DDF, 0x1DE0, 0x1DE1,
    0x1DE2, 0x1DE3, 0x1DE4, 0x1DE5, 0x1DE6, 0x1DFE, 0x20D0, 0x20D1, 0x20D4, 0x20D5, 0x20D6, 0x20D7,
    0x20DB, 0x20DC, 0x20E1, 0x20E7, 0x20E9, 0x20F0, 0x2CEF, 0x2CF0, 0x2CF1, 0x2DE0, 0x2DE1, 0x2DE2,
    0x2DE3, 0x2DE4, 0x2DE5, 0x2DE6, 0x2DE7, 0x2DE8, 0x2DE9, 0x2DEA, 0x2DEB, 0x2DEC, 0x2DED, 0x2DEE,
    0x2DEF, 0x2DF0, 0x2DF1, 0x2DF2, 0x2DF3, 0x2DF4, 0x2DF5, 0x2DF6, 0x2DF7, 0x2DF8, 0x2DF9, 0x2DFA,
    0x2DFB, 0x2DFC, 0x2DFD, 0x2DFE, 0x2DFF, 0xA66F, 0xA67C, 0xA67D, 0xA6F0, 0xA6F1, 0xA8E0, 0xA8E1,
    0xA8E2, 0xA8E3, 0xA8E4, 0xA8E5, 0xA8E6, 0xA8E7, 0xA8E8, 0xA8E9, 0xA8EA, 0xA8EB, 0xA8EC, 0xA8ED,
    0xA8EE, 0xA8EF, 0xA8F0, 0xA8F1, 0xAAB0, 0xAAB2, 0xAAB3, 0xAAB7, 0xAAB8, 0xAABE, 0xAABF, 0xAAC1,
    0xFE20, 0xFE21, 0xFE22, 0xFE23)]


def kitty_command(passthrough: bool, payload: bytes = b"", **keys) -> str:
    """One graphics command ``ESC _ G keys ; payload ESC \\``, wrapped for tmux when asked."""
    ctl = ",".join(f"{k}={v}" for k, v in keys.items() if v is not None)
    seq = "\x1b_G" + ctl + (";" + payload.decode("ascii") if payload else "") + "\x1b\\"
    if passthrough:
        seq = "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return seq


def kitty_payload(canvas: Image.Image, fmt: str = "png", colors: int = 0) -> tuple[dict, bytes]:
    """Encode the canvas: ``png`` (f=100, optionally a ``colors`` palette) or ``zlib`` raw RGB (f=24,o=z)."""
    if fmt == "zlib":
        return {"f": 24, "o": "z", "s": canvas.width, "v": canvas.height}, zlib.compress(canvas.tobytes(), 6)
    pic = canvas
    if colors and colors < 256 + 1:
        pic = quantize(canvas, colors)  # every grey level kept (tui.image.quantize)
    buf = io.BytesIO()
    pic.save(buf, "PNG", compress_level=6)  # level 3 was 4% larger for 2x less time: bytes count more
    return {"f": 100, "s": canvas.width, "v": canvas.height}, buf.getvalue()


def kitty_upload(image_id: int, canvas: Image.Image, *, passthrough: bool, fmt: str = "png",
                 colors: int = 0, frame: int | None = None, new_frame: bool = False) -> str:
    """Transmit without displaying: as image ``image_id`` (a=t), or into one of its animation frames.

    ``frame`` edits that existing frame (a=f,r=N,X=1: replace); ``new_frame`` appends a frame. The data
    goes in 4096-byte base64 chunks, each command carrying q=2 so the terminal never replies.
    """
    keys, data = kitty_payload(canvas, fmt, colors)
    b64 = base64.standard_b64encode(data)
    chunks = [b64[i:i + 4096] for i in range(0, len(b64), 4096)] or [b""]
    out = []
    for n, chunk in enumerate(chunks):
        more = 1 if n < len(chunks) - 1 else 0
        if n == 0:
            first = dict(keys, i=image_id, q=2, m=more)
            if frame is not None:
                first.update(a="f", r=frame, X=1)
            elif new_frame:
                first.update(a="f", X=1)
            else:
                first.update(a="t")
            out.append(kitty_command(passthrough, chunk, **first))
        else:
            out.append(kitty_command(passthrough, chunk, m=more, q=2) if frame is None and not new_frame
                       else kitty_command(passthrough, chunk, a="f", m=more, q=2))
    return "".join(out)


def kitty_place(image_id: int, cols: int, rows: int, *, passthrough: bool) -> str:
    """A virtual placement (U=1) of ``cols`` x ``rows`` cells: shown wherever placeholders name the id."""
    return kitty_command(passthrough, a="p", U=1, i=image_id, c=cols, r=rows, q=2)


def kitty_delete(image_id: int, *, passthrough: bool) -> str:
    """Delete the image and free its data in the terminal (d=I)."""
    return kitty_command(passthrough, a="d", d="I", i=image_id, q=2)


def kitty_frame(image_id: int, frame: int, *, passthrough: bool, stop: bool = False) -> str:
    """Make ``frame`` the current one of an (stopped) animation: the whole keypress, a few bytes."""
    return kitty_command(passthrough, a="a", i=image_id, c=frame, s=1 if stop else None, q=2)


def _round_trips(n: int) -> bool:
    """Whether 8-bit colour ``n`` comes back as ``n`` after Textual turns it into RGB and Rich turns
    that back into 8 bits (greyish cube colours come back as grey-ramp numbers: unusable as ids)."""
    from rich.color import ColorSystem

    rgb = Color.from_ansi(n).get_truecolor()
    return Color.from_rgb(*rgb).downgrade(ColorSystem.EIGHT_BIT).number == n


EIGHT_BIT_IDS = [n for n in range(16, 232) if _round_trips(n)]


def id_color(image_id: int, truecolor: bool) -> Color:
    """The foreground colour that names ``image_id`` to the terminal (24-bit, or an 8-bit index)."""
    if truecolor:
        return Color.from_rgb((image_id >> 16) & 255, (image_id >> 8) & 255, image_id & 255)
    return Color.from_ansi(image_id)


def placeholder_lines(image_id: int, cols: int, rows: int, truecolor: bool) -> list[list[Segment]]:
    """Rows of placeholder cells; only the first cell of a row carries diacritics (kitty infers the rest)."""
    style = Style(color=id_color(image_id, truecolor))
    rows, cols = min(rows, len(DIACRITICS)), min(cols, len(DIACRITICS))
    return [[Segment(PLACEHOLDER + DIACRITICS[r] + DIACRITICS[0] + PLACEHOLDER * (cols - 1), style)]
            for r in range(rows)]


# ---- sixel -------------------------------------------------------------------------------------


#: A colour definition, `# Pc ; 2 ; r ; g ; b` (RGB in percent).
_SIXEL_DEFINE = re.compile(r"#(\d+);2;\d+;\d+;\d+")


def sixel_encode(canvas: Image.Image, colors: int = 256) -> str:
    """The canvas as one sixel image (textual-image's numpy encoder; its module queries nothing).

    Each colour definition is followed by its selection (`#Pc`). textual-image defines a
    register where it first paints with it and relies on the definition selecting it, as foot,
    xterm.js and mlterm do; xterm (379, `-ti vt340`) does not, and painted every band in the
    last colour defined: a 3-colour picture came out one colour, a photo's letterbox pale.
    The selection costs 2-4 bytes a colour, and every terminal reads it the same way."""
    from textual_image._sixel import SixelOptions, image_to_sixels

    # our palette (a P image passes through textual-image unchanged): every grey level kept
    data = image_to_sixels(quantize(canvas, colors or 256), SixelOptions(colors=256))
    return _SIXEL_DEFINE.sub(lambda m: f"{m.group(0)}#{m.group(1)}", data)


_POOL = None
_POOL_LOCK = threading.Lock()


def _helper_init(parent: int) -> None:
    """In the helper: let go of the terminal (stdio to /dev/null) and end when the app's process ends,
    so that a killed app never leaves a helper holding its tty open."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _stderr_with_fd():
    """The process's real stderr if its file descriptor is open, else None."""
    for stream in (sys.__stderr__, sys.stderr):
        try:
            if stream is not None and stream.fileno() >= 0:
                os.fstat(stream.fileno())
                return stream
        except (OSError, ValueError, AttributeError):
            continue
    return None


def sixel_encode_away(canvas: Image.Image, colors: int = 256) -> str:
    """``sixel_encode`` in a helper process: the encoder is mostly Python, and run in a thread it
    holds the GIL for tenths of a second, stalling the UI thread's next frame. Falls back to this
    process if no helper process can be started."""
    global _POOL
    try:
        with _POOL_LOCK:
            if _POOL is None:
                # Textual replaces sys.stderr with an object whose fileno() is not a real file, which
                # multiprocessing passes to the process it starts: start the helper with the real one.
                saved, null = sys.stderr, None
                sys.stderr = _stderr_with_fd()
                if sys.stderr is None:   # no usable fd 2 (closed, or a GUI launcher): /dev/null
                    sys.stderr = null = open(os.devnull, "w")
                try:
                    _POOL = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_helper_init, initargs=(os.getpid(),))
                    _POOL.submit(int).result()
                finally:
                    sys.stderr = saved
                    if null is not None:
                        null.close()
        return _POOL.submit(sixel_encode, canvas, colors).result()
    except (Exception, BrokenProcessPool):  # noqa: BLE001 - any failure: encode here instead
        _POOL = False if _POOL is None else _POOL
        return sixel_encode(canvas, colors)


# ---- text renderings ----------------------------------------------------------------------------


def halfcell_lines(canvas: Image.Image, cols: int, rows: int) -> list[list[Segment]]:
    """Two pixels a cell: the upper as the foreground of ▀, the lower as the background."""
    small = canvas.resize((max(1, cols), max(1, rows * 2)), Image.Resampling.BOX)
    px = small.load()
    styles: dict = {}
    lines = []
    for r in range(rows):
        segs: list[Segment] = []
        run, run_style = 0, None
        for c in range(cols):
            key = (px[c, 2 * r], px[c, 2 * r + 1])
            style = styles.get(key)
            if style is None:
                style = styles[key] = Style(color=Color.from_rgb(*key[0]), bgcolor=Color.from_rgb(*key[1]))
            if style is run_style:
                run += 1
                continue
            if run:
                segs.append(Segment("▀" * run, run_style))
            run, run_style = 1, style
        if run:
            segs.append(Segment("▀" * run, run_style))
        lines.append(segs)
    return lines


SHADES = "█▓▒░ "


def unicode_lines(canvas: Image.Image, cols: int, rows: int) -> list[list[Segment]]:
    """Grey levels as shade characters, no colour: works on any terminal and in snapshots."""
    small = canvas.convert("L").resize((max(1, cols), max(1, rows)), Image.Resampling.BOX)
    data = small.tobytes()
    n = len(SHADES)
    return [[Segment("".join(SHADES[min(n - 1, (255 - v) * n // 256)] for v in data[r * cols:(r + 1) * cols]))]
            for r in range(rows)]
