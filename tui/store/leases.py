"""Leases: which items are on whose screen, so a team never shows one item twice.

Why apart from tui.store.labels: the label store owns the connection, the transactions
and the answers; this is the SQL on the `leases` table and the question of
whether a lease's process still lives (pid on this host and pid namespace). A
lease dies with its process or when its time-to-live runs out; nothing else
frees it, so a crashed teammate never holds items for long.
"""

from __future__ import annotations

import math
import numbers
import os
import secrets
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Iterable


def host_id() -> str:
    """Host name plus pid namespace: a pid is only meaningful within both."""
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        ns = 0
    return f"{socket.gethostname()}#{ns}"


def pid_alive(pid: int) -> bool:
    """Whether a lease's process still runs. A zombie (ended, not yet reaped:
    common in containers whose PID 1 never reaps, e.g. after an SSH drop) is
    dead for our purpose, though ``kill(pid, 0)`` still succeeds on it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process (a teammate over SSH)
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:  # no /proc (macOS) or gone meanwhile: trust kill()
        return True
    # the state follows the parenthesised command name, which may itself hold ") "
    state = stat[stat.rfind(b")") + 2:][:1]
    return state not in (b"Z", b"X")


def check_keys(keys: Iterable[str]) -> list[str]:
    """The keys once each, in order; a single string or an empty key is a caller's mistake."""
    if isinstance(keys, (str, bytes)):
        raise TypeError(f"keys must be a list of keys, not a single string: {keys!r}")
    out = list(dict.fromkeys(keys))
    for k in out:
        if not isinstance(k, str) or not k:
            raise ValueError(f"every key must be a non-empty string, got {k!r}")
    return out


def check_ttl(ttl) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, numbers.Real) \
            or not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    return float(ttl)


@dataclass(frozen=True)
class Holder:
    """Who holds leases: one LabelStore (a window), in one process on one host."""
    annotator: str
    host: str = field(default_factory=host_id)
    pid: int = field(default_factory=os.getpid)
    token: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def owner(self) -> str:
        return f"{self.annotator}/{self.host}/{self.pid}/{self.token}"

    def dead_owners(self, rows) -> set[str]:
        """Other owners on this host whose process is gone (their leases die with them).
        `rows`: (owner, host, pid, ...) from the leases table."""
        dead = set()
        for owner, host, pid in {(r[0], r[1], r[2]) for r in rows}:
            if owner != self.owner and host == self.host and pid != self.pid \
                    and not pid_alive(pid):
                dead.add(owner)
        return dead

    def claim(self, conn: sqlite3.Connection, keys: list[str], ttl: float) -> list[str]:
        """Inside a write transaction: drop expired and dead leases, then lease those of
        keys no one else holds (renewing ours). Returns the keys now ours, in order."""
        now, got = time.time(), []
        conn.execute("DELETE FROM leases WHERE expires <= ?", (now,))
        rows = conn.execute("SELECT DISTINCT owner, host, pid FROM leases WHERE host = ?",
                            (self.host,)).fetchall()
        for owner in self.dead_owners(rows):
            conn.execute("DELETE FROM leases WHERE owner = ?", (owner,))
        for k in keys:
            cur = conn.execute(
                "INSERT INTO leases (key, owner, annotator, host, pid, expires) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "expires = excluded.expires WHERE leases.owner = excluded.owner",
                (k, self.owner, self.annotator, self.host, self.pid, now + ttl))
            if cur.rowcount == 1:
                got.append(k)
        return got

    def release(self, conn: sqlite3.Connection, keys: list[str] | None) -> None:
        """Inside a write transaction: give back our leases on keys (all of ours if None)."""
        if keys is None:
            conn.execute("DELETE FROM leases WHERE owner = ?", (self.owner,))
        else:
            conn.executemany("DELETE FROM leases WHERE owner = ? AND key = ?",
                             [(self.owner, k) for k in keys])

    def held_by_others(self, conn: sqlite3.Connection) -> set[str]:
        """Keys with a live lease held by another owner (another process or window)."""
        rows = conn.execute("SELECT owner, host, pid, key FROM leases "
                            "WHERE owner != ? AND expires > ?",
                            (self.owner, time.time())).fetchall()
        dead = self.dead_owners(rows)
        return {r[3] for r in rows if r[0] not in dead}
