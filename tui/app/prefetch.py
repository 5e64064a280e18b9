"""Background preparation of the next images, so that a keypress shows one at once.

The UI thread says which images it wants, most urgent first (the item on screen,
then the sampler's next picks) with `want()`; one worker thread takes them in
that order, renders each at the pane's pixel size (`render_item`: crop, box
outline, resize) and hands it to the pane (`ImagePane.prepare`: the encoding for
the terminal). What is no longer wanted is given back for discarding, so memory
(and the terminal's image store) stays bounded. Plain threading, no Textual:
the app runs `run()` in a `@work(thread=True)` worker and turns `on_ready`
callbacks into messages.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from textual.message import Message

from tui.learn.niceness import lower_this_thread


@dataclass(frozen=True)
class Job:
    """One image to prepare: an item at a view and a size; `token` names the result."""

    key: str
    path: str
    box: tuple[float, float, float, float] | None
    view: str
    size_px: tuple[int, int]

    @property
    def token(self) -> str:
        w, h = self.size_px
        return f"{self.key}:{self.view}:{w}x{h}"


class ImageReady(Message):
    """Posted (from the worker thread) when a job's image is prepared or failed."""

    def __init__(self, job: Job, error: str | None = None) -> None:
        super().__init__()
        self.job = job
        self.error = error


class Prefetcher:
    """The wanted list, the ready set and the worker loop, guarded by one condition."""

    def __init__(self, prepare: Callable[[str, object], None],
                 render: Callable[[Job], object]) -> None:
        self._prepare = prepare
        self._render = render
        self._cond = threading.Condition()
        self._wanted: list[Job] = []
        self._ready: set[str] = set()
        self._busy: str | None = None
        self._closed = False
        self.prepared_count = 0

    def want(self, jobs: list[Job]) -> list[str]:
        """Replace the wanted list; return the ready tokens no longer wanted (to discard)."""
        with self._cond:
            self._wanted = list(dict.fromkeys(jobs))
            tokens = {j.token for j in self._wanted}
            gone = sorted(self._ready - tokens)
            self._ready &= tokens
            self._cond.notify_all()
        return gone

    def is_ready(self, token: str) -> bool:
        with self._cond:
            return token in self._ready

    def is_wanted(self, token: str) -> bool:
        with self._cond:
            return any(j.token == token for j in self._wanted)

    def forget(self, token: str) -> None:
        with self._cond:
            self._ready.discard(token)

    def reset(self) -> None:
        """Forget every prepared image (the pane dropped them, e.g. on a resize)."""
        with self._cond:
            self._ready.clear()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _take(self) -> Job | None:
        with self._cond:
            while not self._closed:
                for job in self._wanted:
                    if job.token not in self._ready:
                        self._busy = job.token
                        return job
                self._cond.wait()
            return None

    def run(self, on_ready: Callable[[Job, str | None], None]) -> None:
        """The worker loop: prepare wanted images in order until `close()`."""
        lower_this_thread()  # images for later keys must not slow the frame of this one
        while True:
            job = self._take()
            if job is None:
                return
            error = None
            try:
                self._prepare(job.token, self._render(job))
            except Exception as exc:  # reported on screen; the app keeps working
                error = f"{type(exc).__name__}: {exc}"
            with self._cond:
                self._busy = None
                self._ready.add(job.token)  # a failed job is not retried in a loop
                self.prepared_count += error is None
            on_ready(job, error)
