"""`annotate --seed PATH_OR_REFS`: known positives to start from, and the words encoder of `/`.

A seed is an image path, or a reference list read with refs/'s readers (any format, a
folder of images too). Each seed is matched with the features file by its item key
(path, and box where given): an item of the file (featurized) is shown first, like any
item, and counts as an answer only when the person presses a key on it; anything else
is embedded with the file's own model (featurize/query.py, as featurize embedded the
rows) and is only a query vector, never an answer. Their nearest neighbours then come
mixed with the strategy's picks (tui/learn/seeding.py).

Why beside cli.py and not in tui/learn/: this is wiring (refs/, featurize/, the
sampler), and it imports torch through featurize, which tui/learn/ must not. A mistake
(no such file, an image that cannot be decoded, a bad refs line) is a SeedError naming
the file, the line and the value; `annotate` prints it and exits 2.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from tui.learn.seeding import Query

SEED_WAIT_S = 120.0     # the first queue with the seeds in front, before the app starts


class SeedError(ValueError):
    """A --seed value that cannot be used; the message says where and what."""


def read_seeds(features, values: list[str]) -> Query:
    """The Query of these --seed values: items of the file first, the rest embedded."""
    import refs
    from refs.read import EXTENSIONS

    found = []                                           # (item, where it was given)
    for value in values:
        if os.path.isdir(value) or os.path.splitext(value)[1].lower() in EXTENSIONS:
            try:
                reflist = refs.read_refs(value)
            except refs.RefsError as e:
                raise SeedError(f"--seed {e}") from None
            if not len(reflist):
                raise SeedError(f"--seed {value}: no items in it")
            for it in reflist:
                at = reflist.where(it.line)
                found.append((it, f"{value}:{it.line}" if at.startswith("line ") else f"{value} {at}"))
        elif not os.path.exists(value):
            raise SeedError(f"--seed {value}: no such file or folder (an image, or a reference "
                            f"list: {', '.join(EXTENSIONS)} or a folder of images)")
        else:
            found.append((refs.Item(refs.normalize_path(value)), value))
    first, new = [], []
    for it, where in found:
        i = features.get_index(it.key)
        if i is not None and features.done[i]:
            if i not in first:
                first.append(i)
        else:
            new.append((it, where))
    vectors = embed(features, new) if new else None
    what = []
    if first:
        what.append(f"{len(first)} seed item{'s' * (len(first) != 1)}")
    if new:
        what.append(f"{len(new)} seed image{'s' * (len(new) != 1)}")
    return Query(" and ".join(what), rows=tuple(first), vectors=vectors, first=tuple(first))


def embed(features, new: list) -> np.ndarray:
    """Vectors of seeds that are not items of the file, with the file's own model."""
    from featurize.query import embed_items, load_recorded_backbone
    from featurize.registry import ModelError

    for it, where in new:
        if not os.path.isfile(it.path):
            raise SeedError(f"--seed {where}: no such image: {it.path!r} (and it is not an item "
                            f"of {features.filename})")
    name = features.attrs.get("model")
    print(f"annotate: embedding {len(new)} seed image{'s' * (len(new) != 1)} with {name}…",
          file=sys.stderr, flush=True)
    try:
        backbone = load_recorded_backbone(features.attrs)
    except ModelError as e:
        raise SeedError(f"--seed: cannot load the model of {features.filename} ({name}): {e}") from None
    out = []
    for (it, where), (v, why) in zip(new, embed_items(backbone, [it for it, _ in new],
                                                     features.attrs)):
        if v is None:
            raise SeedError(f"--seed {where}: cannot embed {it.path!r}"
                            f"{'' if it.box is None else f' box {list(it.box)}'}: {why}")
        out.append(v)
    return np.stack(out)


def start_from_seeds(sampler, values: list[str]) -> Query:
    """Read the seeds and put them in front of the sampler's queue (waiting for it, so the
    app's first item is the first seed)."""
    query = read_seeds(sampler.features, values)
    sampler.start_from(query)
    sampler.wait_idle(SEED_WAIT_S)
    return query


def words_for(features):
    """The encoder of words for `/` (featurize.query.Words): says at once whether the file's
    model has a text tower; loads it on the first query."""
    from featurize.query import Words
    return Words(features.attrs)
