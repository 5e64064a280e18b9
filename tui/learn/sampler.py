"""The sampler: which item to show next, and the model that learns from the answers.

Why this shape: the person must never wait. `next()` pops from a queue that a
background thread prepared (tui.learn.trainer.BackgroundLoop), `record()` only writes
the answer durably (tui.store.labels) and pokes that thread, which refits the
classifier on every answer so far (coalescing answers that arrive during a
fit), scores the whole pool from the float16 file (tui.store.features), ranks it by
the current strategy (tui.learn.strategies) and replaces the queue. The item already
handed out by `next()` stays put until answered. In a team (several processes
on one labels file) the queue's items are leased (tui.learn.leasing), and the
thread polls it every second so teammates' answers reach the model.

Scoring and ranking (a full pass over the pool per model, the cold start, the
neighbours of an anchor) are tui.learn.ranking's; above 12M items it scores a
sample per fit (see there).
"""

from __future__ import annotations

import collections
import os
import threading
import time
from pathlib import Path

import numpy as np

from tui.learn import ranking
from tui.learn.leasing import Leases
from tui.learn import strategies as S
from tui.store.features import FeatureFile, prepare_dot
from tui.store.labels import LabelsBusy, LabelStore
from tui.store.labels_schema import BUSY_TIMEOUT_S
from tui.store.pending import PendingWriter, Unsaved, replay_saved
from tui.learn.quality import prequential
from tui.learn.trainer import DEFAULT_C, BackgroundLoop, Fitter, LinearModel, RowCache

RECORD_WAIT_S = 0.25     # a key waits at most this for the labels file, then queues its answer
REFRESH_S = 5.0          # re-read the status column this often while featurize writes
_ANSWER = {True: "pos", False: "neg", None: "skip", "pos": "pos", "neg": "neg", "skip": "skip"}


def default_labels_path(features_path) -> Path:
    p = Path(os.fspath(features_path))
    return p.with_name(p.stem + ".labels.sqlite")


class Sampler:
    """Active-learning sampler over one features file and one labels file."""

    def __init__(self, features, labels=None, strategy: str = "entropy", target: str = "pos",
                 random_share: float = 0.1, seed: int = 0, annotator: str | None = None,
                 queue_size: int = 8, attach: bool = False, C: float = DEFAULT_C,
                 poll: float = 1.0, lease_ttl: float = 120.0, keep_ahead: int = 0,
                 session: str | None = None):
        """``keep_ahead``: how many picks of the old queue stay in front of a new
        ranking by the same strategy. A UI that prepares the next images while the
        person looks (the TUI) sets it, so that a refit never replaces an image
        already prepared; 0 (scripts, benchmarks) ranks afresh after every fit."""
        if not isinstance(keep_ahead, int) or not 0 <= keep_ahead <= queue_size:
            raise ValueError(f"keep_ahead must be an integer in [0, queue_size], got {keep_ahead!r}")
        if not (isinstance(random_share, (int, float)) and 0.0 <= random_share <= 1.0):
            raise ValueError(f"random_share must be a number in [0, 1], got {random_share!r}")
        if not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be an integer >= 1, got {queue_size!r}")
        self._check_strategy(strategy, target)
        self.features = features if isinstance(features, FeatureFile) else FeatureFile(features)
        f = self.features
        self.labels_path = Path(labels) if labels is not None else default_labels_path(f.filename)
        self.store = LabelStore(self.labels_path, features_id=f.id,
                                has_key=f.__contains__, annotator=annotator, attach=attach,
                                session=session)
        self.replayed = replay_saved(self.store)   # answers an earlier run could not write
        self._unsaved = PendingWriter(self.store, self._written)
        self._reload = False      # read the labels again (an undo could not read a history)
        self.unsaved_file: Path | None = None
        self.strategy, self.target, self.random_share = strategy, target, float(random_share)
        self.queue_size, self.lease_ttl, self.keep_ahead = queue_size, lease_ttl, keep_ahead
        self._leases = Leases(self.store, f, lease_ttl)    # teammates see what we hold
        self._rng = np.random.default_rng([seed, 1])     # fallback picks, under the lock
        self._ranker = ranking.Ranker(f, seed)               # the background thread's
        self._lock = threading.RLock()
        self._fitter = Fitter(f.dim, C)
        self._cache = RowCache(f)
        self._model: LinearModel | None = None
        self._proba: np.ndarray | None = None          # P(pos) per row, from self._model
        self._pos_left: float | None = None
        self._queue: collections.deque = collections.deque()   # (row, strategy)
        self._current: tuple[int, str] | None = None
        self._anchor: int | None = None
        self._refreshed = time.monotonic()
        self._leased: set[int] = set()
        self._queue_by: tuple | None = None        # (strategy, target, anchor) of the queue
        self._labels_gen = 0
        self._fitted_gen = -1
        self._closed = False
        self._local_writes = 0
        self._load_labels()
        self._version = max([a.model_version or 0 for a in self._log] + [0])
        self._rebuild(fit=False)              # a first queue (claimed) before the first fit
        self._loop = BackgroundLoop(self._step, poll=poll)
        self._loop.poke()

    # ---- public API ------------------------------------------------------------------------

    def next(self) -> str | None:
        """The key of the item to show (the same until it is answered); None when none is left."""
        with self._lock:
            if self._current is not None and not self._answered[self._current[0]]:
                return self.features.key(self._current[0])
            self._current = None
            while self._queue:
                i, strat = self._queue.popleft()
                if not self._answered[i] and i not in self._leased:
                    self._current = (i, strat)
                    return self.features.key(i)
            return self._fallback()

    def peek(self, n: int = 4) -> list[str]:
        """The keys prepared after the current one (for pre-rendering)."""
        with self._lock:
            out = []
            for i, _ in self._queue:
                if len(out) >= n:
                    break
                if not self._answered[i] and i not in self._leased:
                    out.append(self.features.key(i))
            return out

    def record(self, key: str, answer):
        """Record True (pos), False (neg) or None (skip); durable when this returns.
        Stores the current model's P(pos) for the item, its version and the strategy."""
        if answer not in _ANSWER or isinstance(answer, (int, float)) and not isinstance(answer, bool):
            raise ValueError(f"answer must be True (positive), False (negative) or None (skip), "
                             f"got {answer!r}")
        i = self._row(key)
        with self._lock:
            prob = None if self._proba is None else float(self._proba[i])
            version = self._model.version if self._model is not None else None
            strat = self._current[1] if self._current and self._current[0] == i else \
                next((s for j, s in self._queue if j == i), "manual")
        # durable now, or queued behind a locked file (the background writer saves it in order)
        a = self._unsaved.record(key, _ANSWER[answer], prob, version, strat, RECORD_WAIT_S)
        with self._lock:
            self._local_writes += 1
            self._apply(i, a.answer, a)
            if self._current is not None and self._current[0] == i:
                self._current = None
        self._loop.poke()
        return a

    def undo(self) -> str | None:
        """Undo this session's latest answer; its item is shown next. Returns its key.
        Raises LabelsBusy (nothing changed) when the labels file stays locked."""
        item = self._unsaved.pop_last()          # not written yet: taking it back is enough
        if item is not None:
            a = item.entry
            left = self._standing(a.key) + [u.entry for u in self._unsaved.items()
                                            if u.key == a.key]
        else:
            a = self.store.undo(wait=RECORD_WAIT_S)
            if a is None:
                return None
            i = self.features.get_index(a.key)
            if i is not None:                                # shown again: lease it
                self._leases.held |= self._leases.claim_rows([i], RECORD_WAIT_S)
            left = self._standing(a.key)
        with self._lock:
            self._local_writes += 1
            i = self.features.get_index(a.key)
            self._log = [x for x in self._log if x is not a and (a.id is None or x.id != a.id)]
            if i is not None:
                self._answered[i] = False
                self._labels.pop(a.key, None)
                if left:
                    self._apply(i, left[-1].answer, None)
                else:
                    if self._current is not None:
                        self._queue.appendleft(self._current)
                    self._current = (i, a.strategy or "manual")
            else:
                self._labels.pop(a.key, None)
            self._counts = self._count()
            self._labels_gen += 1
        self._loop.poke()
        return a.key

    def set_strategy(self, strategy: str, target: str | None = None, anchor: str | None = None):
        """Switch strategy while running: entropy | maxprob | random | similar."""
        target = self.target if target is None else target
        self._check_strategy(strategy, target)
        anchor_row = self._row(anchor) if anchor is not None else None
        with self._lock:
            if strategy == "similar":
                anchor_row = anchor_row if anchor_row is not None else (
                    self._anchor if self._anchor is not None else self._last_positive())
                if anchor_row is None:
                    raise ValueError("strategy 'similar' needs an item: use more_like(key), "
                                     "or answer a positive first")
                self._anchor = anchor_row
            self.strategy, self.target = strategy, target
        self._loop.poke()

    def more_like(self, key: str) -> None:
        """Show the nearest neighbours (cosine) of this item until the strategy is switched."""
        self.set_strategy("similar", anchor=key)

    def proba(self, key: str) -> float | None:
        """The current model's probability of the target class for one item."""
        i = self._row(key)
        with self._lock:
            if self._proba is None:
                return None
            p = float(self._proba[i])
        return p if self.target == "pos" else 1.0 - p

    def predict_proba(self, keys=None) -> np.ndarray | None:
        """P(target) for every item in file order (or the given keys); None before a model."""
        with self._lock:
            p = self._proba
        if p is None:
            return None
        if keys is not None:
            p = p[np.asarray([self._row(k) for k in keys], dtype=np.int64)]
        return p.copy() if self.target == "pos" else 1.0 - p

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the model reflects every answer recorded so far."""
        return self._loop.wait_idle(timeout)

    @property
    def model(self) -> LinearModel | None:
        """The current model (None before the first fit); exports use it as it is."""
        return self._model

    @property
    def model_version(self) -> int | None:
        return self._model.version if self._model is not None else None

    def stats(self) -> dict:
        with self._lock:
            log = list(self._log)
            counts = dict(self._counts)
            m, pos_left = self._model, self._pos_left
            left = int(np.count_nonzero(self.features.done & ~self._answered))
            featurized = int(np.count_nonzero(self.features.done))
        out = {**counts, "left": left, "featurized": featurized, "model_version": m.version if m else None,
               "training": self._loop.busy, "strategy": self.strategy, "target": self.target,
               "random_share": self.random_share, "positives_left": pos_left,
               "error": str(self._loop.error) if self._loop.error else None,
               "features_notice": self.features.replaced,
               "unsaved": len(self._unsaved), "unsaved_why": self._unsaved.error}
        out.update(prequential(log))
        return out

    def close(self) -> None:
        """Stop the background work, write the answers still queued (waiting for a locked
        file up to its busy timeout; what is left goes to `unsaved_file`) and close."""
        if self._closed:
            return
        self._closed = True
        self._loop.stop()
        if len(self._unsaved) and not self._unsaved.flush(BUSY_TIMEOUT_S):
            self._unsaved.stop()
            self.unsaved_file = self._unsaved.save(self.store.path, self.store.session)
        self._unsaved.stop()
        self.store.close()                    # releases our leases
        self.features.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- state -----------------------------------------------------------------------------

    @staticmethod
    def _check_strategy(strategy, target):
        if strategy not in S.STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(S.STRATEGIES)}, got {strategy!r}")
        if target not in ("pos", "neg"):
            raise ValueError(f"target must be 'pos' or 'neg', got {target!r}")

    def _row(self, key) -> int:
        i = self.features.get_index(key)
        if i is None:
            raise KeyError(f"item key {key!r} is not in {self.features.filename}")
        return i

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

    # ---- background work -------------------------------------------------------------------

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
            # The first picks of the old queue are being prepared (rendered, uploaded to
            # the terminal) while the person looks: keep them in front of a new ranking
            # by the same strategy, so a key never waits for an image. They were picked
            # by a model at most keep_ahead answers old.
            same = self._queue_by == (strategy, target, anchor)
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
            model = self._fitter.fit(X, y, self._version)
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
        if ahead:
            kept = {i for i, _ in ahead}
            queue = ahead + [(i, s) for i, s in queue if i not in kept]
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
            self._queue_by = (strategy, target, anchor)
            stale = (stale | self._leases.held - got) - live
            self._leases.held = got | live | (set() if release_now else stale)
        if release_now and stale:
            self._leases.release(stale)
