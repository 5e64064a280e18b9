"""Shared helpers for the parsers: reading the file, decoding it, checking
paths and turning four numbers into an xyxy box, each failure a RefsError.

Text is UTF-8 (a BOM is accepted and dropped); anything else is an error
that names the line, rather than a guess that garbles file names.
"""

from __future__ import annotations

import hashlib
import math
import os

from refs.errors import RefsError
from refs.items import Box, normalize_path

BOX_FORMATS = ("xyxy", "xywh", "yxyx")
_BOX_NAMES = {
    "xyxy": "X1 Y1 X2 Y2",
    "xywh": "X Y W H",
    "yxyx": "Y1 X1 Y2 X2",
}


def read_bytes(path: str) -> tuple[bytes, str]:
    """The file's bytes and their sha256, or a RefsError saying why not."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise RefsError(path, None, "no such file") from None
    except IsADirectoryError:
        raise RefsError(path, None, "is a folder") from None
    except OSError as e:
        raise RefsError(path, None, f"cannot read the file ({e.strerror or e})") from None
    return data, hashlib.sha256(data).hexdigest()


def decode(path: str, data: bytes) -> str:
    """UTF-8 text without a BOM; invalid bytes are a RefsError at their line."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise RefsError(path, 1, "the file is UTF-16 (it starts with a UTF-16 byte order mark)",
                        data[:2], "UTF-8 text (save it as UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        line = data.count(b"\n", 0, e.start) + 1
        bad = data[max(e.start, start):e.end + 8]
        raise RefsError(path, line, "text is not valid UTF-8", bad,
                        "a UTF-8 encoded file (save it as UTF-8)") from None


def check_path(src: str, line, raw, where: str | None = None) -> str:
    """A path value from a refs file, checked: a non-empty string, no NUL, no
    lone surrogate (JSON escapes can make them). Returns it unchanged."""
    if not isinstance(raw, str):
        raise RefsError(src, line, _at(where, "the path is not a string"), raw,
                        "a file path as a string")
    if not raw:
        raise RefsError(src, line, _at(where, "empty path"), raw, "a file path")
    if "\x00" in raw:
        raise RefsError(src, line, _at(where, "a path cannot contain a NUL character"), raw)
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise RefsError(src, line, _at(where, "the path holds an unpaired surrogate "
                                       "(a broken \\u escape)"), raw) from None
    return raw


class PathResolver:
    """normalize_path with a cache: lists repeat each image for every box."""

    def __init__(self, base: str):
        self.base = base
        self.cache: dict[str, str] = {}

    def __call__(self, raw: str) -> str:
        p = self.cache.get(raw)
        if p is None:
            p = self.cache[raw] = normalize_path(raw, self.base)
        return p


def _at(where: str | None, problem: str) -> str:
    return problem if where is None else f"{where}: {problem}"


def to_number(src: str, line, value, name: str, where: str | None = None,
              strings: bool = True) -> float:
    """One coordinate: a finite number. Text formats give strings; JSON must
    give a JSON number (not a string, not a boolean)."""
    kinds = (int, float, str) if strings else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise RefsError(src, line, _at(where, f"coordinate {name} is not a number"), value,
                        "a finite number")
    if isinstance(value, str) and "_" in value:
        raise RefsError(src, line, _at(where, f"coordinate {name} is not a number"), value,
                        "a finite number")
    try:
        v = float(value)
    except (ValueError, OverflowError):
        raise RefsError(src, line, _at(where, f"coordinate {name} is not a number"), value,
                        "a finite number") from None
    if not math.isfinite(v):
        raise RefsError(src, line, _at(where, f"coordinate {name} is not finite"), value,
                        "a finite number")
    return v


def make_box(src: str, line, values, box_format: str, where: str | None = None,
             strings: bool = True) -> Box:
    """Four values in ``box_format`` as an xyxy float box, validated.

    Coordinates may be negative or beyond the image (detectors do that);
    only a box that is empty or inverted, or a value that is not a finite
    number, is an error.
    """
    names = _BOX_NAMES[box_format].split()
    a, b, c, d = (to_number(src, line, v, n, where, strings) for v, n in zip(values, names))
    if box_format == "xyxy":
        box = (a, b, c, d)
    elif box_format == "xywh":
        if c <= 0 or d <= 0:
            raise RefsError(src, line, _at(where, "box has a width or height <= 0"),
                            _show(values), "X Y W H with W > 0 and H > 0 (box format xywh)")
        box = (a, b, a + c, b + d)
    else:
        box = (b, a, d, c)
    if not (box[0] < box[2] and box[1] < box[3]):
        n = _BOX_NAMES[box_format]
        raise RefsError(src, line, _at(where, "box is empty or inverted"), _show(values),
                        f"{n} with {_order(box_format)} (box format {box_format})")
    if not math.isfinite(box[2] + box[3]):
        raise RefsError(src, line, _at(where, "box is too large"), _show(values),
                        "finite coordinates")
    return box


def _order(box_format: str) -> str:
    return "Y1 < Y2 and X1 < X2" if box_format == "yxyx" else "X1 < X2 and Y1 < Y2"


def _show(values) -> str:
    return " ".join(str(v) for v in values)


def check_box_format(src: str, box_format: str) -> None:
    if box_format not in BOX_FORMATS:
        raise RefsError(src, None, "unknown box format", box_format, " or ".join(BOX_FORMATS))


def base_dir(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))
