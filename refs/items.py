"""Items and their stable keys.

An item is an image path, optionally with a box in pixels (x1, y1, x2, y2),
in the orientation of the image as displayed (EXIF applied). Labels, features
and exports are joined on the key, never on a row number, so the key must not
change when the refs file is reordered, extended or re-featurized.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]

#: Box coordinates are rounded to this many decimals before hashing, so that
#: 12.30000001 and 12.3 name the same item.
KEY_DECIMALS = 1
_BOX_FMT = "|" + ",".join([f"%.{KEY_DECIMALS}f"] * 4)


def normalize_path(path: str, base: str | os.PathLike | None = None) -> str:
    """Absolute, normalised path (no symlink resolution: fast, and a symlinked
    data folder keeps its keys). Relative paths resolve against ``base``."""
    p = os.fspath(path)
    if base is not None and not os.path.isabs(p):
        p = os.path.join(os.fspath(base), p)
    return os.path.normpath(os.path.abspath(p))


def item_key(path: str, box: Box | None) -> str:
    """The stable key of an item: a 20-hex-digit hash of its normalised path
    (Unicode NFC) and its box rounded to ``KEY_DECIMALS``."""
    text = unicodedata.normalize("NFC", path)
    if box is not None:
        # One %-format, not a join over a generator: this runs once per item and
        # dominates reading a million-line refs file. ``+ 0.0`` turns -0.0 into 0.0.
        a, b, c, d = (round(v, KEY_DECIMALS) + 0.0 for v in box)
        text += _BOX_FMT % (a, b, c, d)
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=10).hexdigest()


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to label. ``path`` is absolute; ``box`` is xyxy pixels or None;
    ``meta`` holds extra columns (score, category, source...) for the exports;
    ``line`` is where the item was read, for messages."""

    path: str
    box: Box | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    line: int | None = field(default=None, compare=False, hash=False)
    key: str = field(init=False, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "key", item_key(self.path, self.box))
