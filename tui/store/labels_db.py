"""One SQLite connection to a labels file, and what makes its writes durable and bounded.

Kept apart from the answers' logic (tui.store.labels) because every write there
needs the same care: one IMMEDIATE transaction with the write lock taken up front
(so `busy_timeout` applies), a bounded wait for callers that must not freeze the
UI (LabelsBusy instead of a 15 s stall, measured in tests/test_adversarial_locked_labels.py),
a retry after shrinking the write-ahead log when the disk is full, and regular
checkpoints so that a copy of NAME.sqlite alone holds the answers.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from tui.store.labels_schema import (BUSY_TIMEOUT_S, LabelsBusy, LabelsError, connect,
                                     is_disk_full, is_locked, sqlite_error)

T = TypeVar("T")

# Checkpoint the write-ahead log into the main file this often (see LabelsDB.checkpoint).
CHECKPOINT_ANSWERS = 20
CHECKPOINT_S = 30.0


class LabelsDB:
    """The connection, its lock, transactions, reads and checkpoints."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.RLock()
        self._conn: sqlite3.Connection | None = connect(path)
        self._since_checkpoint, self._checkpointed_at = 0, time.monotonic()

    def error(self, exc: sqlite3.Error, doing: str) -> LabelsError:
        return sqlite_error(self.path, exc, doing)

    def connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LabelsError(f"{self.path}: the label store is closed")
        return self._conn

    @property
    def closed(self) -> bool:
        return self._conn is None

    @contextmanager
    def within(self, wait: float | None) -> Iterator[None]:
        """Hold the store (and SQLite's busy wait) for at most `wait` seconds, else raise
        LabelsBusy; None: the usual BUSY_TIMEOUT_S. For callers that must not freeze."""
        if wait is None:
            with self.lock:
                yield
            return
        if not self.lock.acquire(timeout=max(0.0, wait)):
            raise LabelsBusy(f"{self.path}: busy in this process (another write is waiting)")
        try:
            conn = self.connection()
            conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            try:
                yield
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        finally:
            self.lock.release()

    def transact(self, doing: str, body: Callable[[sqlite3.Connection], T],
                 wait: float | None = None) -> T:
        """Run body in one IMMEDIATE transaction (the write lock is taken up front, so
        busy_timeout applies). On a full disk, checkpoint and truncate the WAL (it holds many
        copies of the same pages) and try once more before reporting it. With `wait`, a
        file locked for longer raises LabelsBusy (nothing written)."""
        with self.within(wait):
            conn = self.connection()
            for attempt in (1, 2):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    result = body(conn)
                    conn.execute("COMMIT")
                    return result
                except BaseException as exc:
                    if conn.in_transaction:
                        try:
                            conn.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass  # SQLite already rolled back (e.g. after SQLITE_FULL)
                    if not isinstance(exc, sqlite3.Error):
                        raise
                    if attempt == 1 and is_disk_full(exc) and self._shrink_wal(conn):
                        continue
                    if wait is not None and is_locked(exc):
                        raise LabelsBusy(f"{self.path}: locked by another process") from exc
                    raise self.error(exc, doing) from exc
            raise AssertionError("unreachable")

    @staticmethod
    def _shrink_wal(conn: sqlite3.Connection) -> bool:
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error:
            return False
        return busy == 0

    @contextmanager
    def read(self, doing: str, wait: float | None = None) -> Iterator[sqlite3.Connection]:
        with self.within(wait):
            conn = self.connection()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise self.error(exc, doing) from exc

    # ---- the file on its own ---------------------------------------------------------------

    def wrote(self) -> None:
        """An answer was committed: one more toward the next checkpoint."""
        self._since_checkpoint += 1

    def checkpoint(self, truncate: bool = False) -> bool:
        """Copy the answers in the write-ahead log into the main file; True if all were.

        Why: until a checkpoint, answers live in NAME.sqlite-wal only, and a backup that
        copies *.sqlite (a common habit) holds none of them. SQLite checkpoints by itself
        only every 1,000 pages (thousands of answers). PASSIVE never waits for readers;
        TRUNCATE (on close) also empties the log file."""
        mode = "TRUNCATE" if truncate else "PASSIVE"
        with self.lock:
            conn = self.connection()
            try:
                busy, _, _ = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            except sqlite3.Error:
                return False     # locked by a teammate's write, say: the next one will do
            self._since_checkpoint, self._checkpointed_at = 0, time.monotonic()
            return busy == 0

    def checkpoint_due(self) -> bool:
        """Every CHECKPOINT_ANSWERS answers, or CHECKPOINT_S seconds after an answer."""
        return self._since_checkpoint >= CHECKPOINT_ANSWERS or (
            self._since_checkpoint > 0
            and time.monotonic() - self._checkpointed_at >= CHECKPOINT_S)

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
