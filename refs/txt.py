"""`.txt` reference lists: ``PATH`` or ``PATH X1 Y1 X2 Y2`` a line.

Paths with spaces are quoted as a POSIX shell would (what Python's
``shlex.quote`` writes); ``#`` starts a comment only at the start of a line
(file names may hold ``#``). Built for speed: a million lines must read in
seconds, so plain lines take a ``str.split`` fast path and only lines with
quotes, backslashes or non-ASCII text go through ``shlex``.
"""

from __future__ import annotations

import math
import re
import shlex

from refs.errors import RefsError
from refs.items import Item
from refs.source import PathResolver, check_path, make_box

_SPECIAL = re.compile(r"[\"'\\]")
# The whitespace that separates fields, the same on every path below.
_WS_CHARS = " \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f"
_WS = re.compile(f"[{re.escape(_WS_CHARS)}]+")

_EXPECTED = "PATH or PATH X1 Y1 X2 Y2 (quote a path that has spaces)"


def split_fields(src: str, line_no: int, s: str) -> list[str]:
    """The fields of one stripped line, shell-quoted or plain."""
    if _SPECIAL.search(s) is None:
        return s.split() if s.isascii() else [f for f in _WS.split(s) if f]
    lex = shlex.shlex(s, posix=True)
    lex.whitespace = _WS_CHARS
    lex.whitespace_split = True
    lex.commenters = ""
    try:
        return list(lex)
    except ValueError as e:
        problem = "a quote is left open" if "quotation" in str(e) else f"bad quoting ({e})"
        raise RefsError(src, line_no, problem, _clip(s),
                        "a path quoted with matching quotes") from None


def parse_txt(src: str, text: str, base: str, box_format: str = "xyxy") -> list[Item]:
    """Items of a .txt list, in file order (duplicates not yet removed)."""
    resolve = PathResolver(base)
    resolved = resolve.cache  # looked up inline: a call per line costs 10% here
    items: list[Item] = []
    append = items.append
    fast_xyxy = box_format == "xyxy"
    isfinite = math.isfinite
    for line_no, line in enumerate(text.split("\n"), 1):
        s = line.strip(_WS_CHARS)
        if not s or s[0] == "#":
            continue
        if s.isascii() and '"' not in s and "'" not in s and "\\" not in s:
            fields = s.split()
        else:
            fields = split_fields(src, line_no, s)
        n = len(fields)
        if n == 5:
            p, a, b, c, d = fields
            box = None
            if fast_xyxy:
                try:
                    x1, y1, x2, y2 = float(a), float(b), float(c), float(d)
                    if (x1 < x2 and y1 < y2 and isfinite(x1 + y1 + x2 + y2)
                            and "_" not in a + b + c + d):
                        box = (x1, y1, x2, y2)
                except ValueError:
                    pass
            if box is None:  # slow path: convert, or say exactly what is wrong
                box = make_box(src, line_no, (a, b, c, d), box_format)
        elif n == 1:
            p, box = fields[0], None
        else:
            raise RefsError(src, line_no, f"{n} fields", _clip(s), _hint(fields))
        if not p or "\x00" in p:
            check_path(src, line_no, p)
        append(Item(resolved.get(p) or resolve(p), box, line=line_no))
    return items


def _hint(fields: list[str]) -> str:
    if len(fields) > 5:
        try:
            [float(f) for f in fields[-4:]]
            return _EXPECTED + f"; if the path is {' '.join(fields[:-4])!r}, quote it"
        except ValueError:
            pass
    return _EXPECTED


def _clip(s: str, n: int = 200) -> str:
    return s if len(s) <= n else s[:n] + "..."
