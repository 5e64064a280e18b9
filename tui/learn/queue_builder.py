"""The sampler's background work: refit, rescore, rank, lease the queue.

Why apart from the sampler's public calls: these run in the refit thread
(tui.learn.trainer.BackgroundLoop, at nice +15) and may take long, while the public
calls run in the UI thread and must return in microseconds; the two meet only under
the sampler's lock, in short blocks (`_rebuild` holds it to snapshot and to swap the
queue, never while fitting or scoring). `_fallback` is the UI thread's way out when
answers outrun fits. A mixin: the attributes stay the sampler's.
"""

from __future__ import annotations

import collections
import time

import numpy as np

from tui.learn import ranking
from tui.learn import strategies as S
from tui.store.features import prepare_dot
from tui.store.labels import LabelsBusy


RECORD_WAIT_S = 0.25     # a key waits at most this for the labels file, then queues its answer
REFRESH_S = 5.0          # re-read the status column this often while featurize writes


class QueueBuilder:
    """Mixed into Sampler; see there for the attributes it reads and sets."""

    def _fallback(self) -> str | None:
        """Queue empty (answers faster than fits): a random free item, leased at once."""
        cand = self.features.done & ~self._answered
        # Leases as they are now, not as at the last ranking: a teammate's may have died.
        leased = self._leases.others()
        if leased:
            cand[list(leased)] = False
        if not cand.any():
            return None
        for i in S.random(self.features.n, 8, self._rng, cand):
            i = int(i)
            if self._leases.claim([self.features.key(i)], RECORD_WAIT_S):  # the UI thread
                self._leases.held.add(i)
                if self.store.changed():           # a teammate may have answered it and let go
                    self._load_labels()
                    self._loop.poke()
                    if self._answered[i]:
                        continue
                self._current = (i, "random")
                return self.features.key(i)
        return None

    def _step(self, new_work: bool) -> None:
        try:
            self._step_once(new_work)
        finally:
            # After the first ranking, while the first images are looked at: import
            # scikit-learn and torch (2-3 s of CPU) so the first model does not wait for them.
            self._fitter.prepare()
            prepare_dot()

    def _standing(self, key: str) -> list:
        """The item's answers still standing, for undo. The store may be held by the
        background writer or a lease: then none for now (the item is shown again, which
        is what undo is for) and the labels are read again in the background."""
        try:
            return [h for h in self.store.history(key, wait=RECORD_WAIT_S) if h.undone_at is None]
        except LabelsBusy:
            self._reload = True
            return []

    def _step_once(self, new_work: bool) -> None:
        if self.store.checkpoint_due():     # the answers into the main file, off the UI thread
            self.store.checkpoint()
        changed = self.store.changed() or self._reload
        self._reload = False
        if changed:
            self._load_labels()
        f = self.features
        if not f.complete and time.monotonic() - self._refreshed > REFRESH_S:
            done_before = int(f.done.sum())            # featurize is still filling rows
            f.refresh()
            self._refreshed = time.monotonic()
            changed = changed or int(f.done.sum()) != done_before
        if new_work or changed:
            self._rebuild()
        elif self._starving() and (leased := self._leases_changed()) is not None:
            self._rebuild(fit=False, leased=leased)    # take up items whose leases died
        elif self._leases.held and self._leases.renew_due():
            self._leases.renew()

    def _starving(self) -> bool:
        """Nothing to show though items are left: every free one was leased by others."""
        with self._lock:
            return self._current is None and not self._queue and bool(self._leased)

    def _leases_changed(self) -> set[int] | None:
        """Teammates' leases now, if they differ from those the last ranking kept out (one
        SQL read, not a pass over the pool): only then can a re-rank find a free item."""
        now = self._leases.others()
        with self._lock:
            return now if now != self._leased else None

    def _rebuild(self, fit: bool = True, leased: set[int] | None = None) -> None:
        """Refit if the labels changed, rescore, rank by the strategy, lease the new queue
        (`leased`: teammates' leases, if just read)."""
        f = self.features
        with self._lock:                               # next() waits for this block: keep it short
            gen = self._labels_gen
            labels = dict(self._labels)
            strategy, target, anchor = self.strategy, self.target, self._anchor
            answered = self._answered.copy()
            current = self._current[0] if self._current else None
            plan, mix_gen = self._seeds.snapshot(self._answered), self._seeds.gen
            # The first picks of the old queue are being prepared (rendered, uploaded to
            # the terminal) while the person looks: keep them in front of a new ranking
            # by the same strategy, so a key never waits for an image. They were picked
            # by a model at most keep_ahead answers old.
            same = self._queue_by == (strategy, target, anchor, mix_gen)
            ahead = [(i, s) for i, s in list(self._queue)[:self.keep_ahead] if not answered[i]] \
                if same else []
        keys = list(labels)
        rows = f.indices_of(keys) if keys else np.zeros(0, np.int64)
        pos = [int(i) for k, i in zip(keys, rows) if i >= 0 and labels[k] == "pos"]
        neg = [int(i) for k, i in zip(keys, rows) if i >= 0 and labels[k] == "neg"]
        leased = self._leases.others() if leased is None else leased
        model, proba = self._model, self._proba
        if fit and gen != self._fitted_gen and pos and neg:
            X = self._cache.get(np.asarray(pos + neg))
            y = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
            self._version += 1
            model = self._fitter.fit(X, y, self._version) if self.side is None else \
                self._fitter.fit(X, y, self._version, rows=pos + neg)
            proba = self._ranker.score(model, pos)     # pos: in answer order
        elif not (pos and neg):
            model, proba = None, None
        if fit:
            self._fitted_gen = gen
        cand = f.done & ~answered
        if proba is not None and f.n > ranking.FULL_SCAN_MAX:
            cand &= ~np.isnan(proba)               # only the scored sample can be ranked
        if leased:
            cand[list(leased)] = False
        if current is not None:
            cand[current] = False
        queue = self._ranker.rank(strategy, target, anchor, proba, cand,
                                  max(4 * self.queue_size, 32), self.random_share,
                                  answered=int(answered.sum()))
        ahead = [(i, s) for i, s in ahead if cand[i]]      # not answered or leased meanwhile
        queue = self._seeds.mix(plan, queue, cand, ahead)  # ahead, then seeds' neighbours mixed in
        # Lease the head of the queue. Each claim or release is a durable write that
        # record() would wait for, so: only new items, renewals every ttl/3, and stale
        # leases given back in batches (they block no one for long: ttl, or close()).
        keep = [] if current is None else [current]
        want = keep + [i for i, _ in queue[:self.queue_size + 1]]
        held = self._leases.held
        renew = self._leases.renew_due()
        granted = self._leases.claim_rows(want if renew else [i for i in want if i not in held])
        if renew:
            self._leases.renewed_at = time.monotonic()
        got = {i for i in want if i in granted or (not renew and i in held)}
        queue = [(i, s) for i, s in queue if i in got]
        # A teammate releases a lease only after its answer is committed, so answers
        # read after our claim include every item we were just granted and they answered.
        if self.store.changed():
            self._load_labels()
            if getattr(self, "_loop", None) is not None:
                self._loop.poke()                    # refit with their answers next round
        stale = self._leases.held - got
        release_now = len(stale) > 4 * self.queue_size or bool(stale and renew)
        pos_left = None
        if proba is not None and model is not None:
            pos_left = self._ranker.positives_left(proba, model, f.done & ~answered)
        with self._lock:
            self._model, self._proba, self._pos_left = model, proba, pos_left
            self._leased = leased
            # next() may have handed out an item of the old queue meanwhile (a kept pick,
            # maybe): it stays ours, but is no longer a pick to come (peek() would name it)
            live = {self._current[0]} if self._current is not None else set()
            self._queue = collections.deque((i, s) for i, s in queue
                                            if not self._answered[i] and i not in live)
            self._queue_by = (strategy, target, anchor, mix_gen)
            stale = (stale | self._leases.held - got) - live
            self._leases.held = got | live | (set() if release_now else stale)
        if release_now and stale:
            self._leases.release(stale)
