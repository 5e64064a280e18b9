"""The label store: an append-only SQLite log of answers, shared by a team.

Why SQLite: one durable file beside the features file, readable by anyone with
`sqlite3`, safe for several `annotate` processes at once (WAL), and an answer
is on disk (synchronous=FULL) before `record()` returns, so a crash or a kill
loses nothing that was shown as recorded. Nothing is ever deleted: undo marks
an answer undone, and an item's label is its latest answer not undone.

Leases let a team share one labels file without two people seeing the same
item: `claim()` takes items for this process, and a lease dies with its process
(checked by pid on the same host) or when its time-to-live runs out (tui.store.leases).
"""

from __future__ import annotations

import dataclasses
import getpass
import numbers
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterable

from tui.store.labels_db import LabelsDB
from tui.store.labels_schema import (ANSWER_COLUMNS, ANSWERS, Answer, LabelsBusy, LabelsError,
                                     LabelsMismatch, check_and_create, check_record_args)
from tui.store.leases import Holder, check_keys, check_ttl

__all__ = ["LabelStore", "Answer", "LabelsMismatch", "LabelsError", "LabelsBusy", "ANSWERS"]

_COLS = ANSWER_COLUMNS
# The latest answer not undone of every item, from the log (SQLite takes the bare columns from
# the MAX row); the `current` table holds the same, maintained on every write.
_FROM_LOG = "SELECT key, MAX(id), answer FROM answers WHERE undone_at IS NULL GROUP BY key"


def login_name() -> str:
    """Who answers by default: the login name (getpass: $LOGNAME, $USER, then the password
    database), "unknown" only where none can be found."""
    try:
        return getpass.getuser().strip() or "unknown"
    except Exception:  # no such variables and no passwd entry (a bare container)
        return "unknown"


class LabelStore:
    """Answers for the items of one features file (see the module docstring)."""

    def __init__(self, path, features_id: str,
                 has_key: Callable[[str], bool] | None = None,
                 annotator: str | None = None, attach: bool = False,
                 session: str | None = None):
        """``session`` names the run whose answers undo() may take back: by default a new
        one for every store, so Backspace never undoes a teammate's answer (two people on
        one login included); pass the same name again to undo across a restart."""
        if not isinstance(features_id, str) or not features_id.strip():
            raise ValueError(f"features_id must be a non-empty string, got {features_id!r}")
        if has_key is not None and not callable(has_key):
            if hasattr(has_key, "__contains__"):
                has_key = has_key.__contains__
            else:
                raise TypeError(f"has_key must be a callable key -> bool or None, "
                                f"got {type(has_key).__name__}")
        if annotator is None:
            annotator = login_name()
        if not isinstance(annotator, str) or not annotator.strip():
            raise ValueError(f"annotator must be a non-empty string, got {annotator!r}")
        if session is None:
            session = f"{annotator.strip()}-{secrets.token_hex(6)}"
        if not isinstance(session, str) or not session.strip():
            raise ValueError(f"session must be a non-empty string, got {session!r}")
        self.session = session.strip()
        self.path = Path(os.fspath(path)).expanduser().absolute()
        self.features_id = features_id
        self.annotator = annotator.strip()
        self.notice: str | None = None
        self._holder = Holder(self.annotator)
        self.owner = self._holder.owner
        self._db = LabelsDB(self.path)
        try:
            conn = self._db.connection()
            try:
                check_and_create(conn, self.path, features_id)
            except sqlite3.Error as exc:
                raise self._db.error(exc, "opening the labels file") from exc
            self._check_identity(has_key, attach)
            self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
            self._rev_seen = self._revision(conn)
            self._pending_change = False
            self._labels_cache: tuple[int, dict[str, str]] | None = None
        except BaseException:
            self._db.close()
            raise

    # ---- plumbing -------------------------------------------------------------------------

    @staticmethod
    def _revision(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()
        return int(row[0]) if row else 0

    def _bump(self, conn: sqlite3.Connection) -> int:
        """Count answer changes, so that changed() ignores lease traffic."""
        rev = self._revision(conn)
        conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('revision', ?)",
                     (str(rev + 1),))
        return rev

    def _after_bump(self, rev_before: int) -> None:
        if rev_before != self._rev_seen:
            self._pending_change = True  # someone else wrote before us
        self._rev_seen = rev_before + 1

    # ---- identity -------------------------------------------------------------------------

    def _check_identity(self, has_key, attach: bool) -> None:
        conn = self._db.connection()
        known = [r[0] for r in conn.execute(
            "SELECT features_id FROM features ORDER BY attached_at")]
        if self.features_id in known:
            return
        labelled = [r[0] for r in conn.execute(
            "SELECT key FROM current WHERE answer IS NOT NULL")]
        present = None if has_key is None else sum(1 for k in labelled if has_key(k))
        before = known[-1] if known else "?"
        if attach:
            how = "attach"
        elif present is not None and 2 * present >= len(labelled):
            how = "overlap"
        else:
            holds = ("cannot be checked (no key lookup was given)" if present is None
                     else f"holds {present} of its {len(labelled)} labelled items")
            raise LabelsMismatch(
                f"{self.path}: these labels belong to features file {before}, not to "
                f"{self.features_id}; the new features file {holds}, so the labels would "
                f"land on the wrong items. Pass another --labels path to start new labels, "
                f"or --attach to use these labels with this features file anyway.")
        self._db.transact("attaching a features file", lambda c: c.execute(
            "INSERT OR IGNORE INTO features VALUES (?, ?, ?, ?, ?)",
            (self.features_id, time.time(), how, len(labelled), present)))
        what = ("forced with --attach" if how == "attach"
                else f"it holds {present} of the {len(labelled)} labelled items")
        self.notice = (f"labels {self.path.name} were made with features file {before}; "
                       f"now also used with {self.features_id} ({what})")

    # ---- answers --------------------------------------------------------------------------

    def record(self, key: str, answer: str, prob: float | None = None,
               model_version: int | None = None, strategy: str | None = None, *,
               at: float | None = None, wait: float | None = None,
               annotator: str | None = None, session: str | None = None) -> Answer:
        """Append an answer; it is committed and on disk when this returns. `at`: when it was
        given (default now); `wait`: raise LabelsBusy rather than wait longer for a lock;
        `annotator`, `session`: whose it is, when not this store's (answers saved aside)."""
        prob, model_version = check_record_args(key, answer, prob, model_version, strategy)
        now = time.time() if at is None else float(at)
        who = annotator or self.annotator
        session = session or self.session

        def body(conn):
            row_id = conn.execute(
                "INSERT INTO answers (key, answer, annotator, time, prob, model_version, "
                "strategy, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, answer, who, now, prob, model_version, strategy, session)).lastrowid
            rev = self._bump(conn)
            conn.execute("INSERT OR REPLACE INTO current VALUES (?, ?, ?, ?)",
                         (key, row_id, answer, rev + 1))
            return row_id, rev

        with self._db.within(wait):  # _after_bump too, for a store shared by threads
            row_id, rev = self._db.transact("recording an answer", body, wait)
            self._after_bump(rev)
            self._db.wrote()
        return Answer(row_id, key, answer, who, now, prob, model_version, strategy, None,
                      session)

    def undo(self, wait: float | None = None) -> Answer | None:
        """Mark this session's latest answer not yet undone as undone; None if none is left.

        This session's, not this annotator's: two people on one login (or one person in
        two windows) must never take back each other's answers."""
        now = time.time()

        def body(conn):
            row = conn.execute(
                f"SELECT {_COLS} FROM answers WHERE session = ? AND undone_at IS NULL "
                f"ORDER BY id DESC LIMIT 1", (self.session,)).fetchone()
            if row is None:
                return None, None
            key = row[1]
            conn.execute("UPDATE answers SET undone_at = ? WHERE id = ?", (now, row[0]))
            prev = conn.execute("SELECT id, answer FROM answers WHERE key = ? AND "
                                "undone_at IS NULL ORDER BY id DESC LIMIT 1", (key,)).fetchone()
            rev = self._bump(conn)
            conn.execute("INSERT OR REPLACE INTO current VALUES (?, ?, ?, ?)",
                         (key, *(prev or (None, None)), rev + 1))
            return row, rev

        with self._db.within(wait):
            row, rev = self._db.transact("undoing an answer", body, wait)
            if row is None:
                return None
            self._after_bump(rev)
        return dataclasses.replace(Answer(*row), undone_at=now)

    def labels(self) -> dict[str, str]:
        """Current label of every answered item: key -> 'pos' | 'neg' | 'skip'."""
        with self._db.read("reading labels") as conn:
            conn.execute("BEGIN")  # one snapshot for the revision and the rows
            try:
                rev = self._revision(conn)
                cache = self._labels_cache
                if cache is None:
                    cache = (rev, dict(conn.execute(
                        "SELECT key, answer FROM current WHERE answer IS NOT NULL")))
                elif cache[0] != rev:  # catch up with the rows changed since
                    labels = cache[1]
                    for k, a in conn.execute("SELECT key, answer FROM current WHERE rev > ?",
                                             (cache[0],)):
                        if a is None:
                            labels.pop(k, None)
                        else:
                            labels[k] = a
                    cache = (rev, labels)
            finally:
                conn.execute("COMMIT")
            self._labels_cache = cache
            return dict(cache[1])

    def counts(self) -> dict[str, int]:
        """{'pos', 'neg', 'skip', 'answered'} over the current labels."""
        with self._db.read("counting labels") as conn:
            got = dict(conn.execute("SELECT answer, COUNT(*) FROM current "
                                    "WHERE answer IS NOT NULL GROUP BY answer"))
        out = {a: got.get(a, 0) for a in ANSWERS}
        out["answered"] = sum(out.values())
        return out

    def last(self, n: int = 10, annotator: str | None = None) -> list[Answer]:
        """The n newest answers not undone, newest first (of one annotator if given)."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        where, args = "undone_at IS NULL", []
        if annotator is not None:
            where += " AND annotator = ?"
            args.append(annotator)
        with self._db.read("reading the last answers") as conn:
            rows = conn.execute(f"SELECT {_COLS} FROM answers WHERE {where} "
                                f"ORDER BY id DESC LIMIT ?", (*args, int(n))).fetchall()
        return [Answer(*r) for r in rows]

    def answers(self, include_undone: bool = False) -> list[Answer]:
        """Every answer, oldest first: the prequential log."""
        where = "" if include_undone else "WHERE undone_at IS NULL"
        with self._db.read("reading answers") as conn:
            return [Answer(*r) for r in conn.execute(
                f"SELECT {_COLS} FROM answers {where} ORDER BY id")]

    def history(self, key: str, wait: float | None = None) -> list[Answer]:
        """Every answer given to one item, undone ones included, oldest first."""
        with self._db.read("reading an item's history", wait) as conn:
            return [Answer(*r) for r in conn.execute(
                f"SELECT {_COLS} FROM answers WHERE key = ? ORDER BY id", (key,))]

    def setting(self, name: str) -> str | None:
        """A row of the file's `meta` table (the task's question, for one): None if unset."""
        with self._db.read(f"reading {name}") as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_setting(self, name: str, value: str) -> None:
        self._db.transact(f"storing {name}", lambda conn: conn.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value)))

    def verify(self) -> list[str]:
        """Problems found in the file (empty when sound): SQLite's integrity check, and the
        `current` table recomputed from the log."""
        with self._db.read("checking the labels file") as conn:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
            conn.execute("BEGIN")
            try:
                log = {k: (i, a) for k, i, a in conn.execute(_FROM_LOG)}
                cur = {k: (i, a) for k, i, a in conn.execute(
                    "SELECT key, answer_id, answer FROM current WHERE answer IS NOT NULL")}
            finally:
                conn.execute("COMMIT")
        for k in sorted(set(log) | set(cur)):
            if log.get(k) != cur.get(k):
                problems.append(f"item {k}: the log says {log.get(k)}, the current table "
                                f"says {cur.get(k)}")
        return problems

    def changed(self) -> bool:
        """True when another connection recorded or undid answers since our last look."""
        with self._db.read("checking for changes") as conn:
            dv = conn.execute("PRAGMA data_version").fetchone()[0]
            if dv == self._data_version and not self._pending_change:
                return False
            self._data_version = dv
            rev = self._revision(conn)
            result = self._pending_change or rev != self._rev_seen
            self._rev_seen, self._pending_change = rev, False
            return result

    # ---- leases ---------------------------------------------------------------------------

    def claim(self, keys: Iterable[str], ttl: float = 120.0,
              wait: float | None = None) -> list[str]:
        """Lease those of keys that no one else holds (renewing ours); return them in order.

        Read labels() after claiming, not before: an item answered and released by someone
        else between the two reads is then seen as answered. Re-claim within ttl to keep
        a lease; a lease also dies with its process (pid checked on this host)."""
        keys, ttl = check_keys(keys), check_ttl(ttl)
        return self._db.transact("claiming items", lambda c: self._holder.claim(c, keys, ttl), wait)

    def release(self, keys: Iterable[str] | None = None, wait: float | None = None) -> None:
        """Give back our leases on keys (all of ours if None)."""
        keys = None if keys is None else check_keys(keys)
        self._db.transact("releasing items", lambda c: self._holder.release(c, keys), wait)

    def leased_by_others(self) -> set[str]:
        """Keys with a live lease held by another owner (another process or window)."""
        with self._db.read("reading leases") as conn:
            return self._holder.held_by_others(conn)

    # ---- the file on its own ---------------------------------------------------------------

    def checkpoint(self, truncate: bool = False) -> bool:
        """The answers in the write-ahead log into the main file (LabelsDB.checkpoint)."""
        return self._db.checkpoint(truncate)

    def checkpoint_due(self) -> bool:
        return self._db.checkpoint_due()

    # ---- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Release our leases, checkpoint the log into the main file and close; safe to
        call twice."""
        with self._db.lock:
            if self._db.closed:
                return
            try:
                self.release()
            except LabelsError:
                pass  # a full disk must not stop us closing; the leases expire by themselves
            self._db.checkpoint(truncate=True)
            self._db.close()

    def __enter__(self) -> "LabelStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._db.closed else "open"
        return f"LabelStore({str(self.path)!r}, annotator={self.annotator!r}, {state})"

