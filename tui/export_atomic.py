"""Write an export under a temporary name in the destination folder, then rename it.

Why: a crash, a kill or a full disk mid-write must never leave half a file under
the name a person (or a training script) will open. The temporary file lives in
the same folder, so the final `os.replace` is one atomic rename on the same file
system; an existing file of that name stays intact until the new one is whole.
"""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class ExportError(ValueError):
    """A user mistake or an impossible export; the message says what and where."""


def _temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.part-{os.getpid()}-{secrets.token_hex(3)}")


def check_writable(final: Path) -> None:
    """Refuse, before any work, a destination that cannot be written."""
    parent = final.parent
    if final.is_dir() and final.suffix:
        raise ExportError(f"{final}: is a folder; pass a file name")
    if not parent.is_dir():
        raise ExportError(f"{final}: the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{final}: the folder {parent} is not writable")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_file(final) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success it is synced and renamed to
    `final`, on any exception it is removed and `final` is left as it was."""
    final = Path(os.fspath(final)).expanduser().absolute()
    if final.is_dir():
        raise ExportError(f"{final}: is a folder; pass a file name")
    check_writable(final)
    tmp = _temp_name(final)
    try:
        yield tmp
        if not tmp.exists():
            raise ExportError(f"{final}: nothing was written")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(final) -> Iterator[Path]:
    """Like `atomic_file` for a folder. A folder cannot be swapped atomically for another,
    so an existing non-empty `final` is refused rather than replaced."""
    final = Path(os.fspath(final)).expanduser().absolute()
    if final.exists() and not final.is_dir():
        raise ExportError(f"{final}: exists and is not a folder; pass a new folder name")
    if final.is_dir() and any(final.iterdir()):
        raise ExportError(f"{final}: the folder exists and is not empty; pass a new folder "
                          f"name (nothing in it was changed)")
    check_writable(final)
    tmp = _temp_name(final)
    tmp.mkdir()
    try:
        yield tmp
        if final.is_dir():
            final.rmdir()  # empty (checked above)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
