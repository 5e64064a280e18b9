"""Read-only access to a `features.h5` file (format version 1, see README.md).

Why a class of its own: the sampler must score pools larger than memory, and
the featurize job may still be writing the file. So the float16 matrix is never
copied whole: `iter_chunks()` yields float32 blocks, from a memory map of the
contiguous dataset when HDF5 stored it contiguously and uncompressed (the
fastest path: no HDF5 call per block), else through h5py reads. Per-item text
(path, meta) is read on demand; only keys (fixed-width bytes, sorted for
lookup) and the status column live in memory.
"""

from __future__ import annotations

import json
import mmap
import os
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from featurize.format import DATASETS, DONE, FORMAT, FORMAT_VERSION, OPTIONAL_DATASETS
from tui.store.features_checks import (REBUILD as _REBUILD, FeaturesError, damaged as _damaged,
                                       implausible as _implausible, inside as _inside,
                                       open_readonly as _open, text as _text)
from tui.store.half_mv import half_mv as _half_mv, prepare_dot

_REQUIRED = tuple(name for name in DATASETS if name not in OPTIONAL_DATASETS)
#: Columns of ``features`` above which a file is refused before any buffer is allocated:
#: a chunk of 1,024 rows is then 128 MB of float32; real embeddings have at most a few thousand.
MAX_DIM = 1 << 15

__all__ = ["FeatureFile", "FeaturesError", "KeyList", "MAX_DIM", "prepare_dot"]


class KeyList:
    """The item keys in file order, as a read-only sequence of str (stored as bytes)."""

    def __init__(self, raw: np.ndarray):
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [_text(k) for k in self._raw[i]]
        return _text(self._raw[i])

    def __iter__(self):
        return (_text(k) for k in self._raw)


class FeatureFile:
    """One features file, opened read-only. Rows are items in file order."""

    def __init__(self, path, chunk_rows: int | None = None):
        self.filename = Path(os.fspath(path)).expanduser().absolute()
        if self.filename.exists() and not self.filename.is_file():
            raise FeaturesError(f"{self.filename}: not a regular file; pass the features.h5 that "
                                f"featurize wrote")
        if not self.filename.is_file():
            raise FeaturesError(f"{self.filename}: no such features file; run `featurize` first")
        try:
            self._h5 = _open(self.filename)
        except OSError as exc:
            raise FeaturesError(_damaged(self.filename, exc)) from None
        try:
            self._check()
            self._load_keys()
            self.chunk_rows = chunk_rows or max(1024, (32 << 20) // max(1, 2 * self.dim))
            self._mm = None
            self.refresh()
        except FeaturesError:
            self.close()
            raise
        except (KeyError, OSError, RuntimeError) as exc:  # a damaged object header or block
            self.close()
            raise FeaturesError(_damaged(self.filename, exc)) from None
        except BaseException:
            self.close()
            raise

    # ---- opening ---------------------------------------------------------------------------

    def _check(self) -> None:
        f, p = self._h5, self.filename
        fmt, ver = _text(f.attrs.get("format", "")), f.attrs.get("format_version")
        if fmt != FORMAT:
            raise FeaturesError(f"{p}: attribute format is {fmt!r}, expected {FORMAT!r}; "
                                f"this is not a binlabel features file")
        if ver is None or not str(_text(ver)).isdigit() or int(ver) > FORMAT_VERSION:
            raise FeaturesError(f"{p}: format_version {_text(ver)}; this binlabel reads version "
                                f"{FORMAT_VERSION}. Upgrade binlabel or re-run featurize.")
        found = {name: _inside(f, p, name) for name in _REQUIRED + ("error",)}
        missing = [name for name in _REQUIRED if found[name] is None]
        if missing:
            raise FeaturesError(f"{p}: missing dataset(s) {', '.join(missing)}; the file is "
                                f"incomplete or damaged. Re-run featurize.")
        x = f["features"]
        if x.ndim != 2 or x.dtype != np.float16:
            raise FeaturesError(f"{p}: dataset features is {x.dtype}{list(x.shape)}, "
                                f"expected float16 [N, D]")
        self.n, self.dim = int(x.shape[0]), int(x.shape[1])
        if self.dim > MAX_DIM:
            raise FeaturesError(f"{p}: dataset features has {self.dim:,} columns (dim); an embedding "
                                f"has at most {MAX_DIM:,}, so the file is damaged. {_REBUILD}")
        for name in _REQUIRED[1:]:
            if f[name].shape[0] != self.n:
                raise FeaturesError(f"{p}: dataset {name} has {f[name].shape[0]} rows, "
                                    f"features has {self.n}; the file is damaged")
        size = os.path.getsize(p)
        for name, d in found.items():
            why = d is not None and _implausible(p, name, d, size)
            if why:
                raise FeaturesError(why)
        self.id = _text(f.attrs.get("uuid", ""))
        if not self.id:
            raise FeaturesError(f"{p}: attribute uuid is missing; the file cannot be told "
                                f"apart from another. Re-run featurize.")
        self.attrs = {k: (_text(v) if isinstance(v, (bytes, str)) else
                          v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}

    def _load_keys(self) -> None:
        d = self._h5["items/key"]
        step = 1 << 20
        parts = [np.asarray(d[s:s + step]).astype("S") for s in range(0, self.n, step)]
        raw = np.concatenate(parts) if parts else np.zeros(0, dtype="S20")
        self._keys_raw = raw
        self._order = np.argsort(raw, kind="stable").astype(np.int64 if self.n >= 2**31 else np.int32)
        self._sorted = raw[self._order]
        if self.n > 1 and np.any(self._sorted[1:] == self._sorted[:-1]):
            dup = _text(self._sorted[1:][self._sorted[1:] == self._sorted[:-1]][0])
            raise FeaturesError(f"{self.filename}: item key {dup} appears twice in items/key; "
                                f"the file is damaged. Re-run featurize.")
        self.keys = KeyList(raw)

    def refresh(self) -> None:
        """Re-read the status column (featurize may still be filling rows).

        Only while the file on disk is still this one: featurize --overwrite writes a new
        file (another uuid, other rows) and renames it over this path. Rows, keys and paths
        must all come from one file, or an answer lands on another item's key; so the
        snapshot opened first stays in use and `replaced` says why its new rows never come.
        A file that cannot be re-read (removed, damaged) is handled the same way."""
        if getattr(self, "status", None) is None:
            h5 = self._h5                  # the first call, from __init__: the file just checked
        else:
            try:
                h5 = _open(self.filename)
            except (OSError, ValueError) as exc:
                self._keep_snapshot(f"{self.filename} cannot be re-read ({exc})")
                return
        why = self._differs(h5)
        if why and h5 is not self._h5:
            h5.close()
            self._keep_snapshot(why)
            return
        status = np.asarray(h5["status"][:], dtype=np.int8)
        # Swap in the new handle; close only the one before the previous: another thread
        # may still be reading through the previous handle.
        self._handles = getattr(self, "_handles", [self._h5])
        if self._handles[-1] is not h5:
            self._handles.append(h5)
        while len(self._handles) > 2:
            try:
                self._handles.pop(0).close()
            except Exception:
                pass
        self._h5 = h5
        self.status, self.done = status, status == DONE
        self.complete = bool(h5.attrs.get("complete", False))
        self._mm = self._memmap()

    def featurized_now(self) -> int | None:
        """How many rows featurize has finished in the file on disk now (None: it is not
        this file any more, or cannot be read). For the counts on screen only: it swaps
        nothing in, so it may run in any thread while the sampler's refresh is starved of
        CPU by featurize itself (the refit thread runs at nice +15)."""
        try:
            h5 = _open(self.filename)
        except (OSError, ValueError):
            return None
        try:
            if self._differs(h5):
                return None
            return int(np.count_nonzero(np.asarray(h5["status"][:]) == DONE))
        except (OSError, KeyError, ValueError):
            return None
        finally:
            h5.close()

    replaced: str | None = None

    def _differs(self, h5: h5py.File) -> str | None:
        """Why the file now at our path is not the one whose keys we hold (None if it is)."""
        try:
            uuid = _text(h5.attrs.get("uuid", ""))
            if uuid != self.id:      # another file: look no further into it (links, shapes)
                shape = rows = None
            else:
                shape = tuple(h5["features"].shape) if "features" in h5 else None
                rows = h5["status"].shape[0] if "status" in h5 else None
        except (OSError, KeyError, ValueError) as exc:
            return f"{self.filename} cannot be re-read ({exc})"
        if uuid != self.id or shape != (self.n, self.dim) or rows != self.n:
            return (f"{self.filename} was replaced by another featurize run (file id "
                    f"{self.id[:8]} -> {uuid[:8] or 'none'}, {self.n} -> "
                    f"{shape[0] if shape else '?'} items)")
        return None

    def _keep_snapshot(self, why: str) -> None:
        """Go on with the file as first opened; the rows it lacks will not come."""
        self.replaced = (f"{why}: still showing the file as it was when annotate started, "
                         f"whose rows will not change; every answer goes to the item shown. "
                         f"Restart annotate to use the new file.")
        self.complete = True      # nothing more will land in this snapshot: stop looking

    def _memmap(self):
        """A float16 memory map of the dataset if it is contiguous and unfiltered, else None.

        Mapped through the descriptor HDF5 opened, not by path: the path may name a newer
        file by now (featurize --overwrite renames one over it)."""
        d = self._h5["features"]
        if d.chunks is not None or d.compression or self.n == 0:
            return None
        offset = d.id.get_offset()
        if offset is None or d.dtype.byteorder == ">":
            return None
        try:
            fd = self._h5.id.get_vfd_handle()
        except Exception:  # a driver without a plain descriptor: read through h5py
            return None
        size = offset + self.n * self.dim * 2
        if not isinstance(fd, int) or size > os.fstat(fd).st_size:
            return None
        mm = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        return np.frombuffer(mm, dtype="<f2", count=self.n * self.dim,
                             offset=offset).reshape(self.n, self.dim)

    # ---- per item ------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.n

    def __contains__(self, key) -> bool:
        return self.get_index(key) is not None

    def get_index(self, key: str) -> int | None:
        """Row of an item key, or None if the file does not hold it."""
        if not isinstance(key, str):
            return None
        k = key.encode("utf-8", "surrogateescape")
        pos = int(np.searchsorted(self._sorted, k))
        if pos < self.n and self._sorted[pos] == k:
            return int(self._order[pos])
        return None

    def index_of(self, key: str) -> int:
        i = self.get_index(key)
        if i is None:
            raise KeyError(f"item key {key!r} is not in {self.filename}")
        return i

    def indices_of(self, keys) -> np.ndarray:
        """Rows of many keys at once (-1 for keys not in the file)."""
        k = np.asarray([s.encode("utf-8", "surrogateescape") for s in keys], dtype="S")
        if len(k) == 0 or self.n == 0:
            return np.full(len(k), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._sorted, k), self.n - 1)
        ok = self._sorted[pos] == k
        return np.where(ok, self._order[pos].astype(np.int64), -1)

    def key(self, i: int) -> str:
        return _text(self._keys_raw[i])

    def path(self, i: int) -> str:
        return _text(self._h5["items/path"][i])

    def box(self, i: int) -> tuple | None:
        b = self._h5["items/box"][i]
        if np.isnan(b).any():
            return None
        return tuple(float(v) for v in b)

    def meta(self, i: int) -> dict:
        text = _text(self._h5["items/meta"][i])
        try:
            return json.loads(text) if text else {}
        except json.JSONDecodeError:
            return {"_meta_raw": text}

    def meta_texts(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The raw JSON metadata of rows [start, stop) in one read (a column of every row:
        tui.learn.side_inputs), undecoded."""
        stop = self.n if stop is None else stop
        return [_text(v) for v in self._h5["items/meta"][start:stop]]

    def image_size(self, i: int) -> tuple[int, int]:
        w, h = self._h5["items/image_size"][i]
        return int(w), int(h)

    def error(self, i: int) -> str:
        return _text(self._h5["error"][i]) if "error" in self._h5 else ""

    # ---- vectors --------------------------------------------------------------------------

    def rows(self, idx) -> np.ndarray:
        """float32 rows for the given indices (any order), read in sorted order."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx), self.dim), dtype=np.float32)
        if len(idx) == 0:
            return out
        order = np.argsort(idx, kind="stable")
        s = idx[order]
        if self._mm is not None:
            out[order] = self._mm[s]
        else:
            d = self._h5["features"]
            uniq, inv = np.unique(s, return_inverse=True)
            got = np.empty((len(uniq), self.dim), dtype=np.float16)
            for j in range(0, len(uniq), 4096):
                got[j:j + 4096] = d[uniq[j:j + 4096]]
            out[order] = got[inv]
        return out

    def iter_chunks(self, start: int = 0, stop: int | None = None,
                    rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, float32 block) over rows [start, stop); one reusable buffer, so a
        consumer must use a block before asking for the next."""
        stop = self.n if stop is None else stop
        rows = rows or self.chunk_rows
        buf32 = np.empty((rows, self.dim), dtype=np.float32)
        buf16 = None if self._mm is not None else np.empty((rows, self.dim), dtype=np.float16)
        d = self._h5["features"]
        for a in range(start, stop, rows):
            b = min(a + rows, stop)
            if self._mm is not None:
                np.copyto(buf32[:b - a], self._mm[a:b], casting="same_kind")
            else:
                d.read_direct(buf16, np.s_[a:b], np.s_[0:b - a])
                np.copyto(buf32[:b - a], buf16[:b - a])
            yield a, buf32[:b - a]

    def dot(self, w: np.ndarray, bias: float = 0.0, out: np.ndarray | None = None,
            rows: np.ndarray | None = None) -> np.ndarray:
        """X @ w + bias for every row (float32 [N]) without a float32 copy of X.

        float16 blocks go straight into torch's half-precision matrix-vector
        product (float32 accumulation, ~10x faster here than numpy's float16 to
        float32 cast); without torch, numpy on float32 blocks. The first call
        imports torch (1.4 s of CPU here): `prepare_dot()` does it ahead."""
        w = np.asarray(w, dtype=np.float32).reshape(self.dim)
        out = np.empty(self.n, dtype=np.float32) if out is None else out
        mv = _half_mv()
        if mv is None:
            for a, block in self.iter_chunks():
                np.matmul(block, w, out=out[a:a + len(block)])
        else:
            scale = float(np.abs(w).max()) or 1.0
            w16 = (w / scale).astype(np.float16)
            for a, block16 in self.iter_chunks16():
                out[a:a + len(block16)] = mv(block16, w16)
            out *= np.float32(scale)
        out += np.float32(bias)
        return out

    def iter_chunks16(self, rows: int | None = None):
        """(first row, float16 block): views of the memory map, or h5py reads into one buffer."""
        rows = rows or max(self.chunk_rows, (256 << 20) // max(1, 2 * self.dim))
        if self._mm is not None:
            for a in range(0, self.n, rows):
                yield a, self._mm[a:a + rows]
            return
        rows = self.chunk_rows
        buf = np.empty((rows, self.dim), dtype=np.float16)
        d = self._h5["features"]
        for a in range(0, self.n, rows):
            b = min(a + rows, self.n)
            d.read_direct(buf, np.s_[a:b], np.s_[0:b - a])
            yield a, buf[:b - a]

    @property
    def storage(self) -> str:
        return "memmap" if self._mm is not None else "h5py"

    def close(self) -> None:
        self._mm = None
        for h in getattr(self, "_handles", [self._h5]):
            try:
                h.close()
            except Exception:
                pass

    def __enter__(self) -> "FeatureFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FeatureFile({str(self.filename)!r}, n={self.n}, dim={self.dim})"
