"""The checks a features file passes before a byte of it is used, and their messages.

Kept apart from the reader (tui.store.features) because each is a defence against one
kind of bad file met in tests/test_adversarial_features_file.py: damaged headers, data
stored outside the file (external links and storage, virtual datasets: `/etc/passwd`
read as features), and declared shapes no file could hold (a read would allocate them).
"""

from __future__ import annotations

import posixpath
from pathlib import Path

import h5py
import numpy as np


class FeaturesError(ValueError):
    """A features file that cannot be used; the message names the file and what is wrong."""


REBUILD = "Re-run featurize with --overwrite to rebuild it."


def open_readonly(path: Path) -> h5py.File:
    # locking=False: featurize may hold the file open for writing at the same time.
    try:
        return h5py.File(path, "r", locking=False)
    except TypeError:  # h5py < 3.5 has no locking argument
        return h5py.File(path, "r")


def text(v) -> str:
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)


def damaged(path, exc: BaseException) -> str:
    """The message for a file HDF5 cannot open or read (truncated, bad superblock, bad object header)."""
    text = str(exc).strip("'\" ") or type(exc).__name__
    why = text.split(" (", 1)[1].rstrip(")") if text.startswith("Unable to") and " (" in text else text
    if "file signature not found" in why:
        return (f"{path}: not a readable HDF5 file (file signature not found): another kind of file, "
                f"or a features file whose first bytes are damaged; if it is one: {REBUILD}")
    return f"{path}: the file is damaged ({why}). {REBUILD}"


def inside(f: h5py.File, path, name: str, depth: int = 0, shown: str | None = None):
    """The object at ``name`` (None if missing), reached link by link so that no external
    link is ever followed (its target, even a FIFO, is never opened); FeaturesError if its
    data would come from outside the file: an external link on the way, a soft link to one,
    external storage (``/etc/passwd`` read as features) or a virtual dataset."""
    obj, here = f["/"], "/"
    for part in [s for s in name.split("/") if s]:
        b = part.encode("utf-8", "surrogateescape")
        if not isinstance(obj, h5py.Group) or not obj.id.links.exists(b):
            return None
        kind = obj.id.links.get_info(b).type
        if kind == h5py.h5l.TYPE_HARD:
            obj = obj[part]
        elif kind == h5py.h5l.TYPE_SOFT and depth < 8:
            target = text(obj.id.links.get_val(b))
            obj = inside(f, path, posixpath.join(here, target), depth + 1, shown or name)
            if obj is None:
                return None
        else:
            how = ("an external link to " + ":".join(text(v) for v in obj.id.links.get_val(b))
                   if kind == h5py.h5l.TYPE_EXTERNAL else "a chain of soft links" if depth >= 8
                   else "a user-defined link")
            raise FeaturesError(f"{path}: dataset {shown or name} is stored outside the file ({how}); "
                                f"a features file holds its data itself, so it is not read. {REBUILD}")
        here = posixpath.join(here, part)
    if isinstance(obj, h5py.Dataset) and (obj.is_virtual or obj.external):
        how = ("a virtual dataset" if obj.is_virtual else
               "external storage in " + ", ".join(text(e[0]) for e in obj.external))
        raise FeaturesError(f"{path}: dataset {shown or name} is stored outside the file ({how}); "
                            f"a features file holds its data itself, so it is not read. {REBUILD}")
    return obj


def implausible(path, name: str, d: h5py.Dataset, file_size: int) -> str | None:
    """Why the declared shape of ``d`` cannot be real: more bytes than the file could hold
    (uncompressed; 1,100x for a compressed one, above gzip's best ratio). Such a dataset was
    never written, and reading it would allocate its whole declared size."""
    declared = int(np.prod(d.shape, dtype=np.float64)) * d.id.get_type().get_size()
    room = file_size * (1100 if d.id.get_create_plist().get_nfilters() else 1)
    if declared <= room:
        return None
    return (f"{path}: dataset {name} declares shape {list(d.shape)} ({declared / 1e6:,.0f} MB), "
            f"more than the file holds ({file_size / 1e6:,.1f} MB); the file is damaged. {REBUILD}")
