"""The output file on disk, apart from its HDF5 contents: what a path is (a FIFO
or a device is never written into nor renamed over), its disk blocks reserved
at creation, leftovers of killed runs removed, and the message for a full disk.
Split from store.py, which keeps the HDF5 side."""

from __future__ import annotations

import os


def disk_message(path: str, exc: BaseException) -> str:
    import shutil
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        space = f"{shutil.disk_usage(folder).free / 1e6:.1f} MB free there"
    except OSError:
        space = "free space unknown"
    text = str(exc)
    if "No space left" in text or getattr(exc, "errno", None) == 28:
        why = "no space left on the device"
        need = text.split("the file needs ", 1)
        if len(need) == 2:
            why += f" (the file needs {need[1].split(':')[0]})"
    elif "Disk quota" in text or getattr(exc, "errno", None) == 122:
        why = "disk quota exceeded"
    else:
        why = text.split("(", 1)[0].strip() or type(exc).__name__
    return (f"cannot write {path}: {why}; {space}. Nothing already written is lost: "
            "free some space and run the same command again to resume.")


def not_regular(path: str) -> str | None:
    """What ``path`` is when it exists and is not a regular file (links followed), else None."""
    try:
        return not_regular_mode(os.stat(path).st_mode)
    except OSError:
        return None


def not_regular_mode(mode: int) -> str | None:
    """``not a regular file (a named pipe)`` and the like for an ``st_mode``; None for a regular file."""
    import stat
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return "not a regular file (" + next((k for test, k in kinds if test(mode)), "of another kind") + ")"


def reserve(path: str, skip_offset, skip_size) -> None:
    """Reserve the disk blocks of the file now (the datasets are allocated
    but sparse), so that a job that starts does not run out of disk hours
    later; a disk too small fails here, before any work. The ``error`` slots
    stay sparse: only failed rows use them."""
    if not hasattr(os, "posix_fallocate"):
        return
    size = os.path.getsize(path)
    if skip_offset is None:
        skip_offset, skip_size = size, 0
    fd = os.open(path, os.O_RDWR)
    try:
        if skip_offset > 0:
            os.posix_fallocate(fd, 0, skip_offset)
        if size > skip_offset + skip_size:
            os.posix_fallocate(fd, skip_offset + skip_size, size - skip_offset - skip_size)
    except OSError as e:
        import errno
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise OSError(e.errno, f"the file needs {size / 1e6:.1f} MB: {e.strerror}") from None
        # EOPNOTSUPP/EINVAL: a filesystem without fallocate; blocks come as rows are written
    finally:
        os.close(fd)


def remove_partial(path: str) -> None:
    """Remove creation leftovers of killed runs (never the output itself)."""
    folder = os.path.dirname(os.path.abspath(path))
    prefix = os.path.basename(path) + ".partial-"
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix):
            pid = name[len(prefix):]
            if pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
                continue
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
