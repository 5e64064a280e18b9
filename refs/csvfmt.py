"""`.csv` reference lists: a header with ``path`` and either ``x1,y1,x2,y2``
or ``x,y,w,h`` (or neither, for whole images).

Header names are matched without regard to case or surrounding spaces. A
row whose four box cells are all empty is a whole image. Every other column
travels as metadata under its header name; CSV has no types, so a cell is
turned into a number only when it is unambiguously one (``12``, ``-3``,
``0.25``, ``1e-3``; not ``007``, ``nan`` or ``1_000``), otherwise kept as
the string written, and an empty cell is kept as ``""``.
"""

from __future__ import annotations

import csv
import io
import math
import re

from refs.errors import RefsError
from refs.items import Item
from refs.source import PathResolver, check_path, make_box

XYXY = ("x1", "y1", "x2", "y2")
XYWH = ("x", "y", "w", "h")
_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_EXP = r"(?:[eE][+-]?[0-9]+)?"
_FLOAT = re.compile(rf"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?{_EXP}|[+-]?\.[0-9]+{_EXP}")


def cell_value(s: str):
    """A metadata cell: an int or float when it is plainly one, else the text."""
    if _INT.fullmatch(s):
        return int(s)
    if _FLOAT.fullmatch(s):
        v = float(s)
        if math.isfinite(v):
            return v
    return s


def _columns(src: str, header: list[str]):
    """Where the path and box are, the box format the header implies, and the
    metadata columns."""
    names = [h.strip() for h in header]
    low = [n.lower() for n in names]
    seen: dict[str, int] = {}
    for i, n in enumerate(low):
        if n in seen:
            raise RefsError(src, 1, f"column {names[i]!r} appears twice in the header",
                            ",".join(header), "each column name once")
        seen[n] = i
    if "path" not in seen:
        raise RefsError(src, 1, "missing column 'path'", ",".join(header),
                        "a header with path and either x1,y1,x2,y2 or x,y,w,h")
    box_cols, fmt = None, "xyxy"
    for cols, f in ((XYXY, "xyxy"), (XYWH, "xywh")):
        present = [c for c in cols if c in seen]
        if present and len(present) < 4:
            missing = ",".join(c for c in cols if c not in seen)
            raise RefsError(src, 1, f"missing box column(s) {missing}", ",".join(header),
                            f"all of {','.join(cols)}")
        if present:
            if box_cols is not None:
                raise RefsError(src, 1, "both x1,y1,x2,y2 and x,y,w,h columns",
                                ",".join(header), "one set of box columns")
            box_cols, fmt = [seen[c] for c in cols], f
    used = {seen["path"], *(box_cols or ())}
    meta = [(i, names[i]) for i in range(len(names)) if i not in used]
    return seen["path"], box_cols, fmt, meta


def parse_csv(src: str, text: str, base: str) -> tuple[list[Item], str]:
    """Items of a .csv list in file order, and the box format its header named.
    ``Item.line`` is the line where the record starts."""
    resolve = PathResolver(base)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    items: list[Item] = []
    start = 1
    header = None
    try:
        for row in reader:
            line_no, start = start, reader.line_num + 1
            if not row or all(not c.strip() for c in row):
                continue
            if header is None:
                header = row
                path_i, box_i, fmt, meta_cols = _columns(src, header)
                continue
            if len(row) != len(header):
                raise RefsError(src, line_no, f"{len(row)} fields", _clip(",".join(row)),
                                f"{len(header)} fields, as in the header")
            p = check_path(src, line_no, row[path_i])
            box = None
            if box_i is not None:
                cells = [row[i] for i in box_i]
                if any(c.strip() for c in cells):
                    box = make_box(src, line_no, cells, fmt)
            meta = {name: cell_value(row[i]) for i, name in meta_cols}
            items.append(Item(resolve(p), box, meta, line_no))
    except csv.Error as e:
        if "end of data" in str(e):
            raise RefsError(src, start, "a quote is left open (the record runs to the end "
                            "of the file)", None, "a closing double quote") from None
        raise RefsError(src, reader.line_num, f"bad CSV ({e})", None,
                        'fields separated by commas, quoted "like ""this"""') from None
    if header is None:
        return [], "xyxy"
    return items, fmt


def _clip(s: str, n: int = 200) -> str:
    return s if len(s) <= n else s[:n] + "..."
