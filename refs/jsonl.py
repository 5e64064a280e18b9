"""`.jsonl` reference lists: one JSON object a line,
``{"path": ..., "box": [x1, y1, x2, y2]}``.

``box`` may be missing or null (a whole image) and follows ``--box-format``.
Every other field travels as metadata with its JSON type. Blank lines are
skipped.
"""

from __future__ import annotations

import json

from refs.errors import RefsError
from refs.items import Item
from refs.source import PathResolver, check_path, make_box

_EXPECTED = '{"path": "...", "box": [x1, y1, x2, y2]} on one line'


def load_json(src: str, text: str, line: int | None = None):
    """json.loads with every failure a RefsError (nesting too deep, huge
    numbers and syntax errors included)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        at = e.lineno if line is None else line
        col = e.colno if line is None or e.lineno == 1 else None
        where = f"column {col}: " if col else ""
        raise RefsError(src, at, f"invalid JSON ({where}{e.msg})", None,
                        "a JSON document" if line is None else _EXPECTED) from None
    except (ValueError, RecursionError) as e:
        raise RefsError(src, line, f"invalid JSON ({e})", None,
                        "a JSON document" if line is None else _EXPECTED) from None


def parse_jsonl(src: str, text: str, base: str, box_format: str = "xyxy") -> list[Item]:
    """Items of a .jsonl list, in file order (duplicates not yet removed)."""
    resolve = PathResolver(base)
    items: list[Item] = []
    for line_no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        rec = load_json(src, line, line_no)
        if not isinstance(rec, dict):
            raise RefsError(src, line_no, f"a JSON {type(rec).__name__}, not an object",
                            _clip(line.strip()), _EXPECTED)
        if "path" not in rec:
            raise RefsError(src, line_no, "missing field 'path'", _clip(line.strip()), _EXPECTED)
        p = check_path(src, line_no, rec["path"])
        raw_box = rec.get("box")
        box = None
        if raw_box is not None:
            if not isinstance(raw_box, list) or len(raw_box) != 4:
                raise RefsError(src, line_no, "box is not a list of 4 numbers", raw_box,
                                f"[{', '.join(_NAMES[box_format])}] or null")
            box = make_box(src, line_no, raw_box, box_format, strings=False)
        meta = {k: v for k, v in rec.items() if k not in ("path", "box")}
        items.append(Item(resolve(p), box, meta, line_no))
    return items


_NAMES = {"xyxy": ("x1", "y1", "x2", "y2"), "xywh": ("x", "y", "w", "h"),
          "yxyx": ("y1", "x1", "y2", "x2")}


def _clip(s: str, n: int = 200) -> str:
    return s if len(s) <= n else s[:n] + "..."
