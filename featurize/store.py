"""The ``features.h5`` file: created whole, filled batch by batch, resumable.

Layout and attributes follow README.md ("features.h5"); h5py alone reads it.
Why it survives SIGKILL, Ctrl-C and a full disk at any moment:

- it is created under a temporary name with every dataset allocated at full
  size (uncompressed, contiguous: compressed chunks break when a kill lands
  mid-write, see NOTES.md), its disk blocks reserved (``posix_fallocate``: a
  disk too small fails at the start, not hours later), and renamed into
  place, so the output is either absent or complete in structure, and no
  metadata moves afterwards;
- each batch writes its rows (features, size, error), flushes, and only then
  sets their status and flushes again: a row marked done is always written;
- resuming reads ``status``: done rows are skipped, pending and failed ones
  computed (a failed file may have been fixed since).
"""

from __future__ import annotations

import json
import os
import uuid as uuidlib
from datetime import datetime, timezone
from typing import Iterable, Sequence

import h5py
import numpy as np

from featurize.format import DATASETS, DONE, FAILED, FORMAT, FORMAT_VERSION, PENDING
from featurize.h5check import layout_problem, open_problem
from featurize.outfile import disk_message, not_regular, remove_partial, reserve


#: Attributes that must match for a run to resume into an existing file.
IDENTITY = ("model", "weights", "preprocess", "box_mode", "context", "refs_sha256", "precision")
#: Identity attributes that files written before they existed may lack (accepted then).
LATER = ("precision",)

_STR = h5py.string_dtype("utf-8")
#: ``error`` is fixed-length UTF-8 (longer messages are cut with "..."): a
#: variable-length string lives in the file's heap, which grows at the end of
#: the file and was left unreadable by a disk that filled mid-write; a fixed
#: slot is plain data, written in place like the features.
ERROR_BYTES = 512
_ERR = h5py.string_dtype("utf-8", ERROR_BYTES)


def _raw(text: str) -> bytes:
    """UTF-8 bytes, file names that are not UTF-8 kept as their own bytes (surrogate escapes):
    the path stored is the path the annotate side opens (it decodes with surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


def _attr(text: str):
    """A text attribute; a path that is not UTF-8 as its bytes (h5py refuses the surrogates)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return np.bytes_(_raw(text))


def _fit(message: str) -> bytes:
    """UTF-8 bytes of the message, cut at a character boundary to fit a slot."""
    b = message.encode("utf-8", "replace")
    if len(b) <= ERROR_BYTES:
        return b
    return b[:ERROR_BYTES - 3].decode("utf-8", "ignore").encode("utf-8") + b"..."


class StoreError(Exception):
    """The output cannot be used as asked (other provenance, unreadable,
    locked); the message says what to do."""

    resumable = False


class StoreWriteError(StoreError):
    """Writing failed (a full disk): what was flushed before is intact and
    the same command resumes once the cause is fixed."""

    resumable = True


def binlabel_version() -> str:
    try:
        from importlib.metadata import version
        return version("binlabel")
    except Exception:
        return "unknown"


def _early_dcpl() -> h5py.h5p.PropDCID:
    """Allocate the whole dataset at creation, so writes never move metadata."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return dcpl


def _text(value) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _runs(rows: np.ndarray) -> Iterable[tuple[int, int, int, int]]:
    """Sorted row numbers as contiguous runs: (row_start, row_stop, i_start, i_stop)."""
    if len(rows) == 0:
        return
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(rows)]])
    for a, b in zip(starts, stops):
        yield int(rows[a]), int(rows[b - 1]) + 1, int(a), int(b)


class FeatureStore:
    """An open ``features.h5`` for writing. Use :meth:`open` to create or resume."""

    def __init__(self, path: str, f: h5py.File):
        self.path = path
        self.f = f
        self.n = f["status"].shape[0]
        self.dim = f["features"].shape[1]

    # ------------------------------------------------------------- opening

    @classmethod
    def open(cls, path: str, items: Sequence, attrs: dict, *, overwrite: bool = False,
             extra_attrs: dict | None = None) -> "FeatureStore":
        """Create ``path`` for ``items`` (each with ``.key .path .box .meta``),
        or reopen it to resume when its identity attributes and keys match.

        ``attrs`` holds model, weights, preprocess (JSON text), box_mode,
        context, dim, refs_path and refs_sha256.
        """
        path = os.fspath(path)
        kind = not_regular(path)
        if kind:  # never renamed over nor written into, --overwrite or not
            raise StoreError(f"{path} is {kind}; name a features file to write, e.g. features.h5")
        remove_partial(path)
        if os.path.exists(path) and not overwrite:
            store = cls._reopen(path)
            try:
                store._check(items, attrs)
            except BaseException:
                store.close()
                raise
            return store
        return cls._create(path, items, attrs, extra_attrs or {})

    @classmethod
    def _reopen(cls, path: str) -> "FeatureStore":
        """Check the file read-only first (nothing is written into a file that is refused),
        then open it for writing."""
        try:
            with h5py.File(path, "r") as f:
                if _text(f.attrs.get("format", "")) != FORMAT:
                    raise StoreError(f"{path} exists and is not a binlabel features file; "
                                     "choose another -o or pass --overwrite to replace it")
                why = layout_problem(f, path, DATASETS, os.path.getsize(path))
            if why:
                raise StoreError(why)
            f = _open_rw(path)
        except StoreError:
            raise
        except (KeyError, OSError, RuntimeError, ValueError) as e:  # locked, or damaged anywhere
            raise StoreError(open_problem(path, e)) from None
        try:
            return cls(path, f)
        except BaseException:
            f.close()
            raise

    def _check(self, items: Sequence, attrs: dict) -> None:
        a = self.f.attrs
        if int(a.get("format_version", -1)) != FORMAT_VERSION:
            raise StoreError(f"{self.path} has format_version {a.get('format_version')!r}, "
                             f"this featurize writes {FORMAT_VERSION}; pass --overwrite to replace it")
        for name in IDENTITY:
            have, want = a.get(name), attrs.get(name)
            if name in LATER and (have is None or want is None):
                continue
            if name == "context":
                same = have is not None and abs(float(have) - float(want)) < 1e-9
            else:
                same = have is not None and _text(have) == str(want)
            if not same:
                have_s = _text(have) if have is not None else "(none)"
                hint = (f"run with --precision {have_s} to continue it (rows computed in another precision "
                        "differ by more than the float16 rounding), " if name == "precision" else "")
                raise StoreError(
                    f"{self.path} was made with {name} = {have_s!r}, this run has {name} = {want!r}; "
                    f"{hint}pass --overwrite to replace it, or choose another -o")
        try:
            keys = self.f["items/key"].asstr(errors="surrogateescape")[()] if self.n == len(items) else ()
        except (KeyError, OSError, RuntimeError) as e:  # the key strings' heap is damaged
            raise StoreError(open_problem(self.path, e)) from None
        if len(keys) != len(items) or any(k != it.key for k, it in zip(keys, items)):
            raise StoreError(
                f"{self.path} holds {self.n} items, this run has {len(items)} "
                "(or other items: a different --limit?); pass --overwrite to replace it, "
                "or choose another -o")
        if self.dim != int(attrs["dim"]):
            raise StoreError(f"{self.path} holds {self.dim}-d features, the model gives {attrs['dim']}-d: "
                             "the file is damaged; pass --overwrite to rebuild it, or choose another -o")

    @classmethod
    def _create(cls, path: str, items: Sequence, attrs: dict, extra: dict) -> "FeatureStore":
        tmp = f"{path}.partial-{os.getpid()}"
        n, dim = len(items), int(attrs["dim"])
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["uuid"] = uuidlib.uuid4().hex
                for name in ("model", "weights", "preprocess", "box_mode", "refs_path", "refs_sha256"):
                    f.attrs[name] = _attr(str(attrs[name]))
                if attrs.get("precision"):
                    f.attrs["precision"] = str(attrs["precision"])
                f.attrs["context"] = float(attrs["context"])
                f.attrs["dim"] = dim
                f.attrs["binlabel_version"] = binlabel_version()
                f.attrs["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                f.attrs["complete"] = False
                for k, v in extra.items():
                    f.attrs[k] = v
                dc = _early_dcpl
                f.create_dataset("features", (n, dim), np.float16, dcpl=dc())
                f.create_dataset("status", (n,), np.int8, dcpl=dc())
                f.create_dataset("error", (n,), _ERR, dcpl=dc())
                g = f.create_group("items")
                g.create_dataset("key", data=np.array([_raw(it.key) for it in items], dtype=object), dtype=_STR)
                g.create_dataset("path", data=np.array([_raw(it.path) for it in items], dtype=object), dtype=_STR)
                box = np.full((n, 4), np.nan, np.float32)
                for i, it in enumerate(items):
                    if it.box is not None:
                        box[i] = it.box
                g.create_dataset("box", data=box)
                meta = [_raw(json.dumps(it.meta or {}, ensure_ascii=False, default=str)) for it in items]
                g.create_dataset("meta", data=np.array(meta, dtype=object), dtype=_STR)
                g.create_dataset("image_size", (n, 2), np.int32, dcpl=dc())
                sparse = f["error"].id.get_offset(), f["error"].id.get_storage_size()
            reserve(tmp, *sparse)
            os.replace(tmp, path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise StoreWriteError(disk_message(path, e)) from None
        return cls._reopen(path)

    # ------------------------------------------------------------- state

    @property
    def uuid(self) -> str:
        return _text(self.f.attrs["uuid"])

    def status(self) -> np.ndarray:
        return self.f["status"][()]

    def todo(self) -> np.ndarray:
        """Row numbers still to compute: pending and failed (retried)."""
        return np.flatnonzero(self.status() != DONE)

    def counts(self) -> dict:
        s = self.status()
        return {"done": int((s == DONE).sum()), "failed": int((s == FAILED).sum()),
                "pending": int((s == PENDING).sum()), "total": int(len(s))}

    # ------------------------------------------------------------- writing

    def write(self, rows, features, sizes, errors: Sequence[str | None]) -> None:
        """Write one batch: ``rows`` (row numbers), ``features`` [n, D] (any
        float; rows of failed items ignored), ``sizes`` [n, 2] (displayed
        width, height; 0 when unknown), ``errors`` (None for a done row)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        feats = np.asarray(features, dtype=np.float16)[order]
        sizes = np.asarray(sizes, dtype=np.int32).reshape(-1, 2)[order]
        errs = [errors[i] for i in order]
        failed = np.array([e is not None for e in errs])
        feats[failed] = 0
        status = np.where(failed, FAILED, DONE).astype(np.int8)
        try:
            fd, sd, ed, zd = self.f["features"], self.f["status"], self.f["error"], self.f["items/image_size"]
            for r0, r1, i0, i1 in _runs(rows):
                fd[r0:r1] = feats[i0:i1]
                zd[r0:r1] = sizes[i0:i1]
            # Only failed rows touch their (sparse) message slot; a row that
            # failed before and is done now is cleared.
            old = sd[rows[0]:rows[-1] + 1][rows - rows[0]]
            for k, r in enumerate(rows):
                if errs[k] is not None:
                    ed[r] = _fit(errs[k])
                elif old[k] == FAILED:
                    ed[r] = b""
            self.f.flush()  # the rows are on disk before their status says so
            for r0, r1, i0, i1 in _runs(rows):
                sd[r0:r1] = status[i0:i1]
            self.f.flush()
        except (OSError, RuntimeError) as e:  # h5py raises RuntimeError for a failed flush
            raise StoreWriteError(disk_message(self.path, e)) from None

    def copy_rows_from(self, other: "FeatureStore") -> int:
        """Copy the finished rows (done or failed) of a shard with the same keys
        subset into this file, matched by key; returns how many."""
        mine = {k: i for i, k in enumerate(self.f["items/key"].asstr()[()])}
        st = other.status()
        rows_o = np.flatnonzero(st != PENDING)
        if len(rows_o) == 0:
            return 0
        keys = other.f["items/key"].asstr()[()]
        rows = np.array([mine[keys[i]] for i in rows_o], dtype=np.int64)
        feats = other.f["features"][()][rows_o]
        sizes = other.f["items/image_size"][()][rows_o]
        err_all = other.f["error"].asstr()[()]
        errs = [err_all[i] if st[i] == FAILED else None for i in rows_o]
        step = 4096
        for a in range(0, len(rows), step):
            self.write(rows[a:a + step], feats[a:a + step], sizes[a:a + step], errs[a:a + step])
        return len(rows)

    def set_complete(self, value: bool = True) -> None:
        try:
            self.f.attrs["complete"] = bool(value)
            self.f.flush()
        except (OSError, RuntimeError) as e:
            raise StoreWriteError(disk_message(self.path, e)) from None

    def close(self) -> None:
        if self.f.id.valid:
            try:
                self.f.close()
            except (OSError, RuntimeError) as e:  # a full disk while flushing on close
                raise StoreWriteError(disk_message(self.path, e)) from None


def stored_attr(path: str, name: str) -> str | None:
    """An attribute of an existing features file, or None (no file, unreadable, not ours):
    lets `--precision auto` resume in the precision the file was started with."""
    if not_regular(path):  # a FIFO would block the open
        return None
    try:
        with h5py.File(path, "r", locking=False) as f:
            if _text(f.attrs.get("format", "")) != FORMAT or name not in f.attrs:
                return None
            return _text(f.attrs[name])
    except (OSError, ValueError):
        return None


def _open_rw(path: str) -> h5py.File:
    """Open for writing with HDF5's sieve buffer off: every write goes to the
    OS at once, in program order (rows, then their status), and a failed
    write (a full disk) fails in the call and leaves nothing dirty behind to
    be flushed again at exit."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    fapl.set_sieve_buf_size(0)
    fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDWR, fapl=fapl)
    return h5py.File(fid)
