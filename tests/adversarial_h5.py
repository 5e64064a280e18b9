"""Damaged and hostile features files, made from a valid one with h5py and byte edits.

Shared by tests/test_adversarial_features_file.py (the reader) and
tests/test_adversarial_featurize_resume.py (featurize resuming into them).
"""

from __future__ import annotations

import os

import h5py
import numpy as np


def truncate(path) -> None:
    """Cut the file in half (a copy interrupted, a disk that filled)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def bad_superblock(path) -> None:
    """An unknown superblock version (byte 8, right after the signature)."""
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(b"\x63")


def bad_object_header(path, name: str = "features") -> None:
    """An unknown version number in the object header of dataset ``name``."""
    with h5py.File(path, "r") as f:
        addr = h5py.h5o.get_info(f[name].id).addr
    with open(path, "r+b") as f:
        f.seek(addr)
        assert f.read(1) == b"\x01", "expected a version 1 object header"
        f.seek(addr)
        f.write(b"\x07")


def replace(path, name: str, make) -> None:
    """Replace dataset ``name`` by what ``make(f, name, old_data, old_dtype)`` puts there."""
    with h5py.File(path, "a") as f:
        old = f[name]
        data, dtype = old[()], old.dtype
        del f[name]
        make(f, name, data, dtype)


def external_storage(target) -> callable:
    """The dataset's bytes read from ``target`` (HDF5 external storage); ``target``
    gets exactly the bytes the dataset held."""
    def make(f, name, data, dtype):
        raw = np.ascontiguousarray(data).tobytes()
        with open(target, "wb") as t:
            t.write(raw)
        f.create_dataset(name, shape=data.shape, dtype=dtype, external=[(os.fspath(target), 0, len(raw))])
    return make


def external_link(target_file, target_path: str = "/x") -> callable:
    def make(f, name, data, dtype):
        f[name] = h5py.ExternalLink(os.fspath(target_file), target_path)
    return make


def soft_link_outside(other_file) -> callable:
    """A soft link inside the file to an external link: the data comes from ``other_file``."""
    def make(f, name, data, dtype):
        with h5py.File(other_file, "w") as o:
            o.create_dataset("d", data=data, dtype=dtype)
        f["elsewhere"] = h5py.ExternalLink(os.fspath(other_file), "/d")
        f[name] = h5py.SoftLink("/elsewhere")
    return make


def virtual(other_file) -> callable:
    """A virtual dataset whose rows live in ``other_file``."""
    def make(f, name, data, dtype):
        with h5py.File(other_file, "w") as o:
            o.create_dataset("d", data=data, dtype=dtype)
        layout = h5py.VirtualLayout(shape=data.shape, dtype=dtype)
        layout[...] = h5py.VirtualSource(os.fspath(other_file), "d", shape=data.shape)
        f.create_virtual_dataset(name, layout)
    return make


def huge_dim(dim: int = 1 << 31) -> callable:
    """``features`` declared [N, dim], chunked and never written: a tiny file."""
    def make(f, name, data, dtype):
        f.create_dataset(name, shape=(data.shape[0], dim), dtype=dtype, chunks=(1, 1 << 16))
    return make
