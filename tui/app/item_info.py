"""What the app knows about the item on screen, gathered once in the UI thread.

The reads are single HDF5 rows (well under a millisecond), so the UI thread may
do them; the rendering of the image is left to the prefetch worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ItemInfo:
    key: str
    index: int
    n: int
    path: str
    box: tuple[float, float, float, float] | None
    meta: dict = field(default_factory=dict)
    image_size: tuple[int, int] | None = None

    @classmethod
    def load(cls, features, key: str) -> "ItemInfo":
        i = features.index_of(key)
        box = features.box(i)
        if box is not None:
            box = tuple(float(v) for v in box)
            if any(math.isnan(v) for v in box):
                box = None
        try:
            meta = features.meta(i) or {}
        except Exception:  # a damaged metadata string must not hide the image
            meta = {}
        try:
            w, h = (int(v) for v in features.image_size(i))
            size = (w, h) if w > 0 and h > 0 else None
        except Exception:
            size = None
        return cls(key=key, index=int(i), n=int(features.n), path=str(features.path(i)),
                   box=box, meta=meta if isinstance(meta, dict) else {"meta": meta},
                   image_size=size)

    def box_text(self) -> str:
        if self.box is None:
            return "whole image"
        return " ".join(f"{v:g}" for v in self.box)
