"""``torchrun --nproc_per_node=2 -m featurize``: two processes (gloo, CPU),
one output identical in content to a single-process run; a job killed
mid-run resumes, merging what its ranks had finished."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from featurize.cli import main
from featurize_fixtures import ROOT, cli_args, env, make_photos, read, tiny_model, write_refs

pytestmark = pytest.mark.slow

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "featurize"]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp")
    photos = make_photos(d / "photos", 6)
    refs_path = write_refs(d / "refs.txt", photos, boxes_per_image=3)
    with open(refs_path, "a") as f:
        f.write(f"{d}/missing.jpg\n")  # a failed row travels through the shards too
    weights = tiny_model(d / "tiny")
    ref = d / "single.h5"
    assert main(cli_args(refs_path, ref, weights, "--workers", "0", "--box-mode", "pool", "-q")) == 1
    return d, refs_path, weights, read(ref)


def _same(a, b):
    assert list(a["key"]) == list(b["key"]) and list(a["path"]) == list(b["path"])
    assert (a["status"] == b["status"]).all() and list(a["error"]) == list(b["error"])
    assert (a["image_size"] == b["image_size"]).all()
    assert np.array_equal(np.isnan(a["box"]), np.isnan(b["box"]))
    assert np.abs(a["features"].astype(np.float32) - b["features"].astype(np.float32)).max() < 2e-3
    for k in ("format", "model", "weights", "preprocess", "box_mode", "context", "dim", "refs_sha256"):
        assert a["attrs"][k] == b["attrs"][k], k


def test_two_processes_give_the_single_process_file(job, tmp_path):
    d, refs_path, weights, single = job
    out = tmp_path / "f.h5"
    args = cli_args(refs_path, out, weights, "--workers", "0", "--box-mode", "pool")
    r = subprocess.run([*TORCHRUN, *args], capture_output=True, text=True, env=env(), cwd=str(ROOT), timeout=300)
    assert r.returncode == 1, r.stderr[-3000:]  # the missing file: exit code 1, as a single process
    assert "2 processes" in r.stderr and "24 done, 1 failed, 0 pending of 25 items" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5"], "shards merged and removed"
    final = read(out)
    _same(final, single)
    assert bool(final["attrs"]["complete"])


def test_killed_job_resumes_merging_finished_shard_rows(job, tmp_path):
    d, _, weights, single = job
    # 6 images x 21 items, one crop a batch: long enough to be killed mid-run
    refs_path = write_refs(tmp_path / "refs.txt", sorted((d / "photos").glob("*.jpg")), boxes_per_image=20)
    with open(refs_path, "a") as f:
        f.write(f"{d}/missing.jpg\n")
    out = tmp_path / "f.h5"
    args = cli_args(refs_path, out, weights, "--workers", "0", "--box-mode", "crop", "--batch-size", "1",
                    "--log-every", "0")
    crop_ref = tmp_path / "crop-single.h5"
    assert main(cli_args(refs_path, crop_ref, weights, "--workers", "0", "--box-mode", "crop", "-q")) == 1
    p = subprocess.Popen([*TORCHRUN, *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                         env=env(), cwd=str(ROOT), start_new_session=True)
    for line in p.stderr:  # rank 0's progress: kill when it has done a few
        m = re.match(r"featurize\[rank 0/2\]: (\d+)/", line)
        if m and int(m.group(1)) >= 4:
            break
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    p.stderr.close()
    for _ in range(200):
        try:
            os.killpg(p.pid, 0)
            time.sleep(0.05)
        except ProcessLookupError:
            break
    shards = sorted(tmp_path.glob("f.h5.shard-*"))
    assert shards, "the killed job left its shards"
    # resumed by a single process: it merges the shards' finished rows first
    r = subprocess.run([sys.executable, "-m", "featurize", *args], capture_output=True, text=True, env=env(),
                       cwd=str(ROOT), timeout=300)
    assert r.returncode == 1 and "126 done, 1 failed, 0 pending" in r.stderr, r.stderr[-2000:]
    computed = int(r.stderr.split(" computed in this run")[0].split()[-1])
    assert computed <= 127 - 4, "rows finished by the killed ranks were not recomputed"
    assert not list(tmp_path.glob("f.h5.shard-*"))
    _same(read(out), read(crop_ref))
