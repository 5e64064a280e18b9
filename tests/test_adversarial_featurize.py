"""Issue 12 (items 3, 6, 9): the real `featurize` command (a subprocess, as a user
starts it) on outputs that are not regular files, image names that are not
UTF-8, a Ctrl-C after the last batch, and FIFOs or devices named as images."""

from __future__ import annotations

import os
import signal
import stat
import subprocess

import pytest
from PIL import Image

from featurize_fixtures import PY, ROOT, cli_args, env, make_photos, read, tiny_model, write_refs
from refs.items import item_key
from tui.store.features import FeatureFile


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("adv")
    photos = make_photos(d / "photos", 3)
    refs_path = write_refs(d / "refs.txt", photos, boxes_per_image=2)
    return d, photos, refs_path, tiny_model(d / "tiny")


def _run(argv, timeout=120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([PY, "-m", "featurize", *argv], capture_output=True, text=True,
                              env=env(), cwd=str(ROOT), timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"featurize {' '.join(argv)} hung")


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_output_that_is_a_device_is_refused(setup, tmp_path, overwrite):
    """A private copy of /dev/null's device node: the code before the fix renamed the
    new file over the output when --overwrite was given, and /dev/null itself must not
    be put at risk by a test."""
    d, photos, refs_path, weights = setup
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError as e:
        pytest.skip(f"cannot make a device node here ({e})")
    argv = cli_args(refs_path, null, weights, "--workers", "0") + (["--overwrite"] if overwrite else [])
    r = _run(argv)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"featurize: error: -o {null} is not a regular file (a character device)" in r.stderr, r.stderr
    assert stat.S_ISCHR(os.stat(null).st_mode), "the device was replaced"


def test_an_output_that_is_a_fifo_is_refused_without_hanging(setup, tmp_path):
    d, photos, refs_path, weights = setup
    fifo = tmp_path / "out.h5"
    os.mkfifo(fifo)
    r = _run(cli_args(refs_path, fifo, weights, "--workers", "0"), timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"-o {fifo} is not a regular file (a named pipe)" in r.stderr, r.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_non_utf8_file_name_round_trips_to_annotate(setup, tmp_path):
    """path -> features.h5 -> FeatureFile.path(i) -> the image opens; same key as refs gives."""
    d, photos, refs_path, weights = setup
    folder = tmp_path / "imgs"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/caf\xe9.jpg"  # Latin-1 e-acute: not UTF-8
    with open(raw, "wb") as f:
        f.write(photos[0].read_bytes())
    (folder / "plain.jpg").write_bytes(photos[1].read_bytes())
    check = subprocess.run([PY, "-m", "refs", "check", str(folder)], capture_output=True, text=True, env=env(),
                           cwd=str(ROOT), timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    out = tmp_path / "features.h5"
    argv = cli_args(folder, out, weights, "--workers", "0")
    r = _run(argv)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    name = os.fsdecode(raw)
    with FeatureFile(out) as ff:
        paths = [ff.path(i) for i in range(len(ff))]
        assert sorted(paths) == sorted([name, str(folder / "plain.jpg")])
        i = paths.index(name)
        assert ff.key(i) == item_key(name, None) and ff.done[i]
        with Image.open(ff.path(i)) as im:
            assert im.size == Image.open(photos[0]).size
    again = _run(argv)  # the stored keys match the ones refs derives again: a resume, nothing recomputed
    assert again.returncode == 0 and "0 computed in this run" in again.stderr, again.stderr


def test_ctrl_c_after_the_last_batch_finishes_the_file(setup, tmp_path):
    """One batch: the stop arrives once its rows are written (the progress line says 9/9), so
    nothing is left when the loop sees it. (Sent on the start line instead, it raced the
    batch: under load the stop came first and nothing had been computed, a right answer.)"""
    d, photos, refs_path, weights = setup
    out = tmp_path / "f.h5"
    argv = cli_args(refs_path, out, weights, "--workers", "0", "--batch-size", "64", "--log-every", "0")
    p = subprocess.Popen([PY, "-m", "featurize", *argv], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         text=True, env=env(), cwd=str(ROOT), start_new_session=True)
    try:
        for line in p.stderr:
            if line.startswith("featurize: 9/9 items"):
                os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
                break
        rest = p.stderr.read()
        rc = p.wait(timeout=120)
    finally:
        p.kill()
    assert rc == 0, rest
    assert "9 done, 0 failed, 0 pending of 9 items" in rest and "stopped" not in rest, rest
    assert bool(read(out)["attrs"]["complete"])


def test_fifos_and_devices_named_as_images_are_not_regular_files(setup, tmp_path):
    d, photos, refs_path, weights = setup
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    refs = tmp_path / "refs.txt"
    refs.write_text(f'"{photos[0]}"\n"{fifo}"\n/dev/null\n/dev/zero 0 0 10 10\n')
    out = tmp_path / "f.h5"
    r = _run(cli_args(refs, out, weights, "--workers", "0"), timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"failed: {fifo}: not a regular file (a named pipe)" in r.stderr, r.stderr
    assert "failed: /dev/null: not a regular file (a character device)" in r.stderr
    assert "failed: /dev/zero: not a regular file (a character device)" in r.stderr
    got = read(out)
    assert list(got["status"]) == [1, 2, 2, 2]
    assert all("not a regular file" in e for e in got["error"][1:])

