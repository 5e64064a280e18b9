"""`read_refs`: one entry point for every reference-list format.

The format is chosen by extension (or a folder), never sniffed, so a file
always means the same thing; an unknown extension is an error that lists
the known ones.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager

from refs.coco import parse_coco
from refs.csvfmt import parse_csv
from refs.errors import RefsError
from refs.folder import read_folder
from refs.jsonl import parse_jsonl
from refs.reflist import RefList, drop_duplicates
from refs.source import base_dir, check_box_format, decode, read_bytes
from refs.txt import parse_txt

EXTENSIONS = (".txt", ".csv", ".jsonl", ".json")


def refs_format(path: str | os.PathLike) -> str:
    """``txt``, ``csv``, ``jsonl``, ``json`` (COCO) or ``folder``; RefsError
    for anything else."""
    p = os.fspath(path)
    if os.path.isdir(p):
        return "folder"
    ext = os.path.splitext(p)[1].lower()
    if ext not in EXTENSIONS:
        if not os.path.exists(p):
            raise RefsError(p, None, "no such file or folder")
        raise RefsError(p, None, "unknown extension", ext or "(none)",
                        ", ".join(EXTENSIONS) + " or a folder of images")
    return ext[1:]


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while a million items are built:
    they hold no cycles, and its repeated passes over the growing heap cost
    a quarter or more of the reading time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_refs(path: str | os.PathLike, *, box_format: str = "xyxy",
              images: str | os.PathLike | None = None) -> RefList:
    """Read a reference list into items with stable keys.

    ``box_format`` (``xyxy``, ``xywh`` or ``yxyx``) applies to ``.txt`` and
    ``.jsonl``; a CSV header names its own box columns and COCO boxes are
    always ``x, y, w, h``. ``images`` is the COCO file listing the images of
    detection results. Boxes come out as xyxy floats, unclipped. Every
    problem with the input raises :class:`RefsError`.
    """
    src = os.fspath(path)
    check_box_format(src, box_format)
    with _gc_paused():
        return _read(src, box_format, images)


def _read(src: str, box_format: str, images) -> RefList:
    fmt = refs_format(src)
    warnings: list[str] = []
    if box_format != "xyxy" and fmt not in ("txt", "jsonl"):
        warnings.append(f"--box-format {box_format} ignored: {fmt} files name their box "
                        "format (CSV by its header, COCO always x,y,w,h)")
    if images is not None and fmt != "json":
        warnings.append(f"--images ignored: it is for COCO detection results, not {fmt}")
    if fmt == "folder":
        items, sha, more = read_folder(src)
        kind = "folder"
    else:
        data, sha = read_bytes(src)
        text = decode(src, data)
        base = base_dir(src)
        more = []
        if fmt == "txt":
            items, kind = parse_txt(src, text, base, box_format), "txt"
        elif fmt == "jsonl":
            items, kind = parse_jsonl(src, text, base, box_format), "jsonl"
        elif fmt == "csv":
            items, csv_fmt = parse_csv(src, text, base)
            kind = "csv"
            box_format = csv_fmt
        else:
            items, kind, more = parse_coco(src, text, None if images is None else os.fspath(images))
            box_format = "xywh"
    items, dups = drop_duplicates(items)
    return RefList(path=src, format=kind, items=items, sha256=sha, duplicates=dups,
                   warnings=warnings + more, box_format=box_format)
