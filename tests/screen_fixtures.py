"""Reading which item a real terminal shows, and answering the way a person does: a key
only once the item's frame is on screen (the app drops keys for unpainted items).

The side panel prints `item N of M`, N being the item's row in the features file plus one,
so the screen says exactly which key a person is looking at.
"""

from __future__ import annotations

import re
import time

from tmux_fixtures import Tmux, counts

ITEM = re.compile(r"row (\d+) of (\d+) in the file")
# The app marks a frame answerable one refresh after it is painted: a person's reaction
# time is far longer; this stands for it.
SETTLE_S = 0.3


def shown_row(screen: str) -> int | None:
    """The features-file row of the item on screen, or None (loading, or every item done)."""
    if "loading…" in screen:
        return None
    m = ITEM.search(screen.replace("▏", " "))
    return int(m.group(1)) - 1 if m else None


def ready(screen: str) -> tuple[int, tuple[int, ...]] | None:
    """(row shown, counts) when an item is painted with its counts, else None."""
    row, c = shown_row(screen), counts(screen)
    return (row, c) if row is not None and c is not None else None


def wait_ready(term: Tmux, timeout: float = 60.0, what: str = "an item on screen",
               unlike: int | None = None, want=None,
               settle: float = SETTLE_S) -> tuple[int, tuple[int, ...]]:
    """Wait for a painted item (not row `unlike`; with counts satisfying `want`), then
    give the app a person's moment (`settle` s) before the next key."""
    def good(s: str) -> bool:
        r = ready(s)
        return r is not None and r[0] != unlike and (want is None or want(r[1]))

    got = ready(term.wait_for(good, timeout=timeout, what=what))
    time.sleep(settle)
    return got
