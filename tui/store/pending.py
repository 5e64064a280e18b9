"""Answers waiting for a locked labels file: written in order, in the background.

Why: a teammate's long transaction (or a backup tool, or a stuck process) can hold the
labels file's write lock. Waiting for it froze the screen up to 15 s per key. Now a key
that cannot be written within a fraction of a second is queued here, the person goes
on (the screen says the answers are not saved yet), and a thread writes the queue in
the order the keys were pressed. Every later answer queues behind, so order holds.
If the file is still locked when annotate quits, the answers go to a side file
(`NAME.sqlite.unsaved-SESSION.jsonl`) that the next `annotate` on that labels file
records first; nothing a person answered is dropped.
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from tui.store.labels_schema import Answer, LabelsBusy, LabelsError

WRITE_WAIT_S = 2.0      # one background attempt waits this long for the lock
RETRY_S = 0.3


@dataclass
class Unsaved:
    """One answer as given, not yet in the labels file."""
    key: str
    answer: str
    prob: float | None
    model_version: int | None
    strategy: str | None
    at: float
    annotator: str
    session: str

    def provisional(self) -> Answer:
        return Answer(None, self.key, self.answer, self.annotator, self.at, self.prob,
                      self.model_version, self.strategy, None, self.session)


class PendingWriter:
    """An ordered queue of answers and the thread that writes them to `store`."""

    def __init__(self, store, on_written: Callable[[Unsaved, Answer], None]):
        self.store = store
        self.on_written = on_written
        self.error: str | None = None          # the latest reason a write failed
        self._q: collections.deque[Unsaved] = collections.deque()
        self._cond = threading.Condition()
        self._in_flight: Unsaved | None = None
        self._stop = False
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        with self._cond:
            return len(self._q)

    def items(self) -> list[Unsaved]:
        with self._cond:
            return list(self._q)

    def add(self, item: Unsaved) -> None:
        with self._cond:
            self._q.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pending-answers",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def record(self, key: str, answer: str, prob, model_version, strategy,
               wait: float) -> Answer:
        """Record now if the file lets us within `wait` seconds and nothing is queued (a later
        answer never overtakes an earlier one), else queue it; the Answer as recorded, or a
        provisional one (id None) for a queued answer."""
        if not len(self):
            try:
                return self.store.record(key, answer, prob=prob, model_version=model_version,
                                         strategy=strategy, wait=wait)
            except LabelsBusy:
                pass
        item = Unsaved(key, answer, prob, model_version, strategy, time.time(),
                       self.store.annotator, self.store.session)
        item.entry = item.provisional()
        self.add(item)
        return item.entry

    def pop_last(self) -> Unsaved | None:
        """Take back the newest queued answer (undo), waiting out a write of it under way."""
        with self._cond:
            while self._q and self._in_flight is self._q[-1]:
                self._cond.wait(0.1)
            return self._q.pop() if self._q else None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._q and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                head = self._in_flight = self._q[0]
            written = None
            try:
                written = self.store.record(head.key, head.answer, head.prob, head.model_version,
                                            head.strategy, at=head.at, wait=WRITE_WAIT_S)
                self.error = None
            except LabelsBusy:
                self.error = "the labels file is locked by another process"
            except LabelsError as exc:                 # a full disk, say: keep trying
                self.error = str(exc)
            with self._cond:
                self._in_flight = None
                if written is not None:
                    self._q.popleft()
                self._cond.notify_all()
            if written is not None:
                self.on_written(head, written)
            else:
                time.sleep(RETRY_S)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued answer is written; False if some are left."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._q and time.monotonic() < deadline:
                self._cond.wait(0.1)
            return not self._q

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            while self._in_flight is not None:
                self._cond.wait(0.1)

    def save(self, labels_path: Path, session: str) -> Path | None:
        """Write what is left to the side file that the next open records first."""
        left = self.items()
        if not left:
            return None
        out = side_file(labels_path, session)
        with open(out, "a", encoding="utf-8") as f:
            for item in left:
                f.write(json.dumps(asdict(item)) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return out


def side_file(labels_path: Path, session: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in session)
    return labels_path.with_name(f"{labels_path.name}.unsaved-{safe}.jsonl")


def replay_saved(store) -> int:
    """Record the answers left in side files by an annotate that quit while the labels file
    was locked (in their order, with their own time, annotator and session); remove each
    file once all its answers are in. Returns how many answers were recorded."""
    done = 0
    for path in sorted(store.path.parent.glob(f"{store.path.name}.unsaved-*.jsonl")):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                item = Unsaved(**json.loads(line))
            except (ValueError, TypeError):
                continue                  # a line cut by a crash: the rest still counts
            store.record(item.key, item.answer, item.prob, item.model_version, item.strategy,
                         at=item.at, annotator=item.annotator, session=item.session)
            done += 1
        path.unlink()
    return done
