"""Orchestration: items -> batches -> backbone -> rows of the store.

The loop computes one batch, writes and flushes it, updates the progress,
and checks whether a stop was asked for (Ctrl-C, SIGTERM, SIGHUP of a lost
SSH session): the current batch is always finished and flushed, so stopping
never loses more than the batch in flight, and a SIGKILL loses at most that.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from featurize.dataset import ChunkDataset, default_workers, make_loader, normalize, plan
from featurize.format import DONE
from featurize.options import Options
from featurize.pool import pool_tokens
from featurize.progress import Progress
from featurize.store import FeatureStore

@dataclass
class Outcome:
    done: int = 0
    failed: int = 0
    pending: int = 0
    total: int = 0
    clipped: int = 0
    computed: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    first_batch: tuple = (0, 0.0)  # (items, seconds) of the first batch: start-up, for benchmarks
    failures: list = field(default_factory=list)  # (path, message), first few


# ----------------------------------------------------------------- devices (featurize.device picks one)


def cpu_has_bf16() -> bool:
    """bf16 matmul in hardware (AVX512-BF16 or AMX): measured ~1.5-3x faster
    than fp32 here (bench/featurize.py); elsewhere bf16 on a CPU is slower."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(name: str, device: torch.device, resume: str | None = None) -> str:
    """``auto``: the precision of the file being resumed (``resume``) where this device has it,
    so that every row of one file comes from the same arithmetic; else the device's best."""
    if name == "auto" and resume in ("fp32", "bf16") + (("fp16",) if device.type != "cpu" else ()):
        return resume
    if name != "auto":
        if name == "fp16" and device.type == "cpu":
            raise ValueError("--precision fp16 is not supported on the CPU (use bf16 or fp32)")
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu":
        return "bf16" if cpu_has_bf16() else "fp32"
    return "fp32"


def default_batch_size(device: torch.device, box_mode: str) -> int:
    """Model inputs per batch: crops (crop mode) or images (pool mode)."""
    if device.type == "cuda":
        return 256
    if device.type == "mps":
        return 64
    return 32


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


# ----------------------------------------------------------------- stopping


class StopFlag:
    """SIGINT/SIGTERM/SIGHUP ask for a clean stop after the batch in flight;
    a second Ctrl-C stops at once (the file is still intact)."""

    def __init__(self):
        self.signal: int | None = None
        self._old = {}

    def __enter__(self):
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                self._old[s] = signal.signal(s, self._handle)
            except (ValueError, OSError):  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        return False


# ----------------------------------------------------------------- compute


def pool_boxes(grid: torch.Tensor, img: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted means of patch tokens: grid [G, gh, gw, D], img [K] (which
    grid each item pools), weights [K, gh, gw] -> [K, D] float32."""
    out = torch.empty(len(img), grid.shape[-1], device=grid.device)
    for g in torch.unique(img).tolist():
        sel = (img == g).nonzero().flatten()
        w = [weights[i].numpy() for i in sel.tolist()]
        out[sel.to(grid.device)] = pool_tokens(grid[g], w)
    return out


def compute(backbone, batch: dict, device: torch.device, precision: str) -> tuple[np.ndarray, list]:
    """Embeddings [n, D] (float32, L2-normalised) of a prepared batch, and its
    error list updated with any item the model could not embed."""
    n = len(batch["rows"])
    errors = list(batch["errors"])
    feats = torch.zeros(n, backbone.dim)
    nb = device.type == "cuda"
    with torch.inference_mode():
        with autocast(device, precision):
            e = g = None
            if batch["embed_x"] is not None:
                x = normalize(batch["embed_x"].to(device, non_blocking=nb), backbone.preprocess)
                e = backbone.embed(x)
            if batch["grid_x"] is not None and len(batch["pool_of"]):
                x = normalize(batch["grid_x"].to(device, non_blocking=nb), backbone.preprocess)
                g = backbone.patch_grid(x)
        if e is not None:
            feats[batch["embed_of"]] = e.float().cpu()
        if g is not None:  # pooled in float32, outside autocast
            if tuple(g.shape[1:3]) != tuple(batch["pool_w"].shape[1:3]):
                raise RuntimeError(f"model {backbone.name}: patch grid {tuple(g.shape[1:3])} is not the "
                                   f"expected {tuple(batch['pool_w'].shape[1:3])}")
            feats[batch["pool_of"]] = pool_boxes(g.float(), batch["pool_img"], batch["pool_w"]).cpu()
    norms = feats.norm(dim=1, keepdim=True)
    ok = torch.isfinite(feats).all(1) & (norms[:, 0] > 0)
    feats = feats / norms.clamp_min(1e-12)
    for i in range(n):
        if errors[i] is None and not bool(ok[i]):
            errors[i] = "the model gave a non-finite or zero embedding (try --precision fp32)"
    return feats.numpy(), errors


# ----------------------------------------------------------------- the loop


def featurize_store(store: FeatureStore, items, backbone, opts: Options, *, stop: StopFlag | None = None,
                    rows=None, stream=None) -> Outcome:
    """Compute every row of ``store`` not yet done (or only ``rows``),
    writing and flushing batch by batch."""
    device = backbone.device
    todo = store.todo() if rows is None else np.asarray(rows)
    bs = opts.batch_size or default_batch_size(device, opts.box_mode)
    batches = plan(items, todo, opts.box_mode, bs)
    ds = ChunkDataset(batches, backbone.preprocess, opts.box_mode, opts.context)
    ds.patch_size = backbone.patch_size
    workers = default_workers(device.type) if opts.workers is None else opts.workers
    if len(batches) <= 1:
        workers = 0  # not worth starting a process
    total = store.n
    finished = total - len(todo) if rows is None else 0
    prog = Progress(total if rows is None else len(todo), finished, stream=stream, every=opts.log_every,
                    label=opts.label, enabled=opts.progress)
    out = Outcome()
    t0 = time.monotonic()
    loader = make_loader(ds, workers, pin=device.type == "cuda")
    if workers:
        store.f.close()  # workers must not inherit the file (see FeatureStore.reopen)
        try:
            it = iter(loader)
        finally:
            store.f = FeatureStore._reopen(store.path).f
    else:
        it = iter(loader)
    try:
        for batch in it:
            feats, errors = compute(backbone, batch, device, opts.precision)
            store.write(batch["rows"].numpy(), feats, batch["sizes"], errors)
            nfail = sum(e is not None for e in errors)
            for r, e in zip(batch["rows"].tolist(), errors):
                if e is not None and len(out.failures) < 10:
                    out.failures.append((items[r].path, e))
            out.computed += len(errors)
            if out.first_batch == (0, 0.0):
                out.first_batch = (len(errors), time.monotonic() - t0)
            prog.update(len(errors), nfail)
            if stop is not None and stop.signal is not None:
                out.interrupted = True
                break
    finally:
        del it
        prog.close()
    out.seconds = time.monotonic() - t0
    return out


def tally(store: FeatureStore, out: Outcome) -> Outcome:
    """Counts from the file itself (so they include earlier runs): done,
    failed, pending, and done boxes that reached outside their image."""
    c = store.counts()
    out.done, out.failed, out.pending, out.total = c["done"], c["failed"], c["pending"], c["total"]
    st = store.status()
    box = store.f["items/box"][()]
    size = store.f["items/image_size"][()].astype(np.float32)
    has = (st == DONE) & np.isfinite(box).all(1)
    b, s = box[has], size[has]
    outside = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > s[:, 0]) | (b[:, 3] > s[:, 1])
    out.clipped = int(outside.sum())
    return out
