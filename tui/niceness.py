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


def lower_this_thread(amount: int = BACKGROUND_NICE) -> bool:
    """Raise the calling thread's nice value by ``amount`` (capped at 19); True if done."""
    if not sys.platform.startswith("linux") or threading.current_thread() is threading.main_thread():
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + amount))
    except OSError:
        return False
    return True
