"""Issue 12 (items 7, 9): the real `featurize` command asked to resume into a damaged or
hostile features file: one clear message (exit 2) saying what is wrong and that
--overwrite rebuilds it; nothing written into the file or outside it, no hang."""

from __future__ import annotations

import os
import shutil
import subprocess

import h5py
import numpy as np
import pytest

import adversarial_h5 as adv
from featurize.cli import main
from featurize_fixtures import PY, ROOT, cli_args, env, make_photos, read, run_sub, tiny_model, write_refs


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A file featurize wrote for 6 items, then its last 3 rows marked pending again."""
    d = tmp_path_factory.mktemp("advres")
    photos = make_photos(d / "photos", 2)
    refs_path = write_refs(d / "refs.txt", photos, boxes_per_image=2)
    weights = tiny_model(d / "tiny")
    out = d / "made.h5"
    assert main(cli_args(refs_path, out, weights, "--workers", "0", "-q")) == 0
    with h5py.File(out, "a") as f:
        f["status"][3:] = 0
        f.attrs["complete"] = False
    return refs_path, weights, out


@pytest.fixture
def partial(made, tmp_path):
    refs_path, weights, src = made
    out = tmp_path / "features.h5"
    shutil.copy(src, out)
    return out, cli_args(refs_path, out, weights, "--workers", "0")


def refused(argv, out, *words) -> str:
    before = out.read_bytes()
    try:
        r = subprocess.run([PY, "-m", "featurize", *argv], capture_output=True, text=True, env=env(),
                           cwd=str(ROOT), timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("featurize hung")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"featurize: error: {out}" in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
    assert out.read_bytes() == before, "the file was written into"
    return r.stderr


@pytest.mark.parametrize("damage", [adv.truncate, adv.bad_superblock])
def test_a_damaged_file_is_called_damaged_not_open_in_another_process(partial, damage):
    out, argv = partial
    damage(out)
    err = refused(argv, out, "is damaged", "--overwrite")
    assert "another process" not in err


def test_a_damaged_object_header_is_a_message_and_overwrite_rebuilds(partial):
    out, argv = partial
    adv.bad_object_header(out, "status")
    refused(argv, out, "is damaged", "--overwrite")
    r = run_sub([*argv, "--overwrite"])
    assert r.returncode == 0, r.stderr
    assert (read(out)["status"] == 1).all()


def test_a_huge_dim_is_refused_before_allocating(partial):
    out, argv = partial
    adv.replace(out, "features", adv.huge_dim())
    refused(argv, out, "features", f"{1 << 31:,}", "--overwrite")


@pytest.mark.parametrize("name,how", [
    ("features", "external_storage"), ("items/key", "soft_link_outside"), ("status", "virtual")])
def test_data_stored_outside_the_file_is_refused_and_not_written(partial, tmp_path, name, how):
    out, argv = partial
    other = tmp_path / ("outside.bin" if how == "external_storage" else "outside.h5")
    adv.replace(out, name, getattr(adv, how)(other))
    outside = other.read_bytes()
    refused(argv, out, name, "outside the file", "--overwrite")
    assert other.read_bytes() == outside, "featurize wrote into a file outside the features file"


def test_an_external_link_to_a_fifo_is_refused_without_hanging(partial, tmp_path):
    out, argv = partial
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    adv.replace(out, "items/meta", adv.external_link(fifo))
    refused(argv, out, "items/meta", "outside the file", "external link")


def test_a_readable_file_is_still_resumed(partial):
    """Not over-refusing: the checks pass a file featurize wrote, which then completes."""
    out, argv = partial
    r = run_sub(argv)
    assert r.returncode == 0 and "3 computed in this run" in r.stderr, r.stderr
    assert bool(read(out)["attrs"]["complete"]) and (read(out)["status"] == 1).all()
    assert np.isfinite(read(out)["features"]).all()
