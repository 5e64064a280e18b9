"""The result of reading a reference list: items, duplicates, warnings.

Duplicates (same key: same resolved path and box rounded to 0.1 px) are
removed, the first kept, and reported, so a list never labels one thing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from refs.items import Item

#: How ``Item.line`` and the duplicate positions read, by format: text formats
#: count 1-based lines; JSON formats count 0-based indices into a JSON array.
UNITS = {
    "txt": "line", "csv": "line", "jsonl": "line",
    "coco-gt": "annotations[]", "coco-images": "images[]", "coco-dets": "detections[]",
    "folder": "file",
}


@dataclass
class RefList:
    """Items read from one reference list, in file order, duplicates removed.

    ``duplicates`` holds ``(position, first_position)`` for every item that
    was dropped because an earlier one has the same key; positions are
    ``Item.line`` values (see :meth:`where`). ``sha256`` is the hex digest of
    the refs file bytes (of the sorted listing for a folder).
    """

    path: str
    format: str
    items: list[Item]
    sha256: str
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    box_format: str = "xyxy"

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    @property
    def unit(self) -> str:
        return UNITS[self.format]

    def where(self, position: int | None) -> str:
        """A position as a person finds it in the file: ``line 12``,
        ``annotations[4]``, ``detections[7]`` (the 7th record, from 0, of a
        detection results list) or ``file 3``."""
        if position is None:
            return "?"
        unit = self.unit
        if unit.endswith("[]"):
            return f"{unit[:-2]}[{position}]"
        return f"{unit} {position}"


def drop_duplicates(items: list[Item]) -> tuple[list[Item], list[tuple[int, int]]]:
    """Keep the first item of every key, in order; return the kept items and
    ``(line, first_line)`` of each dropped one."""
    seen: dict[str, int | None] = {}
    kept: list[Item] = []
    dups: list[tuple[int, int]] = []
    for it in items:
        k = it.key
        if k in seen:
            dups.append((it.line, seen[k]))
        else:
            seen[k] = it.line
            kept.append(it)
    return kept, dups
