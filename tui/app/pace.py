"""The person's pace and the time left: answers a minute over the last few minutes.

"item 54 of 500" was the item's row in the file, which says nothing of progress.
What a person wants to know is how fast it goes and when the pool is done at
this pace. The rate is taken over a recent window, so that a break, or the pace
picking up once the model is good, shows within minutes; the time of a break
counts as slow (the ETA then grows), which is what the clock says too.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

WINDOW_S = 300.0     # "the last few minutes"
MIN_ANSWERS = 3      # fewer give a rate that jumps with every key


class Pace:
    """This session's answer times; `describe(left)` -> "4.2/min · ETA 1 h 56 min"."""

    def __init__(self, window: float = WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self.window, self.clock = window, clock
        self._times: deque[float] = deque()
        self._start = clock()     # looking at the first item is labelling time too

    def answered(self) -> None:
        self._times.append(self.clock())

    def undone(self) -> None:
        if self._times:
            self._times.pop()

    def per_minute(self) -> float | None:
        now = self.clock()
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
        if len(self._times) < MIN_ANSWERS:
            return None
        span = min(self.window, now - self._start)
        return len(self._times) / span * 60.0 if span > 0 else None

    def describe(self, left: int) -> str:
        rate = self.per_minute()
        if rate is None:
            return f"known after {MIN_ANSWERS} answers"
        text = f"{rate:.1f}/min"
        if left > 0 and rate > 0:
            text += f" · ETA {duration(left / rate * 60.0)}"
        return text


def duration(seconds: float) -> str:
    """12 s -> "< 1 min", 700 -> "12 min", 7000 -> "1 h 57 min", 3 days -> "72 h"."""
    minutes = round(seconds / 60.0)
    if minutes < 1:
        return "< 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" if hours >= 10 or rest == 0 else f"{hours} h {rest} min"
