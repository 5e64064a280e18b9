"""Write the bad-image corpus of ``tests/data/bad/`` (deterministic, small).

    python tests/data/make_bad.py [OUT_DIR] [--huge]

Every file is something a real data set holds sooner or later. ``EXPECTED``
maps each file to what featurize must do with it: ``None`` = a done row, or a
fragment of the failed row's error message. The huge image (48 Mpx) is only
written with ``--huge`` (tests make it in a temporary folder; it is not
committed).
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
BAD = HERE / "bad"

#: file -> None (must be a done row) or a fragment of its failed row's message
EXPECTED: dict[str, str | None] = {
    "truncated.jpg": "truncated",
    "zero-byte.jpg": "empty file",
    "text-named.jpg": "not an image",
    "corrupt-header.png": "not an image",
    "bomb.png": "decompression bomb",
    "missing.jpg": "file not found",  # not written: a path that does not exist
    "cmyk.jpg": None,
    "gray16.png": None,
    "grey.png": None,
    "palette-transparent.png": None,
    "alpha.png": None,
    "grey-alpha.png": None,
    "exif-rotated.jpg": None,
    "with space é.png": None,
}

#: The displayed size of ``exif-rotated.jpg`` and where its red square is.
EXIF_SIZE = (120, 80)
EXIF_RED_BOX = (80.0, 10.0, 110.0, 40.0)


def _photo(w: int, h: int) -> Image.Image:
    """A small real-looking image (smooth colours plus texture), no data set needed."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rng = np.random.default_rng(7)
    r = 128 + 100 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    g = 128 + 90 * np.cos((xx + yy) / 17.0)
    b = 128 + 80 * np.sin(yy / 7.0)
    a = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 40000, height: int = 40000) -> bytes:
    """A PNG whose header claims 1.6 Gpx (a few hundred bytes on disk)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def exif_rotated() -> Image.Image:
    """The displayed image: grey with a red square at ``EXIF_RED_BOX``."""
    im = Image.new("RGB", EXIF_SIZE, (128, 128, 128))
    x1, y1, x2, y2 = (int(v) for v in EXIF_RED_BOX)
    im.paste((220, 20, 20), (x1, y1, x2, y2))
    return im


def write(out: Path = BAD, huge: bool = False) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    photo = _photo(96, 64)
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    (out / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (out / "zero-byte.jpg").write_bytes(b"")
    (out / "text-named.jpg").write_text("This is a text file with a .jpg name.\n")
    (out / "corrupt-header.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + bytes(range(40)))
    (out / "bomb.png").write_bytes(bomb_png())
    photo.convert("CMYK").save(out / "cmyk.jpg", "JPEG", quality=90)
    g16 = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(g16).save(out / "gray16.png")
    photo.convert("L").save(out / "grey.png")
    pal = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(out / "palette-transparent.png", transparency=0)
    rgba = photo.convert("RGBA")
    alpha = Image.linear_gradient("L").resize(photo.size)
    rgba.putalpha(alpha)
    rgba.save(out / "alpha.png")
    la = photo.convert("L")
    la = Image.merge("LA", (la, alpha))
    la.save(out / "grey-alpha.png")
    # Stored rotated 90 degrees counter-clockwise, tagged orientation 6
    # ("rotate 90 CW to display"): viewers show EXIF_SIZE with the red square
    # at EXIF_RED_BOX, and boxes are given in that displayed orientation.
    exif = Image.Exif()
    exif[0x0112] = 6
    exif_rotated().transpose(Image.Transpose.ROTATE_90).save(
        out / "exif-rotated.jpg", "JPEG", quality=95, exif=exif.tobytes())
    photo.save(out / "with space é.png")
    if huge:
        Image.new("RGB", (8000, 6000), (90, 140, 200)).save(out / "huge.jpg", "JPEG", quality=80)
    return out


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    print(write(Path(args[0]) if args else BAD, huge="--huge" in sys.argv))
