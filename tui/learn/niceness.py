"""Background threads yield the CPU to the one that draws the screen.

On two cores the sampler's refit and the image worker compete with the UI thread
(and the terminal) right after every key. Measured with bench/tui_latency.py on
the full app (kitty, 150 keys, A/B in one run): key-to-frame p95 22.7-27.2 ms with
equal priorities, 16.6-17.6 ms with these threads at nice +15; the work itself
is not slower when the UI is idle. Linux only: there a thread is a task with its
own nice value; elsewhere this does nothing.
"""

from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICE = 15
ENV_VAR = "BINLABEL_BACKGROUND_NICE"


def background_nice() -> int:
    """The nice increment for background threads: $BINLABEL_BACKGROUND_NICE, else the default.
    Raises ValueError naming the variable and the value when it is not an integer in 0..19."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return BACKGROUND_NICE
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 19:
        raise ValueError(f"${ENV_VAR} must be an integer from 0 to 19, got {raw!r}")
    return value


def lower_this_thread(amount: int | None = None) -> bool:
    """Raise the calling thread's nice value by ``amount`` (default: background_nice(),
    capped at 19); True if done."""
    if not sys.platform.startswith("linux") or threading.current_thread() is threading.main_thread():
        return False
    try:
        amount = background_nice() if amount is None else amount
    except ValueError:
        amount = BACKGROUND_NICE          # the command line refuses a bad value at start
    if amount == 0:
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + amount))
    except OSError:
        return False
    return True
