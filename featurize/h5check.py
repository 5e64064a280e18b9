"""Checks on an existing features file before featurize resumes into it.

Why: resuming writes rows into the file, so whatever HDF5 would follow must
be refused first. An external link is opened as soon as it is looked at (a
FIFO target hangs), external storage and virtual datasets put rows in other
files (``/etc/passwd`` read, or written, as features), and a dataset that
declares more than the file holds was never written and would be allocated
whole. tui/store/features.py makes the same checks for annotate (tui does not
import featurize).
"""

from __future__ import annotations

import posixpath

import h5py
import numpy as np

#: Columns of ``features`` above which a file is refused (real embeddings have a few thousand).
MAX_DIM = 1 << 15
#: What a message ends with: how to get a usable file again.
REBUILD = "pass --overwrite to rebuild it (its rows are computed again), or choose another -o"


def _text(v) -> str:
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)


def open_problem(path: str, exc: BaseException) -> str:
    """The message for a file HDF5 could not open: locked, not HDF5, or damaged."""
    text = str(exc).strip("'\" ") or type(exc).__name__
    why = text.split(" (", 1)[1].rstrip(")") if text.startswith("Unable to") and " (" in text else text
    if "unable to lock file" in why:  # not "lock" alone: HDF5 says "sblock" about superblocks
        return (f"{path} is open in another process (is another featurize writing it?); wait for it, "
                "or choose another -o")
    if "file signature not found" in why:
        return (f"{path} exists but is not a readable HDF5 file (file signature not found: another kind of "
                f"file, or a features file whose first bytes are damaged); move it away or {REBUILD}")
    return f"{path} is damaged ({why}); {REBUILD}"


def _outside(f: h5py.File, name: str, depth: int = 0):
    """(object or None when missing, why its data lies outside the file or None), found
    link by link: an external link is reported, never followed."""
    obj, here = f["/"], "/"
    for part in [s for s in name.split("/") if s]:
        b = part.encode("utf-8", "surrogateescape")
        if not isinstance(obj, h5py.Group) or not obj.id.links.exists(b):
            return None, None
        kind = obj.id.links.get_info(b).type
        if kind == h5py.h5l.TYPE_HARD:
            obj = obj[part]
        elif kind == h5py.h5l.TYPE_SOFT and depth < 8:
            obj, why = _outside(f, posixpath.join(here, _text(obj.id.links.get_val(b))), depth + 1)
            if why or obj is None:
                return None, why
        elif kind == h5py.h5l.TYPE_EXTERNAL:
            return None, "an external link to " + ":".join(_text(v) for v in obj.id.links.get_val(b))
        else:
            return None, "a chain of soft links" if depth >= 8 else "a user-defined link"
        here = posixpath.join(here, part)
    if isinstance(obj, h5py.Dataset) and obj.is_virtual:
        return None, "a virtual dataset"
    if isinstance(obj, h5py.Dataset) and obj.external:
        return None, "external storage in " + ", ".join(_text(e[0]) for e in obj.external)
    return obj, None


def layout_problem(f: h5py.File, path: str, names, file_size: int) -> str | None:
    """Why the datasets ``names`` of an open file cannot be used, or None: data outside
    the file, a missing dataset, or a shape the file cannot hold."""
    found = {}
    for name in names:
        obj, why = _outside(f, name)
        if why:
            return (f"{path}: dataset {name} is stored outside the file ({why}); a features file holds "
                    f"its data itself, so featurize does not resume into it: {REBUILD}")
        if not isinstance(obj, h5py.Dataset):
            return f"{path} has no dataset {name}: the file is damaged; {REBUILD}"
        found[name] = obj
    x = found.get("features")
    if x is not None and x.ndim != 2:
        return f"{path}: dataset features has shape {list(x.shape)}, not [N, dim]: the file is damaged; {REBUILD}"
    if x is not None and x.shape[1] > MAX_DIM:
        return (f"{path}: dataset features has {x.shape[1]:,} columns (dim); an embedding has at most "
                f"{MAX_DIM:,}, so the file is damaged; {REBUILD}")
    for name, d in found.items():
        declared = int(np.prod(d.shape, dtype=np.float64)) * d.id.get_type().get_size()
        if declared > file_size * (1100 if d.id.get_create_plist().get_nfilters() else 1):
            return (f"{path}: dataset {name} declares shape {list(d.shape)} ({declared / 1e6:,.0f} MB), more "
                    f"than the file holds ({file_size / 1e6:,.1f} MB): the file is damaged; {REBUILD}")
    return None
