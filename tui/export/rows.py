"""The labelled items as CSV or JSON lines: the clean label set.

One row per labelled item (its current label: the latest answer not undone), in
the order the items were first answered. Columns: key, path, x1, y1, x2, y2 (empty
for whole images; JSONL has `box`: [x1, y1, x2, y2] or null), answer, annotator,
time (ISO 8601, UTC), prob (the model's P(pos) shown before the answer),
model_version, strategy, then the item's metadata from the refs file under its own
names (prefixed `meta_` where a name is already taken). A CSV or JSONL export is
itself a valid refs list: the same paths and boxes, the rest read as metadata.
JSONL is strict JSON: a NaN or infinite number (e.g. in the refs' metadata) is null.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timezone
from pathlib import Path

from tui.export.atomic import atomic_file

FIXED = ["key", "path", "x1", "y1", "x2", "y2", "answer", "annotator", "time", "prob",
         "model_version", "strategy"]
FIXED_JSONL = ["key", "path", "box"] + FIXED[6:]


def iso_time(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def _coord(v: float) -> float:
    return round(float(v), 4)


def _meta_names(items, taken) -> dict[str, str]:
    """meta name -> column name, in order of first appearance."""
    names: dict[str, str] = {}
    for it in items:
        for k in it.meta:
            if k not in names:
                col = k
                while col in taken or col in names.values():
                    col = "meta_" + col
                names[k] = col
    return names


def records(src, jsonl: bool) -> tuple[list[str], list[dict]]:
    latest = src.latest()
    rows = [src.features.get_index(k) for k in latest]
    items = src.items(rows)
    fixed = FIXED_JSONL if jsonl else FIXED
    meta_cols = _meta_names(items, set(fixed))
    out = []
    for a, it in zip(latest.values(), items):
        r = {"key": a.key, "path": it.path}
        if jsonl:
            r["box"] = None if it.box is None else [_coord(v) for v in it.box]
        else:
            r.update(zip(("x1", "y1", "x2", "y2"),
                         ("", "", "", "") if it.box is None else map(_coord, it.box)))
        r.update(answer=a.answer, annotator=a.annotator, time=iso_time(a.time), prob=a.prob,
                 model_version=a.model_version, strategy=a.strategy)
        for k, v in it.meta.items():
            r[meta_cols[k]] = v
        out.append(r)
    return fixed + list(meta_cols.values()), out


def finite(v):
    """`v` with every NaN or infinity replaced by None: strict JSON has no such numbers
    (Python's json writes NaN and Infinity, which other parsers reject)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite(x) for x in v]
    return v


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(finite(v), ensure_ascii=False, allow_nan=False)
    return v


def write_rows(src, out: Path, fmt: str):
    from tui.export.base import ExportResult

    columns, recs = records(src, fmt == "jsonl")
    with atomic_file(out) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
            if fmt == "jsonl":
                for r in recs:
                    fh.write(json.dumps(finite(r), ensure_ascii=False, allow_nan=False)
                             + "\n")
            else:
                wr = csv.writer(fh, lineterminator="\n")
                wr.writerow(columns)
                for r in recs:
                    wr.writerow([_cell(r.get(c)) for c in columns])
    c = src.counts()
    return ExportResult([out], f"wrote {len(recs)} labelled items ({c['pos']} positive, "
                               f"{c['neg']} negative, {c['skip']} skipped) to {out}")
