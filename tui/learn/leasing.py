"""The sampler's leases: which items this process holds on its screen or in its queue.

Why apart from the sampler: picking the next item is one job, telling teammates which items
are taken is another (tui.store.leases holds the SQL). Leases are best effort: each claim
is a durable write a key would wait for, so they are renewed every ttl/3 rather than per
key, and while the labels file stays locked (no one can lease or answer then) the sampler
goes on without them rather than stall the queue or the screen.
"""

from __future__ import annotations

import time

from tui.store.labels import LabelsBusy

LEASE_WAIT_S = 2.0       # leases are best effort: the background never waits longer for them


class Leases:
    """Rows this process holds (`held`), and the teammates' leases read from the file."""

    def __init__(self, store, features, ttl: float):
        self.store, self.features, self.ttl = store, features, ttl
        self.held: set[int] = set()
        self.renewed_at = time.monotonic()

    def claim(self, keys: list[str], wait: float | None = None) -> list[str]:
        """Lease keys; the keys granted (all of them while the file stays locked)."""
        try:
            return self.store.claim(keys, self.ttl, wait=wait or LEASE_WAIT_S)
        except LabelsBusy:
            return list(keys)

    def claim_rows(self, rows, wait: float | None = None) -> set[int]:
        """Lease rows; the rows granted."""
        f = self.features
        return {int(i) for i in f.indices_of(self.claim([f.key(i) for i in rows], wait))} \
            if len(rows) else set()

    def others(self) -> set[int]:
        """Rows of the items teammates hold now."""
        rows = self.features.indices_of(list(self.store.leased_by_others()))
        return {int(i) for i in rows if i >= 0}

    def renew_due(self) -> bool:
        return time.monotonic() - self.renewed_at > self.ttl / 3

    def renew(self) -> None:
        """Claim every held row again, so that no lease runs out while it is ours."""
        self.claim([self.features.key(i) for i in sorted(self.held)])
        self.renewed_at = time.monotonic()

    def release(self, rows) -> None:
        try:
            self.store.release([self.features.key(i) for i in rows], wait=LEASE_WAIT_S)
        except LabelsBusy:
            pass                                 # they run out by themselves (ttl)
