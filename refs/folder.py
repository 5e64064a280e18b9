"""A folder as a reference list: every image in it, recursively, sorted.

Images are found by extension (case ignored). Hidden files and folders
(a leading ``.``, which includes macOS ``._name.jpg`` resource forks) are
skipped; symlinked folders are not followed, so a link loop cannot hang it.
"""

from __future__ import annotations

import hashlib
import os

from refs.errors import RefsError
from refs.items import Item, normalize_path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


def list_images(folder: str) -> tuple[list[str], list[str]]:
    """Paths relative to ``folder`` of every image below it, sorted, and the
    sub-folders that could not be listed."""
    found = []
    errors = []

    def onerror(e: OSError):
        errors.append(e)

    for root, dirs, files in os.walk(folder, onerror=onerror):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(root, folder)
        for f in files:
            if f.startswith("."):
                continue
            if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS:
                found.append(f if rel == "." else os.path.join(rel, f))
    if errors and (not found or errors[0].filename == folder):
        e = errors[0]
        raise RefsError(folder, None, f"cannot list the folder ({e.strerror or e})", e.filename)
    found.sort()
    return found, [f"cannot list {e.filename} ({e.strerror or e}): its images are left out"
                   for e in errors]


def read_folder(folder: str) -> tuple[list[Item], str, list[str]]:
    """Whole-image items (``Item.line`` is the 1-based position in the sorted
    listing), the sha256 of the listing, and warnings."""
    names, warnings = list_images(folder)
    listing = "\n".join(names).encode("utf-8", "surrogateescape")
    base = normalize_path(folder)
    items = [Item(os.path.join(base, n), None, line=i) for i, n in enumerate(names, 1)]
    if not names:
        warnings.append(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in {folder}")
    return items, hashlib.sha256(listing).hexdigest(), warnings
