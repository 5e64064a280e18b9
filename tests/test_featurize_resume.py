"""Never lose work: the real command killed (SIGKILL) at several points,
stopped with Ctrl-C, run out of disk, then resumed with the same command;
the final file equals an uninterrupted run's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
import time

import numpy as np
import pytest

from featurize.cli import main
from featurize_fixtures import PY, ROOT, TINY_MODEL, cli_args, env, make_photos, read, run_sub, tiny_model, write_refs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """30 items (6 photos, whole + 4 boxes each), crop mode, batch 1: slow
    enough to be killed mid-run, and its uninterrupted result."""
    d = tmp_path_factory.mktemp("resume")
    photos = make_photos(d / "photos", 6)
    refs_path = write_refs(d / "refs.txt", photos, boxes_per_image=4)
    weights = tiny_model(d / "tiny")
    args = ["--box-mode", "crop", "--batch-size", "1", "--log-every", "0"]
    ref = d / "reference.h5"
    assert main(cli_args(refs_path, ref, weights, "--workers", "0", *args, "-q")) == 0
    return refs_path, weights, args, read(ref)


def _start(argv):
    return subprocess.Popen([PY, "-m", "featurize", *argv], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=env(), cwd=str(ROOT), start_new_session=True)


def _until(p, pattern_ok) -> str:
    """Read the process's stderr until a line satisfies ``pattern_ok``."""
    for line in p.stderr:
        if pattern_ok(line):
            return line
    raise AssertionError(f"process ended (rc {p.wait()}) before the expected line")


def _done_after(line: str) -> int | None:
    if line.startswith("featurize: ") and "/30 items (" in line:
        return int(line.split()[1].split("/")[0])
    return None


def _wait_group_gone(pgid: int) -> None:
    """The killed job's DataLoader workers die too (they watch their parent)."""
    for _ in range(200):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _check_partial(out, reference):
    """A killed file opens with bare h5py and every done row is right."""
    if not out.exists():
        return 0
    r = read(out)
    done = r["status"] == 1
    assert r["attrs"]["complete"] == False  # noqa: E712 (numpy bool)
    assert list(r["key"]) == list(reference["key"])
    diff = np.abs(r["features"][done].astype(np.float32) - reference["features"][done].astype(np.float32))
    assert diff.max(initial=0) < 2e-3
    assert (r["features"][r["status"] == 0] == 0).all()
    return int(done.sum())


def test_sigkill_at_several_points_then_resume_equals_uninterrupted(job, tmp_path):
    refs_path, weights, args, reference = job
    out = tmp_path / "f.h5"
    argv = cli_args(refs_path, out, weights, "--workers", "1", *args)
    done_before = []
    # 1: while the model loads and the file is created; 2: after the first
    # batch; 3: half way.
    for trigger in (lambda ln: ln.startswith("featurize: 30 items"),
                    lambda ln: (_done_after(ln) or 0) >= 1,
                    lambda ln: (_done_after(ln) or 0) >= 15):
        p = _start(argv)
        _until(p, trigger)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        p.stderr.close()
        _wait_group_gone(p.pid)
        done_before.append(_check_partial(out, reference))
    assert done_before == sorted(done_before) and done_before[-1] >= 15
    uuid = read(out)["attrs"]["uuid"]
    r = run_sub(argv)
    assert r.returncode == 0, r.stderr
    assert f"{30 - done_before[-1]} computed in this run" in r.stderr, "done rows were not recomputed"
    final = read(out)
    assert final["attrs"]["uuid"] == uuid and bool(final["attrs"]["complete"])
    assert (final["status"] == 1).all()
    assert np.abs(final["features"].astype(np.float32) - reference["features"].astype(np.float32)).max() < 2e-3
    assert (final["image_size"] == reference["image_size"]).all()


def test_ctrl_c_finishes_the_batch_and_says_how_to_resume(job, tmp_path):
    refs_path, weights, args, reference = job
    out = tmp_path / "f.h5"
    argv = cli_args(refs_path, out, weights, "--workers", "1", *args)
    p = _start(argv)
    _until(p, lambda ln: (_done_after(ln) or 0) >= 2)
    os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    rest = p.stderr.read()
    assert p.wait() == 1, rest
    assert "Traceback" not in rest
    assert "stopped; the file is intact. Run the same command again to resume" in rest
    done = _check_partial(out, reference)
    assert 2 <= done < 30
    r = run_sub(argv)
    assert r.returncode == 0 and f"{30 - done} computed in this run" in r.stderr
    final = read(out)
    assert np.abs(final["features"].astype(np.float32) - reference["features"].astype(np.float32)).max() < 2e-3


DISK_DRIVER = textwrap.dedent("""
    import json, os, subprocess, sys, time, shutil
    import h5py
    mnt, argv_json, result = sys.argv[1], sys.argv[2], sys.argv[3]
    argv = json.loads(argv_json)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt], check=True)
    out = os.path.join(mnt, "f.h5")
    env = dict(os.environ)
    res = {}
    # 1: a disk too full to create the file
    filler = os.path.join(mnt, "filler")

    def fill():
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for block in (65536, 4096, 512, 1):
                try:
                    while True:
                        os.write(fd, b"x" * block)
                except OSError:
                    pass
        finally:
            os.close(fd)

    fill()
    r = subprocess.run([sys.executable, "-m", "featurize", *argv, "-o", out], capture_output=True, text=True, env=env)
    res["create_rc"], res["create_err"] = r.returncode, r.stderr
    res["create_left"] = sorted(os.listdir(mnt))
    os.unlink(filler)
    # 2: the disk fills up mid-run (another process writes a big file)
    p = subprocess.Popen([sys.executable, "-m", "featurize", *argv, "-o", out], stderr=subprocess.PIPE, text=True, env=env)
    for line in p.stderr:
        if " items (" in line and int(line.split()[1].split("/")[0]) >= 3:
            break
    fill()
    err = p.stderr.read()
    res["full_rc"], res["full_err"] = p.wait(), err
    with h5py.File(out, "r") as f:  # still readable
        res["full_done"] = int((f["status"][()] == 1).sum())
    # 3: space freed: the same command resumes and completes
    os.unlink(filler)
    r = subprocess.run([sys.executable, "-m", "featurize", *argv, "-o", out], capture_output=True, text=True, env=env)
    res["resume_rc"], res["resume_err"] = r.returncode, r.stderr
    shutil.copy(out, result + ".h5")
    with open(result + ".json", "w") as f:
        json.dump(res, f)
""")


def test_full_disk_gives_a_clear_error_and_resumes(tmp_path):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to mount a small tmpfs in a private mount namespace")
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "tmpfs",
                            str(tmp_path)], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.decode().strip()}")
    photos = make_photos(tmp_path / "photos", 6)
    refs_path = write_refs(tmp_path / "refs.txt", photos, boxes_per_image=4)
    # Rows are written into blocks reserved at creation, so a disk that fills
    # up does not stop the computed rows; the message slots of failed rows
    # are not reserved (sparse): the 200 failed rows at the end need new
    # blocks when the disk is already full.
    with open(refs_path, "a") as f:
        f.writelines(f"{tmp_path}/missing{i}.jpg\n" for i in range(200))
    weights = tiny_model(tmp_path / "tiny")
    argv = [str(refs_path), "--model", TINY_MODEL, "--weights", str(weights), "--box-mode", "crop",
            "--batch-size", "1", "--workers", "0", "--precision", "fp32", "--device", "cpu", "--log-every", "0"]
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(DISK_DRIVER)
    result = tmp_path / "result"
    r = subprocess.run(["unshare", "-m", "--propagation", "private", PY, str(driver), str(mnt), json.dumps(argv),
                        str(result)], capture_output=True, text=True, env=env(), cwd=str(ROOT), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["create_rc"] == 1 and "cannot write" in res["create_err"] and "free some space" in res["create_err"]
    assert "Traceback" not in res["create_err"]
    assert res["create_left"] == ["filler"], "no half-created output left behind"
    assert res["full_rc"] == 1, res["full_err"]
    assert "cannot write" in res["full_err"] and "run the same command again to resume" in res["full_err"]
    assert "Traceback" not in res["full_err"]
    assert res["full_done"] == 30, "rows computed after the disk filled were kept (reserved blocks)"
    assert res["resume_rc"] == 1 and "30 done, 200 failed, 0 pending" in res["resume_err"], res["resume_err"]
    final = read(tmp_path / "result.h5")
    assert (final["status"][:30] == 1).all() and (final["status"][30:] == 2).all()
    assert all(e == "file not found" for e in final["error"][30:])
    ref = tmp_path / "ref.h5"
    assert main([*argv, "-o", str(ref), "-q"]) == 1
    assert np.abs(final["features"].astype(np.float32) - read(ref)["features"].astype(np.float32)).max() < 2e-3
