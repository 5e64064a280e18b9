"""Progress that reads well both on a terminal and in a log file.

On a TTY: a tqdm bar with items/s and ETA. Otherwise (tmux pipe-pane, nohup,
a CI log): one plain line every ``every`` seconds and a last one at the end,
so a log of a 10-hour job is a few hundred lines, not a megabyte of ``\\r``.
"""

from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Progress:
    """Counts finished items (done or failed) out of ``total``; ``initial``
    are those finished by an earlier run (not counted in the rate)."""

    def __init__(self, total: int, initial: int = 0, *, stream=None, tty: bool | None = None,
                 every: float = 30.0, label: str = "featurize", enabled: bool = True):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.n, self.initial = total, initial, initial
        self.failed = 0
        self.every, self.label, self.enabled = every, label, enabled
        self.t0 = self.last = time.monotonic()
        self.printed = None  # n at the last plain line
        if tty is None:
            tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = None
        if enabled and tty:
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="item", desc=label, file=self.stream,
                            dynamic_ncols=True, smoothing=0.1)

    def rate(self) -> float:
        dt = time.monotonic() - self.t0
        return (self.n - self.initial) / dt if dt > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        left = self.total - self.n
        eta = left / rate if rate > 0 else float("nan")
        pct = 100.0 * self.n / self.total if self.total else 100.0
        return (f"{self.label}: {self.n}/{self.total} items ({pct:.1f}%), {rate:.1f} items/s, "
                f"elapsed {_duration(time.monotonic() - self.t0)}, ETA {_duration(eta)}, "
                f"failed {self.failed}")

    def update(self, n: int, failed: int = 0) -> None:
        self.n += n
        self.failed += failed
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            if failed:
                self.bar.set_postfix(failed=self.failed, refresh=False)
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.printed = self.n
            print(self.line(), file=self.stream, flush=True)

    def write(self, text: str) -> None:
        """A message that does not break the bar."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.enabled and self.printed != self.n:
            print(self.line(), file=self.stream, flush=True)
