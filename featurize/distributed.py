"""One process or many (``torchrun --nproc_per_node=N -m featurize ...``).

With N processes, rank 0 creates (or checks) the output and first merges any
shards a killed run left; then every rank takes a balanced share of the
images still to do and writes it to its own shard file
(``OUT.shard-R-of-N.h5``, the same format); after a barrier, rank 0 merges
the shards into the one output (matched by item key, so the result holds the
same rows as a single-process run) and removes them. A kill at any point
resumes: finished shard rows are merged on the next start, whatever N is then.
Coordination uses gloo (CPU), whatever device computes.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from datetime import timedelta

import h5py
import numpy as np

from featurize.format import DONE
from featurize.run import Outcome, featurize_store, tally
from featurize.store import FeatureStore, StoreError


@dataclass
class Context:
    rank: int = 0
    world: int = 1


def context() -> Context:
    """The torchrun rank and world size (1 process without torchrun);
    initialises the gloo process group when there are several."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    import torch.distributed as dist
    if not dist.is_initialized():
        # The last ranks wait for the slowest at the final barrier: hours on a big job.
        dist.init_process_group("gloo", timeout=timedelta(days=7))
    return Context(dist.get_rank(), dist.get_world_size())


def finish() -> None:
    """Tear the process group down (torchrun warns otherwise)."""
    try:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    except Exception:
        pass


def shard_path(out: str, rank: int, world: int) -> str:
    return f"{out}.shard-{rank}-of-{world}.h5"


def _merge_shards(main: FeatureStore, out: str) -> int:
    """Copy finished rows of every shard of this output into it; remove them."""
    n = 0
    for path in sorted(glob.glob(glob.escape(out) + ".shard-*-of-*.h5")):
        try:
            with h5py.File(path, "r") as f:
                parent = f.attrs.get("parent_uuid")
                parent = parent.decode() if isinstance(parent, bytes) else parent
        except OSError:
            parent = None  # killed while being created: nothing in it
        if parent == main.uuid:
            shard = FeatureStore._reopen(path)
            try:
                n += main.copy_rows_from(shard)
            finally:
                shard.close()
        os.unlink(path)
    return n


def _share(items, todo: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's rows: whole images, balanced by item count, in order."""
    groups: dict[str, list[int]] = {}
    for r in todo:
        groups.setdefault(items[r].path, []).append(int(r))
    mine: list[int] = []
    total = len(todo)
    seen = 0
    for rows in groups.values():
        owner = min(world - 1, (seen * world) // max(total, 1))
        if owner == rank:
            mine += rows
        seen += len(rows)
    return np.array(sorted(mine), dtype=np.int64)


def featurize(out: str, items, backbone, opts, attrs: dict, ctx: Context, *, overwrite: bool,
              stop=None) -> Outcome | None:
    """Fill ``out`` for ``items``; returns the outcome on rank 0, None elsewhere."""
    if ctx.world == 1:
        store = FeatureStore.open(out, items, attrs, overwrite=overwrite)
        try:
            _merge_shards(store, out)  # a torchrun job killed earlier
            o = featurize_store(store, items, backbone, opts, stop=stop)
            _settle(store, o)
        finally:
            store.close()
        return o

    # Rank 0 prepares the output; the others learn of a refusal through the barrier.
    error = None
    if ctx.rank == 0:
        try:
            store = FeatureStore.open(out, items, attrs, overwrite=overwrite)
            try:
                _merge_shards(store, out)
                uuid = store.uuid
            finally:
                store.close()
        except StoreError as e:
            error = e
        msg = [str(error) if error else "", "" if error else uuid]
    else:
        msg = [None, None]
    import torch.distributed as dist
    dist.broadcast_object_list(msg, src=0)
    if msg[0]:
        if error is not None:
            raise error
        return None
    uuid = msg[1]
    with h5py.File(out, "r", locking=False) as f:
        todo = np.flatnonzero(f["status"][()] != DONE)
    rows = _share(items, todo, ctx.rank, ctx.world)
    shard_items = [items[r] for r in rows]
    spath = shard_path(out, ctx.rank, ctx.world)
    shard = FeatureStore.open(spath, shard_items, attrs, overwrite=True, extra_attrs={"parent_uuid": uuid})
    try:
        o = featurize_store(shard, shard_items, backbone, opts, stop=stop)
        if o.interrupted:
            shard.set_complete(False)
    finally:
        shard.close()
    gathered = [None] * ctx.world
    dist.all_gather_object(gathered, (bool(o.interrupted), int(o.computed)))  # also the barrier
    if ctx.rank != 0:
        return None
    store = FeatureStore.open(out, items, attrs)
    try:
        _merge_shards(store, out)
        total = Outcome(interrupted=any(g[0] for g in gathered))
        total.computed = sum(g[1] for g in gathered)
        _settle(store, total)
    finally:
        store.close()
    return total


def failures(store: FeatureStore, limit: int = 10) -> list[tuple[str, str]]:
    """The first failed rows of the file: (path, message)."""
    st = store.status()
    rows = np.flatnonzero(st == 2)[:limit]
    if len(rows) == 0:
        return []
    paths = store.f["items/path"].asstr(errors="surrogateescape")  # names that are not UTF-8
    errs = store.f["error"].asstr(errors="replace")
    return [(paths[int(r)], errs[int(r)]) for r in rows]


def _settle(store, o: Outcome) -> None:
    """Count the file's rows into ``o``; mark the file complete when nothing is left,
    even if a stop came after the last batch (there is nothing to resume then)."""
    tally(store, o)
    o.failures = failures(store)
    if o.pending == 0:
        o.interrupted = False
        store.set_complete(True)
