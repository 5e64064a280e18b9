"""`python -m refs check`: what a person wants to know before a long job.

Counts items, images and boxes; finds image files that are missing, not
files or empty (``stat`` only, so a million-line list checks in seconds);
reports duplicates; and, with ``verify_images``, reads each image's header
(EXIF orientation applied) to count boxes that reach outside their image.
Boxes outside are a warning: featurize clips them.
"""

from __future__ import annotations

import os
import stat
import statistics
import warnings as _warnings
from collections import Counter
from dataclasses import dataclass, field

from refs.reflist import RefList

#: How many examples of each kind of problem the report shows.
SHOW = 5


@dataclass
class Summary:
    refs: RefList
    boxes: int = 0
    whole: int = 0
    images: int = 0
    per_image: tuple[int, float, int] | None = None  # min, median, max over images with boxes
    box_images: int = 0  # images with at least one box
    bad_files: list[tuple[str, str, int | None]] = field(default_factory=list)  # path, why, pos
    checked_sizes: int = 0
    partly_outside: list[tuple[int | None, str]] = field(default_factory=list)  # pos, detail
    fully_outside: list[tuple[int | None, str]] = field(default_factory=list)

    @property
    def problems(self) -> bool:
        return bool(self.bad_files) or not self.refs.items


def file_problem(path: str) -> str | None:
    """Why an image file cannot be used, by ``stat`` alone; None when fine."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as e:
        return f"cannot stat ({getattr(e, 'strerror', None) or e})"
    if not stat.S_ISREG(st.st_mode):
        return "not a file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    return None


def image_size(path: str) -> tuple[int, int]:
    """Displayed (width, height) from the header: EXIF orientations 5-8 swap."""
    from PIL import Image

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        with Image.open(path) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112)
            except Exception:  # a broken EXIF block: the pixels decide, as featurize sees them
                orientation = None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def summarize(refs: RefList, verify_images: bool = False) -> Summary:
    s = Summary(refs)
    first_pos: dict[str, int | None] = {}
    per = Counter()
    for it in refs.items:
        if it.path not in first_pos:
            first_pos[it.path] = it.line
        if it.box is None:
            s.whole += 1
        else:
            s.boxes += 1
            per[it.path] += 1
    s.images = len(first_pos)
    if per:
        counts = sorted(per.values())
        s.per_image = (counts[0], statistics.median(counts), counts[-1])
        s.box_images = len(counts)
    ok = []
    for p, pos in first_pos.items():
        why = file_problem(p)
        if why is None:
            ok.append(p)
        else:
            s.bad_files.append((p, why, pos))
    if verify_images:
        sizes = {}
        for p in ok:
            try:
                sizes[p] = image_size(p)
            except Exception as e:  # PIL raises many kinds on a bad file
                s.bad_files.append((p, f"unreadable image ({type(e).__name__}: {e})",
                                    first_pos[p]))
        s.checked_sizes = len(sizes)
        for it in refs.items:
            if it.box is None or it.path not in sizes:
                continue
            w, h = sizes[it.path]
            x1, y1, x2, y2 = it.box
            if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
                s.fully_outside.append((it.line, f"{_box(it.box)} in {w}x{h}"))
            elif x1 < 0 or y1 < 0 or x2 > w or y2 > h:
                s.partly_outside.append((it.line, f"{_box(it.box)} in {w}x{h}"))
    return s


def _box(b) -> str:
    return "(" + ", ".join(f"{v:g}" for v in b) + ")"


def _n(k: int, one: str, many: str | None = None) -> str:
    return f"{k:,} {one if k == 1 else (many or one + 's')}"


def show_path(p: str) -> str:
    """A path safe to print: control characters and escapes shown, not acted on."""
    return p if p.isprintable() else ascii(p)


def render(s: Summary, verify_images: bool) -> str:
    """The report, as lines a person reads before starting a long job."""
    r = s.refs
    out = [f"{show_path(r.path)}  ({_fmt_name(r)}, sha256 {r.sha256[:12]})"]
    n = len(r.items)

    def row(label: str, text: str):
        out.append(f"  {label:<20}{text}")

    row("items", f"{n:,}  ({_n(s.boxes, 'box', 'boxes')}, {_n(s.whole, 'whole image')})")
    row("distinct images", f"{s.images:,}")
    if s.per_image:
        lo, med, hi = s.per_image
        row("boxes per image", f"min {lo:,}, median {med:g}, max {hi:,}  "
            f"(over {s.box_images:,} images with boxes)")
    if r.duplicates:
        ex = "; ".join(f"{r.where(d)} = {r.where(f)}" for d, f in r.duplicates[:3])
        more = " ..." if len(r.duplicates) > 3 else ""
        row("duplicates", f"{len(r.duplicates):,} dropped (first kept), e.g. {ex}{more}")
    else:
        row("duplicates", "none")
    row("image files", f"{s.images - len(s.bad_files):,} ok, {len(s.bad_files):,} missing "
        "or unreadable" + ("" if verify_images else " (stat only)"))
    if verify_images:
        row("boxes outside", f"{len(s.partly_outside):,} partly, {len(s.fully_outside):,} "
            f"entirely (headers of {s.checked_sizes:,} images read; featurize clips them)")
        for label, lst in (("partly outside", s.partly_outside),
                           ("entirely outside", s.fully_outside)):
            for pos, detail in lst[:SHOW]:
                out.append(f"    {label}: {r.where(pos)}: {detail}")
            if len(lst) > SHOW:
                out.append(f"    ... and {len(lst) - SHOW:,} more {label}")
    else:
        row("boxes outside", "not checked (add --verify-images to read image headers)")
    for w in r.warnings:
        out.append(f"warning: {w}")
    if s.bad_files:
        out.append(f"PROBLEM: {len(s.bad_files):,} of {s.images:,} image files cannot be used:")
        for p, why, pos in s.bad_files[:SHOW]:
            out.append(f"  {r.where(pos)}: {show_path(p)}: {why}")
        if len(s.bad_files) > SHOW:
            out.append(f"  ... and {len(s.bad_files) - SHOW:,} more")
    if not r.items:
        out.append("PROBLEM: no items: there is nothing to label in this list")
    if not s.problems:
        out.append(f"OK: {n:,} items ready")
    return "\n".join(out)


def _fmt_name(r: RefList) -> str:
    names = {"txt": "text list", "csv": "CSV", "jsonl": "JSON lines", "folder": "folder",
             "coco-gt": "COCO ground truth", "coco-images": "COCO images",
             "coco-dets": "COCO detection results"}
    name = names.get(r.format, r.format)
    if r.format in ("txt", "jsonl", "csv"):
        name += f", box format {r.box_format}"
    return name
