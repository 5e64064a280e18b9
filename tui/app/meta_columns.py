"""Which metadata columns the side panel shows (`--show-meta`, `--hide-meta`).

The refs file's extra columns are shown beside the image, and some of them give
the answer away: the demo's ELPV sample carries `defective` and
`defect_probability`, the truth the person is asked for. Hiding them keeps the
answers honest; showing only a few keeps the panel short.
"""

from __future__ import annotations

from dataclasses import dataclass

SHOWN_AT_MOST = 8      # the panel is ~40 lines; the counts and the model must stay in view
SAMPLE_ROWS = 2000     # rows read to learn the column names (the metadata is per-row JSON)


@dataclass(frozen=True)
class MetaColumns:
    show: tuple[str, ...] | None = None   # only these, in this order (None: all)
    hide: frozenset[str] = frozenset()

    def select(self, meta: dict) -> list[tuple[str, object]]:
        if self.show is not None:
            items = [(k, meta[k]) for k in self.show if k in meta]
        else:
            items = [(k, v) for k, v in meta.items() if k not in self.hide]
        return items[:SHOWN_AT_MOST]


def parse_columns(text: str) -> tuple[str, ...]:
    """'a, b,c' -> ('a', 'b', 'c'); an empty name is a mistake worth naming."""
    names = tuple(n.strip() for n in text.split(","))
    if not names or any(not n for n in names):
        raise ValueError(f"{text!r}: give column names separated by commas, e.g. "
                         f"--hide-meta defective,defect_probability")
    return names


def known_columns(features, rows: int = SAMPLE_ROWS) -> list[str]:
    """The metadata column names of the first `rows` items, in first-seen order."""
    seen: dict[str, None] = {}
    for i in range(min(rows, int(features.n))):
        try:
            meta = features.meta(i) or {}
        except Exception:  # a damaged row: the others still name the columns
            continue
        if isinstance(meta, dict):
            seen.update(dict.fromkeys(meta))
    return list(seen)


def meta_columns(features, show: str | None, hide: str | None) -> MetaColumns:
    """The panel's choice from the two options, every name checked against the file."""
    if show is not None and hide is not None:
        raise ValueError("--show-meta and --hide-meta exclude each other: --show-meta already "
                         "hides every column it does not name")
    if show is None and hide is None:
        return MetaColumns()
    names = parse_columns(show if show is not None else hide)
    known = known_columns(features)
    unknown = [n for n in names if n not in known]
    if unknown:
        option = "--show-meta" if show is not None else "--hide-meta"
        have = ", ".join(known) if known else "none: the items carry no metadata"
        raise ValueError(f"{option}: {', '.join(repr(n) for n in unknown)} "
                         f"{'is' if len(unknown) == 1 else 'are'} not a metadata column of "
                         f"{features.filename} "
                         f"(its columns: {have})")
    return MetaColumns(show=names) if show is not None else MetaColumns(hide=frozenset(names))
