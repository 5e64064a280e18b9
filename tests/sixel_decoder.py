"""A small sixel decoder: what a terminal draws from the bytes we send, for fidelity tests.

Independent of any encoder: it follows the DEC sixel format (DCS P1;P2;P3 q, raster
attributes, colour registers in RGB percent, `!` repeats, `$` carriage return, `-` next
band) and returns the pixels plus a mask of the pixels the data actually set.

It reads colours as xterm does, the strictest of the terminals we support: a definition
(`#Pc;2;r;g;b`) only defines the register, a plain `#Pc` selects it, and pixels sent before
any selection are an error (xterm painted them in another colour: tests/test_terminal_matrix.py).
"""

from __future__ import annotations

import re

import numpy as np

_HEADER = re.compile(r"\x1bP([\d;]*)q")


def decode(data: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(rgb uint8 [H, W, 3], set mask [H, W], info) for one sixel image in `data`."""
    m = _HEADER.search(data)
    if m is None:
        raise ValueError("no sixel introducer (ESC P ... q) in the data")
    params = [int(p) if p else 0 for p in m.group(1).split(";")] if m.group(1) else []
    end = data.find("\x1b\\", m.end())
    body = data[m.end():end if end >= 0 else len(data)]
    i, n = 0, len(body)
    width = height = None
    if body.startswith('"'):
        r = re.match(r'"(\d+);(\d+);(\d+);(\d+)', body)
        width, height = int(r.group(3)), int(r.group(4))
        i = r.end()
    regs: dict[int, tuple[int, int, int]] = {}
    pixels: dict[tuple[int, int], int] = {}
    x = y = 0
    colour = None
    reg = re.compile(r"#(\d+)(?:;(\d+);(\d+);(\d+);(\d+))?")
    rep = re.compile(r"!(\d+)")
    cols_used = np.zeros(0)
    rows_out: list[tuple[np.ndarray, np.ndarray, int]] = []   # (xs, ys, colour) runs
    while i < n:
        c = body[i]
        if c == "#":
            r = reg.match(body, i)
            if r.group(2) is not None:
                kind = int(r.group(2))
                if kind != 2:
                    raise ValueError(f"colour space {kind} (only RGB, 2, is decoded)")
                regs[int(r.group(1))] = tuple(round(int(v) * 255 / 100)
                                              for v in r.group(3, 4, 5))
            else:
                colour = int(r.group(1))
            i = r.end()
        elif c == "!":
            r = rep.match(body, i)
            count = int(r.group(1))
            ch = body[r.end()]
            _put(rows_out, x, y, count, ord(ch) - 63, colour)
            x += count
            i = r.end() + 1
        elif c == "$":
            x = 0
            i += 1
        elif c == "-":
            x, y = 0, y + 6
            i += 1
        elif "?" <= c <= "~":
            _put(rows_out, x, y, 1, ord(c) - 63, colour)
            x += 1
            i += 1
        else:
            i += 1        # whitespace and anything else a terminal ignores
    del cols_used, pixels
    w = width or max((int(xs.max()) + 1 for xs, _, _ in rows_out), default=0)
    h = height or max((int(ys.max()) + 1 for _, ys, _ in rows_out), default=0)
    rgb = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), bool)
    lut = np.zeros((max(regs, default=0) + 1, 3), np.uint8)
    for k, v in regs.items():
        lut[k] = v
    for xs, ys, col in rows_out:
        ok = (ys < h) & (xs < w)
        rgb[ys[ok], xs[ok]] = lut[col]
        mask[ys[ok], xs[ok]] = True
    return rgb, mask, {"params": params, "registers": regs, "width": width, "height": height}


def _put(out: list, x: int, y: int, count: int, bits: int, colour: int | None) -> None:
    if bits <= 0:
        return
    if colour is None:
        raise ValueError(f"pixels at x={x}, y={y} before any colour was selected (`#Pc` alone): "
                         "xterm paints them in another colour")
    rows = [r for r in range(6) if bits & (1 << r)]
    xs = np.repeat(np.arange(x, x + count), len(rows))
    ys = np.tile(np.asarray(rows) + y, count)
    out.append((xs, ys, colour))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if err == 0 else 10 * np.log10(255.0 ** 2 / err)
