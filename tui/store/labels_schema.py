"""The labels file on disk: its schema and version, how it is opened, what a row may
hold, and the errors a person sees.

Kept apart from `tui.store.labels` so that the store's logic reads without DDL and
checks in the way. Opening never modifies a file that is not ours: a foreign
SQLite file or one written by a newer binlabel is refused before anything is
written.
"""

from __future__ import annotations

import numbers
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ANSWERS = ("pos", "neg", "skip")
SCHEMA_VERSION = 2   # 2: answers.session (undo acts on one session's answers)
# PRAGMA application_id: the bytes "binl", so `file(1)` and we can tell our files apart.
APPLICATION_ID = 0x62696E6C
SQLITE_HEADER = b"SQLite format 3\x00"
# Long enough for 4 processes committing answers at once (a commit takes milliseconds),
# short enough that a wedged writer is reported instead of freezing the UI forever.
BUSY_TIMEOUT_S = 15.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS features (
    features_id  TEXT PRIMARY KEY,
    attached_at  REAL NOT NULL,
    how          TEXT NOT NULL,      -- created | overlap | attach
    labelled     INTEGER NOT NULL,   -- labelled keys when it was attached
    present      INTEGER             -- of those, how many the features file holds (NULL: not checked)
);
CREATE TABLE IF NOT EXISTS answers (
    id            INTEGER PRIMARY KEY,   -- rowid: rising, never reused (nothing is deleted)
    key           TEXT NOT NULL,
    answer        TEXT NOT NULL CHECK (answer IN ('pos', 'neg', 'skip')),
    annotator     TEXT NOT NULL,
    time          REAL NOT NULL,
    prob          REAL,
    model_version INTEGER,
    strategy      TEXT,
    undone_at     REAL,
    session       TEXT                   -- the annotate run (or --session NAME) that answered
);
-- history of one item, in order
CREATE INDEX IF NOT EXISTS answers_key_id ON answers (key, id);
-- current labels: a covering index over the answers still standing
CREATE INDEX IF NOT EXISTS answers_current ON answers (key, id, answer) WHERE undone_at IS NULL;
-- last(annotator=...)
CREATE INDEX IF NOT EXISTS answers_annotator ON answers (annotator, id) WHERE undone_at IS NULL;
-- undo: the session's latest answer standing
CREATE INDEX IF NOT EXISTS answers_session ON answers (session, id) WHERE undone_at IS NULL;
-- The current label of every item, kept in the same transaction as the log (derived, never
-- the source of truth: LabelStore.verify() recomputes it from the log). `rev` is the revision
-- that last changed the row, so a reader catches up with `rev > ?`; a row whose every answer
-- was undone stays with answer NULL for that reason.
CREATE TABLE IF NOT EXISTS current (
    key       TEXT PRIMARY KEY,
    answer_id INTEGER,
    answer    TEXT,
    rev       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS current_answer ON current (answer);
CREATE INDEX IF NOT EXISTS current_rev ON current (rev);
CREATE TABLE IF NOT EXISTS leases (
    key       TEXT PRIMARY KEY,
    owner     TEXT NOT NULL,         -- annotator/host/pid/token: one per open store
    annotator TEXT NOT NULL,
    host      TEXT NOT NULL,         -- hostname and pid namespace, for the liveness check
    pid       INTEGER NOT NULL,
    expires   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_owner ON leases (owner);
"""


# The log's columns in Answer's order; a version-1 file has no `session` (read-only readers
# of old files ask for the first ones only).
ANSWER_COLUMNS_V1 = "id, key, answer, annotator, time, prob, model_version, strategy, undone_at"
ANSWER_COLUMNS = ANSWER_COLUMNS_V1 + ", session"


@dataclass(frozen=True)
class Answer:
    """One row of the log, as recorded."""
    id: int
    key: str
    answer: str
    annotator: str
    time: float          # Unix seconds
    prob: float | None   # the model's probability of 'pos' shown before the answer
    model_version: int | None
    strategy: str | None  # the strategy that chose the item
    undone_at: float | None
    session: str | None = None  # the session that answered (None: before schema version 2)


def check_record_args(key, answer, prob, model_version, strategy):
    """Refuse a bad row at the boundary, naming the value; return (prob, model_version)
    as plain float and int (numpy scalars are welcome)."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"key must be a non-empty string, got {key!r}")
    if answer not in ANSWERS:
        raise ValueError(f"answer must be one of {ANSWERS}, got {answer!r}")
    if prob is not None:
        if isinstance(prob, bool) or not isinstance(prob, numbers.Real) \
                or not (0.0 <= float(prob) <= 1.0):  # NaN fails this too
            raise ValueError(f"prob must be a probability in [0, 1] or None, got {prob!r}")
        prob = float(prob)
    if model_version is not None:
        if isinstance(model_version, bool) or not isinstance(model_version, numbers.Integral) \
                or model_version < 0:
            raise ValueError(f"model_version must be an integer >= 0 or None, "
                             f"got {model_version!r}")
        model_version = int(model_version)
    if strategy is not None and not isinstance(strategy, str):
        raise ValueError(f"strategy must be a string or None, got {strategy!r}")
    return prob, model_version


class LabelsError(RuntimeError):
    """A labels file that cannot be used; the message names the file and what to do."""


class LabelsBusy(LabelsError):
    """The labels file stayed locked longer than the caller would wait; nothing was written."""


class LabelsMismatch(LabelsError):
    """The labels file belongs to another features file (by identity, not by path)."""


def is_disk_full(exc: BaseException) -> bool:
    """True for SQLITE_FULL (the disk or the file system quota is full)."""
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+
    if name is not None:
        return name.startswith("SQLITE_FULL")
    return "disk is full" in str(exc)


def sqlite_error(path: Path, exc: sqlite3.Error, doing: str) -> LabelsError:
    """The message a person sees for an SQLite failure: what happened and what to do."""
    if is_disk_full(exc):
        return LabelsError(
            f"{path}: the disk is full while {doing}; nothing was written and every answer "
            f"recorded before is safe. Free some space on {path.parent} and try again.")
    msg = str(exc)
    if is_damaged(exc):
        return damaged(path, msg)
    if is_locked(exc):
        return LabelsError(
            f"{path}: another process kept the labels file locked for more than "
            f"{BUSY_TIMEOUT_S:.0f} s while {doing}; nothing was written. Check for a "
            f"stuck process using this file and try again.")
    return LabelsError(f"{path}: SQLite error while {doing}: {msg}")


def is_locked(exc: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc) \
        or "busy" in str(exc)


def is_damaged(exc: BaseException) -> bool:
    """SQLITE_CORRUPT and SQLITE_NOTADB on a file that starts like an SQLite database."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    msg = str(exc)
    return (name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
            or "malformed" in msg or "file is not a database" in msg)


def damaged(path: Path, detail: str) -> LabelsError:
    """The message for a damaged labels file: what happened and how to get the answers back."""
    return LabelsError(
        f"{path}: the labels file is damaged ({detail}); it was not changed. Recover what "
        f"it holds with the sqlite3 command (Debian: apt-get install sqlite3): "
        f"`sqlite3 {path} .recover | sqlite3 recovered.labels.sqlite`, then pass "
        f"--labels recovered.labels.sqlite; or use a copy made by `annotate backup`.")


def connect(path: Path) -> sqlite3.Connection:
    """Open the file in autocommit mode (we issue BEGIN IMMEDIATE ourselves)."""
    parent = path.parent
    if path.is_dir():
        raise LabelsError(f"{path}: is a folder, not a labels file; pass a file path "
                          f"such as {path / 'labels.sqlite'}")
    if not parent.is_dir():
        raise LabelsError(f"{path}: the folder {parent} does not exist; create it or pass "
                          f"another --labels path")
    if not os.access(parent, os.W_OK):
        raise LabelsError(f"{path}: the folder {parent} is not writable (SQLite needs to "
                          f"write its -wal and -shm files beside the labels file); pass "
                          f"another --labels path")
    try:  # SQLite would silently take over a file of a few bytes: check the header first
        with open(path, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        head = b""
    except OSError as exc:
        raise LabelsError(f"{path}: cannot read the labels file ({exc.strerror}); check its "
                          f"permissions, or pass another --labels path") from exc
    if head and head != SQLITE_HEADER:
        raise _foreign(path, f"not an SQLite database (it starts with {head[:8]!r})")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise LabelsError(f"{path}: cannot open the labels file ({exc}); check the path "
                          f"and its permissions, or pass another --labels path") from exc
    return conn


def _foreign(path: Path, why: str) -> LabelsError:
    return LabelsError(f"{path}: {why}; it is not a binlabel labels file. Pass another "
                       f"--labels path (a new file is created if none exists).")


def check_and_create(conn: sqlite3.Connection, path: Path, features_id: str) -> dict:
    """Refuse foreign or newer files, create the schema if the file is new; return meta."""
    try:
        app_id, tables = _identity(conn)
        if tables and app_id != APPLICATION_ID:
            # Read apart, the two can straddle the commit of a process creating
            # the file at this moment (tables seen, application_id not yet):
            # look again under the write lock, after any such commit.
            conn.execute("BEGIN IMMEDIATE")
            try:
                app_id, tables = _identity(conn)
            finally:
                conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if is_damaged(exc) and _sqlite_header(path):
            raise damaged(path, str(exc)) from exc
        raise _foreign(path, f"not an SQLite database ({exc})") from exc
    if tables and app_id != APPLICATION_ID:
        raise _foreign(path, "an SQLite database of another program "
                             f"(tables: {', '.join(sorted(tables)[:5])})")
    if app_id == APPLICATION_ID and "meta" in tables:
        check_version(conn, path)
    mode = _to_wal(conn)
    if mode.lower() != "wal":
        raise LabelsError(f"{path}: SQLite cannot use WAL mode here (got {mode!r}); put the "
                          f"labels file on a local disk, or pass another --labels path")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        _migrate(conn)
        # statement by statement: executescript() would COMMIT our IMMEDIATE transaction
        for stmt in _statements(SCHEMA):
            conn.execute(stmt)
        now = time.time()
        conn.executemany("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", [
            ("schema_version", str(SCHEMA_VERSION)),
            ("created", datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds")),
            ("features_id", features_id),
            ("revision", "0"),  # bumped by every record and undo (see LabelStore.changed)
        ])
        conn.execute("INSERT OR IGNORE INTO features VALUES (?, ?, 'created', 0, NULL)",
                     (read_meta_in(conn)["features_id"], now))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    meta = check_version(conn, path)
    return meta


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a file of an older schema up to this one, inside the caller's transaction.

    1 -> 2: answers gain `session` (NULL for the answers given before: no session of
    ours can undo them)."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(answers)")}
    if cols and "session" not in cols:
        conn.execute("ALTER TABLE answers ADD COLUMN session TEXT")
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        conn.execute("UPDATE meta SET value = ? WHERE name = 'schema_version' "
                     "AND CAST(value AS INTEGER) < ?", (str(SCHEMA_VERSION), SCHEMA_VERSION))


def _to_wal(conn: sqlite3.Connection) -> str:
    """Switch a new file to WAL. The switch needs the file to itself, and SQLite
    answers "locked" at once (no busy handler) while another process opening
    the same new file holds a read lock: retry until the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_header(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_HEADER
    except OSError:
        return False


def _identity(conn: sqlite3.Connection) -> tuple[int, set[str]]:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return app_id, tables


def _statements(script: str):
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""
    assert not buf.strip(), f"unfinished statement in SCHEMA: {buf!r}"


def read_meta_in(conn: sqlite3.Connection) -> dict:
    return dict(conn.execute("SELECT name, value FROM meta"))


def check_version(conn: sqlite3.Connection, path: Path) -> dict:
    meta = read_meta_in(conn)
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise LabelsError(f"{path}: its schema_version is {meta.get('schema_version')!r}, "
                          f"not a number; the file is damaged. Pass another --labels path.")
    if version > SCHEMA_VERSION:
        raise LabelsError(
            f"{path}: written by a newer binlabel (labels schema version {version}; this "
            f"one reads up to {SCHEMA_VERSION}). Upgrade binlabel to open it; the file "
            f"was not modified.")
    return meta
