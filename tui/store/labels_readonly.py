"""The labels an export reads, from a labels file it may not write to.

Why: labels shared read-only (a read-only folder, a read-only file, a mounted copy)
must still be exportable. `LabelStore` opens for writing (WAL mode, schema, leases),
so a file we cannot write is opened here with SQLite's read-only URIs instead, and
nothing is created beside it:

- no write-ahead log with answers in it: `immutable=1`, which creates no -wal or
  -shm file; the file is checked unchanged after the read (else read again below);
- a write-ahead log with answers: `mode=ro`, which reads them (a WAL reader needs
  the -shm file; SQLite creates none where it is missing and the folder is
  read-only); if that cannot open, the file and its log are copied to a private
  temporary folder and read there, so no answer in the log is ever dropped.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import quote

from tui.store.labels_schema import (ANSWER_COLUMNS_V1, APPLICATION_ID, SQLITE_HEADER, Answer, LabelsError,
                               LabelsMismatch, check_version)

_COLS = ANSWER_COLUMNS_V1   # a read-only file may be of schema version 1 (no session)
_WAL_HEADER = 32   # a -wal of this size or less holds no frames


def writable(path: Path) -> bool:
    """Whether LabelStore can open `path` as it does (the file and its folder writable)."""
    return os.access(path.parent, os.W_OK | os.X_OK) and os.access(path, os.W_OK)


def open_labels(path: Path, features_id: str, has_key):
    """A LabelStore where the labels file can be written, else a ReadOnlyLabels."""
    if writable(path):
        from tui.store.labels import LabelStore
        return LabelStore(path, features_id=features_id, has_key=has_key)
    return ReadOnlyLabels(path, features_id, has_key)


def _uri(path: Path, query: str) -> str:
    return f"file:{quote(str(path))}?{query}"


def _signature(path: Path):
    wal = Path(f"{path}-wal")
    st = path.stat()
    return st.st_size, st.st_mtime_ns, wal.exists() and wal.stat().st_size


class ReadOnlyLabels:
    """The answers of a labels file, read without writing anything (see the module doc)."""

    def __init__(self, path: Path, features_id: str, has_key=None):
        self.path = path
        try:
            with open(path, "rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise LabelsError(f"{path}: cannot read the labels file ({exc.strerror}); check "
                              f"its permissions, or pass another --labels path") from exc
        if head != SQLITE_HEADER:
            raise LabelsError(f"{path}: not a binlabel labels file (it starts with "
                              f"{head[:8]!r}); pass another --labels path")
        self._answers = self._read(features_id, has_key)

    def _read(self, features_id, has_key) -> list[Answer]:
        wal = Path(f"{self.path}-wal")
        if not wal.exists() or wal.stat().st_size <= _WAL_HEADER:
            before = _signature(self.path)
            got = self._query(_uri(self.path, "immutable=1"), features_id, has_key)
            if _signature(self.path) == before:
                return got
        try:
            return self._query(_uri(self.path, "mode=ro"), features_id, has_key)
        except sqlite3.OperationalError:
            pass   # a -wal without its -shm, in a read-only folder
        with tempfile.TemporaryDirectory(prefix="binlabel-labels-") as d:
            copy = Path(d) / self.path.name
            shutil.copyfile(self.path, copy)
            if wal.exists():
                shutil.copyfile(wal, Path(f"{copy}-wal"))
            return self._query(_uri(copy, "mode=ro"), features_id, has_key)

    def _query(self, uri: str, features_id: str, has_key) -> list[Answer]:
        try:
            conn = sqlite3.connect(uri, uri=True)
        except sqlite3.Error as exc:
            raise sqlite3.OperationalError(str(exc)) from exc
        try:
            try:
                conn.execute("BEGIN")   # one snapshot for every read below
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                if app_id != APPLICATION_ID:
                    raise LabelsError(f"{self.path}: not a binlabel labels file (an SQLite "
                                      f"database of another program); pass another --labels "
                                      f"path")
                self._settings = check_version(conn, self.path)   # the meta table
                self._check_identity(conn, features_id, has_key)
                return [Answer(*r) for r in conn.execute(
                    f"SELECT {_COLS} FROM answers WHERE undone_at IS NULL ORDER BY id")]
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError):
                    raise
                raise LabelsError(f"{self.path}: cannot be read as a labels file "
                                  f"({exc})") from exc
        finally:
            conn.close()

    def _check_identity(self, conn, features_id: str, has_key) -> None:
        """As LabelStore does, without recording the features file (nothing is written)."""
        known = [r[0] for r in conn.execute(
            "SELECT features_id FROM features ORDER BY attached_at")]
        if features_id in known:
            return
        labelled = [r[0] for r in conn.execute(
            "SELECT key FROM current WHERE answer IS NOT NULL")]
        present = sum(1 for k in labelled if has_key(k)) if has_key else 0
        if 2 * present < len(labelled):
            raise LabelsMismatch(
                f"{self.path}: these labels belong to features file "
                f"{known[-1] if known else '?'}, not to {features_id}; the features file "
                f"holds {present} of its {len(labelled)} labelled items, so the labels would "
                f"land on the wrong items. Pass the features file they were made with.")

    def answers(self) -> list[Answer]:
        """Every answer not undone, oldest first (as LabelStore.answers())."""
        return list(self._answers)

    def setting(self, name: str) -> str | None:
        """A row of the file's `meta` table, as LabelStore.setting."""
        return self._settings.get(name)

    def close(self) -> None:
        pass
