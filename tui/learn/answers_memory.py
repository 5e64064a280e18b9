"""The answers in memory: what the sampler knows of the labels file between two reads.

Why apart from the sampler's queue and fits: this is the one state that three threads
touch (the UI's `record()`/`undo()`, the background refit, the pending writer), so
its rules are kept together: every change happens under the sampler's lock and bumps
`_labels_gen` (the refit compares it), a re-read of the file is thrown away when a
local write happened meanwhile (`_local_writes`), and answers still queued behind a
locked file count as given (tui.store.pending). A mixin: the attributes stay the
sampler's, so the ranking code reads them as before.
"""

from __future__ import annotations

import collections

import numpy as np

from tui.store.pending import Unsaved


class AnswersInMemory:
    """Mixed into Sampler; needs its `_lock`, `_local_writes`, `_unsaved`, `store`, `features`."""

    def _load_labels(self) -> None:
        """(Re)read every current answer from the labels file (ours and teammates')."""
        while True:
            with self._lock:
                writes = self._local_writes
            if self._load_labels_once(writes):
                return

    def _written(self, item: Unsaved, written) -> None:
        """The background writer saved a queued answer: the log holds the real row now."""
        with self._lock:
            self._log = [written if x is item.entry else x for x in self._log]

    def _load_labels_once(self, writes: int) -> bool:
        unsaved = self._unsaved.items()          # before the read: a write between is in both
        log = self.store.answers()
        seen = {(a.key, a.time, a.session) for a in log}
        log += [u.entry for u in unsaved if (u.key, u.at, u.session) not in seen]
        labels = {}
        for a in log:
            labels[a.key] = a.answer
        answered = np.zeros(self.features.n, bool)
        rows = self.features.indices_of(list(labels))
        answered[rows[rows >= 0]] = True
        with self._lock:
            if writes != self._local_writes:
                return False                  # record()/undo() ran meanwhile: read again
            self._log, self._labels, self._answered = log, labels, answered
            self._counts = self._count()
            self._labels_gen += 1
            return True

    def _count(self) -> dict:
        c = collections.Counter(self._labels.values())
        out = {a: c.get(a, 0) for a in ("pos", "neg", "skip")}
        out["answered"] = sum(out.values())
        return out

    def _apply(self, i: int, answer: str, a) -> None:
        key = self.features.key(i)
        self._labels[key] = answer
        self._answered[i] = True
        if a is not None:
            self._log.append(a)
        self._counts = self._count()
        self._labels_gen += 1

    def _last_positive(self) -> int | None:
        for a in reversed(self._log):
            if a.answer == "pos" and self._labels.get(a.key) == "pos":
                return self.features.get_index(a.key)
        return None

    def current_answers(self) -> dict:
        """key -> the Answer that is each item's label now (its latest not undone; ours
        still queued behind a locked file included), first answered first."""
        with self._lock:
            return {a.key: a for a in self._log}

    def recent(self, n: int = 100) -> list:
        """The n latest answers not undone (teammates' as last read), newest first."""
        with self._lock:
            return self._log[:-n - 1:-1] if n > 0 else []
