"""Write an export under a temporary name in the destination folder, then rename it.

Why: a crash, a kill or a full disk mid-write must never leave half a file under
the name a person (or a training script) will open. The temporary file lives in
the same folder, so the final `os.replace` is one atomic rename on the same file
system; an existing file of that name stays intact until the new one is whole.
Only a regular file is ever renamed over: a device, a FIFO or a socket is refused
(`-` writes to standard output instead), and a symlink to a regular file is kept,
its target getting the export. A temporary file is removed when the export fails,
when the process is terminated (SIGTERM, SIGHUP: `terminate_cleanly`), and, if it
was killed outright, by the next export to the same name (its pid is dead).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class ExportError(ValueError):
    """A user mistake or an impossible export; the message says what and where."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like KeyboardInterrupt, removing temporary files."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


def _temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.part-{os.getpid()}-{secrets.token_hex(3)}")


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a folder"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _not_regular(final: Path, what: str) -> ExportError:
    return ExportError(f"{final}: exists and is {what}, not a regular file; it was left as "
                       f"it is. Pass a file name (or -o - to write to standard output)")


def resolve_output(final: Path, folder_ok: bool = False) -> Path:
    """The path to write: `final`, or the target of a symlink to a regular file (the link is
    kept). Anything else that exists and is not a regular file is refused, never replaced."""
    try:
        lst = os.lstat(final)
    except FileNotFoundError:
        return final
    if not stat.S_ISLNK(lst.st_mode):
        if not stat.S_ISREG(lst.st_mode) and not (folder_ok and stat.S_ISDIR(lst.st_mode)):
            raise _not_regular(final, _kind(lst.st_mode))
        return final
    try:
        st = os.stat(final)
    except OSError:
        raise ExportError(f"{final}: is a symlink to {os.readlink(final)}, which does not "
                          f"exist; it was left as it is. Pass another file name") from None
    if not stat.S_ISREG(st.st_mode) and not (folder_ok and stat.S_ISDIR(st.st_mode)):
        raise _not_regular(final, f"a symlink to {_kind(st.st_mode)} "
                                  f"({os.readlink(final)})")
    return Path(os.path.realpath(final))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True   # e.g. another user's process
    return True


def remove_stale(final: Path) -> list[Path]:
    """Remove the temporary files (or folders) of earlier exports to `final` whose process
    is gone (killed outright, so it could not clean up); return what was removed."""
    pattern = re.compile(rf"\.{re.escape(final.name)}\.part-(\d+)-[0-9a-f]{{6}}")
    gone = []
    try:
        names = os.listdir(final.parent)
    except OSError:
        return gone
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        p = final.parent / name
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            gone.append(p)
        except OSError:
            pass  # not ours to remove after all (permissions): leave it
    return gone


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into `Terminated` for the block, so that the temporary file
    of the export under way is removed as on any failure (main thread only)."""
    def raise_terminated(signum, frame):
        raise Terminated(signum)

    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            old[sig] = signal.signal(sig, raise_terminated)
        except (ValueError, OSError):   # not the main thread: leave the defaults
            pass
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextmanager
def via_stdout(suffix: str) -> Iterator[Path]:
    """For `-o -`: yield a private temporary path to export to; once the export returns, its
    bytes go to standard output (nothing reaches it when the export fails)."""
    with tempfile.TemporaryDirectory(prefix="binlabel-export-") as d:
        out = Path(d) / f"stdout{suffix}"
        yield out
        with open(out, "rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()


def check_writable(final: Path) -> Path:
    """Refuse, before any work, a destination that cannot be written; return the path that
    will be written (a symlink's target)."""
    final = resolve_output(final)
    parent = final.parent
    if final.is_dir() and final.suffix:
        raise ExportError(f"{final}: is a folder; pass a file name")
    if not parent.is_dir():
        raise ExportError(f"{final}: the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{final}: the folder {parent} is not writable")
    return final


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
    final = check_writable(final)
    remove_stale(final)
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
        resolve_output(final)   # again: it may have become a FIFO or a device meanwhile
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(final) -> Iterator[Path]:
    """Like `atomic_file` for a folder. A folder cannot be swapped atomically for another,
    so an existing non-empty `final` is refused rather than replaced."""
    final = resolve_output(Path(os.fspath(final)).expanduser().absolute(), folder_ok=True)
    if final.exists() and not final.is_dir():
        raise ExportError(f"{final}: exists and is not a folder; pass a new folder name")
    if final.is_dir() and any(final.iterdir()):
        raise ExportError(f"{final}: the folder exists and is not empty; pass a new folder "
                          f"name (nothing in it was changed)")
    parent = final.parent
    if not parent.is_dir():
        raise ExportError(f"{final}: the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{final}: the folder {parent} is not writable")
    remove_stale(final)
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
