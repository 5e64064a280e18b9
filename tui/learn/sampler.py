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
from tui.learn.answers_memory import AnswersInMemory
from tui.learn.queue_builder import RECORD_WAIT_S, QueueBuilder
from tui.learn.leasing import Leases
from tui.learn.seeding import Query, SeedMix, checked   # examples and words to start from
from tui.learn import strategies as S
from tui.store.features import FeatureFile
from tui.store.labels import LabelStore
from tui.store.labels_schema import BUSY_TIMEOUT_S
from tui.store.pending import PendingWriter, replay_saved
from tui.learn.quality import prequential
from tui.learn.side_inputs import read_side_inputs, remember
from tui.learn.side_model import SideFitter
from tui.learn.trainer import DEFAULT_C, BackgroundLoop, Fitter, LinearModel, RowCache

_ANSWER = {True: "pos", False: "neg", None: "skip", "pos": "pos", "neg": "neg", "skip": "skip"}


def default_labels_path(features_path) -> Path:
    p = Path(os.fspath(features_path))
    return p.with_name(p.stem + ".labels.sqlite")


class Sampler(AnswersInMemory, QueueBuilder):
    """Active-learning sampler over one features file and one labels file."""

    def __init__(self, features, labels=None, strategy: str = "entropy", target: str = "pos",
                 random_share: float = 0.1, seed: int = 0, annotator: str | None = None,
                 queue_size: int = 8, attach: bool = False, C: float = DEFAULT_C,
                 poll: float = 1.0, lease_ttl: float = 120.0, keep_ahead: int = 0,
                 session: str | None = None, prior: str | None = None,
                 condition: str | None = None):
        """``prior``, ``condition``: metadata columns the classifier takes beside the
        image (tui.learn.side_inputs: a score to start from; the claimed label whose
        correctness is asked); SideInputError for a column that cannot be used.

        ``keep_ahead``: how many picks of the old queue stay in front of a new
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
        try:                                                           # side inputs
            self.side = read_side_inputs(f, prior, condition)
        except BaseException:
            if f is not features:
                f.close()
            raise
        self.labels_path = Path(labels) if labels is not None else default_labels_path(f.filename)
        self.store = LabelStore(self.labels_path, features_id=f.id,
                                has_key=f.__contains__, annotator=annotator, attach=attach,
                                session=session)
        self.replayed = replay_saved(self.store)   # answers an earlier run could not write
        remember(self.store, self.side)            # side inputs, for `annotate export`
        self._unsaved = PendingWriter(self.store, self._written)
        self._reload = False      # read the labels again (an undo could not read a history)
        self.unsaved_file: Path | None = None
        self.strategy, self.target, self.random_share = strategy, target, float(random_share)
        self.queue_size, self.lease_ttl, self.keep_ahead = queue_size, lease_ttl, keep_ahead
        self._leases = Leases(self.store, f, lease_ttl)    # teammates see what we hold
        self._rng = np.random.default_rng([seed, 1])     # fallback picks, under the lock
        self._ranker = ranking.Ranker(f, seed)               # the background thread's
        self._seeds = SeedMix(f)                             # queries mixed in (seeding.py)
        self._lock = threading.RLock()
        self._fitter = Fitter(f.dim, C) if self.side is None else SideFitter(self.side, f.dim, C)
        self._ranker.side = self.side
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
                    self._seeds.handed(i, strat)
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

    def record(self, key: str, answer, strategy: str | None = None):
        """Record True (pos), False (neg) or None (skip); durable when this returns.
        Stores the current model's P(pos) for the item, its version and the strategy
        that chose it (``strategy``: the caller's word for it, e.g. "review")."""
        if answer not in _ANSWER or isinstance(answer, (int, float)) and not isinstance(answer, bool):
            raise ValueError(f"answer must be True (positive), False (negative) or None (skip), "
                             f"got {answer!r}")
        i = self._row(key)
        with self._lock:
            prob = None if self._proba is None else float(self._proba[i])
            version = self._model.version if self._model is not None else None
            strat = strategy or (self._current[1] if self._current and self._current[0] == i
                                 else next((s for j, s in self._queue if j == i), "manual"))
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
        """This item's nearest neighbours (cosine) next, mixed one for one with the
        strategy's picks (tui.learn.seeding). `set_strategy('similar', anchor=key)` shows
        nothing but neighbours."""
        self.start_from(Query("this item", rows=(self._row(key),)))

    def start_from(self, query: Query) -> None:
        """Examples or words to start from (tui.learn.seeding): `query.first` (items of the
        file) shown first, then its neighbours mixed with the strategy's picks. Replaces the
        query running. Nothing is recorded: answers come from record() alone."""
        query = checked(query, self.features)       # ValueError: nothing changes
        with self._lock:
            self._seeds.start(query)
        self._loop.poke()

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
            mixed_in = self._seeds.describe()
        out = {**counts, "left": left, "featurized": featurized, "model_version": m.version if m else None,
               "training": self._loop.busy, "strategy": self.strategy, "target": self.target,
               "random_share": self.random_share, "positives_left": pos_left,
               "error": str(self._loop.error) if self._loop.error else None,
               "features_notice": self.features.replaced,
               "unsaved": len(self._unsaved), "unsaved_why": self._unsaved.error,
               "mixed_in": mixed_in, "side_inputs": self.side.names() if self.side else None}
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
