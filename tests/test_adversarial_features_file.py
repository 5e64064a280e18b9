"""Issue 12 (items 7, 9): damaged and hostile features files, opened by the reader
(tui.store.features.FeatureFile) and by the real `annotate` command: one clear message
naming the file and what to do, never a traceback, a hang, or data read from
outside the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import adversarial_h5 as adv
from h5fixtures import write_features
from tui.store.features import FeatureFile, FeaturesError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "features.h5"
    write_features(path, np.random.default_rng(0).standard_normal((40, 16)))
    return path


def annotate(path: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real `annotate` command on ``path``; a hang fails the test instead of blocking it."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    try:
        return subprocess.run([sys.executable, "-m", "tui", str(path), "--labels",
                               str(path.parent / "labels.sqlite")], capture_output=True, text=True,
                              env=env, cwd=str(ROOT), timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"annotate {path} hung for {timeout} s")


def refused(path: Path, *words: str) -> str:
    with pytest.raises(FeaturesError) as e:
        FeatureFile(path).close()
    msg = str(e.value)
    assert str(path) in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


@pytest.mark.parametrize("damage", [adv.truncate, adv.bad_superblock, adv.bad_object_header])
def test_a_damaged_file_is_called_damaged_with_the_way_to_rebuild_it(good, damage):
    damage(good)
    msg = refused(good, "damaged", "featurize", "--overwrite")
    assert "another process" not in msg


def test_annotate_on_a_damaged_object_header_says_so_without_a_traceback(good):
    adv.bad_object_header(good, "items/key")
    r = annotate(good)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "damaged" in r.stderr and "--overwrite" in r.stderr and str(good) in r.stderr


def test_a_huge_dim_is_refused_before_allocating(good):
    adv.replace(good, "features", adv.huge_dim())
    refused(good, "features", f"{1 << 31:,}")
    r = annotate(good)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "MemoryError" not in r.stderr, r.stderr


def test_a_huge_row_count_is_refused_before_allocating(tmp_path):
    """Every dataset declares 2**36 rows, none is written: the file is a few KB."""
    n = 1 << 36
    path = tmp_path / "features.h5"
    write_features(path, np.ones((1, 8)))
    big = dict(chunks=True)
    with h5py.File(path, "a") as f:
        for name in ("features", "status", "error", "items/key", "items/path", "items/box", "items/meta",
                     "items/image_size"):
            shape, dtype = (n,) + f[name].shape[1:], f[name].dtype
            del f[name]
            f.create_dataset(name, shape=shape, dtype=dtype, **big)
    assert os.path.getsize(path) < 1 << 20
    refused(path, "damaged")


@pytest.mark.parametrize("name,how", [
    ("features", "external_storage"), ("items/path", "external_link"),
    ("items/meta", "soft_link_outside"), ("features", "virtual")])
def test_data_stored_outside_the_file_is_refused(good, tmp_path, name, how):
    other = tmp_path / ("outside.bin" if how == "external_storage" else "outside.h5")
    make = {"external_storage": adv.external_storage, "external_link": lambda p: adv.external_link(p, "/x"),
            "soft_link_outside": adv.soft_link_outside, "virtual": adv.virtual}[how](other)
    if how == "external_link":
        with h5py.File(other, "w") as o:
            with h5py.File(good, "r") as f:
                o.create_dataset("x", data=f[name][()], dtype=f[name].dtype)
    adv.replace(good, name, make)
    refused(good, name, "outside the file")


def test_an_external_link_to_a_fifo_is_refused_without_hanging(good, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    adv.replace(good, "items/key", adv.external_link(fifo))
    r = annotate(good, timeout=30)
    assert r.returncode == 2, r.stderr
    assert "outside the file" in r.stderr and "items/key" in r.stderr and "Traceback" not in r.stderr


def test_a_soft_link_inside_the_file_is_still_read(good):
    """Not over-refusing: a soft link to another dataset of the same file is fine."""
    with h5py.File(good, "a") as f:
        f.move("items/meta", "meta_elsewhere")
        f["items/meta"] = h5py.SoftLink("/meta_elsewhere")
    with FeatureFile(good) as ff:
        assert ff.meta(3) == {}
