"""Issue 12, exports: outputs that are not regular files, killed exports, read-only
labels, strict JSON. Each test runs the real command (`python -m tui export ...`) on
real files, as a person or a script would."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from h5fixtures import write_features, write_synthetic

from tui.store.features import FeatureFile
from tui.store.labels import LabelStore
from tui.learn.sampler import default_labels_path

N_POS, N_NEG = 6, 6


def label(fp, n_pos=N_POS, n_neg=N_NEG) -> dict:
    """Answer the first rows: n_pos positive, then n_neg negative; return {key: answer}."""
    with FeatureFile(fp) as f, LabelStore(default_labels_path(fp), f.id) as st:
        want = {}
        for i in range(n_pos + n_neg):
            want[f.key(i)] = "pos" if i < n_pos else "neg"
            st.record(f.key(i), want[f.key(i)], prob=0.5)
    return want


def make(folder, meta=None) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    fp = folder / "feats.h5"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 8))
    X[:N_POS] += 3.0
    write_features(fp, X, meta=meta)
    return fp, label(fp)


@pytest.fixture
def pool(tmp_path):
    return make(tmp_path / "pool")


def run(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "tui", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)


def clean_failure(res, *words):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    for w in words:
        assert w in res.stderr, res.stderr


def parts(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part-" in p.name)


# ---- 3. outputs that exist and are not regular files --------------------------------------

def test_fifo_output_is_refused_and_stays_a_fifo(pool, tmp_path):
    fp, _ = pool
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for fmt in ("scores", "csv", "model"):
        res = run("export", fp, "--format", fmt, "-o", fifo)
        clean_failure(res, str(fifo), "a FIFO", "not a regular file")
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert parts(tmp_path) == []


def test_device_node_output_is_refused_and_stays_a_device(pool, tmp_path):
    fp, _ = pool
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    dev = tmp_path / "null"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))   # a second /dev/null
    res = run("export", fp, "--format", "scores", "-o", dev)
    clean_failure(res, str(dev), "a character device", "not a regular file", "-o -")
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert parts(tmp_path) == []


def test_symlink_to_stdout_is_refused_and_stays_a_symlink(pool, tmp_path):
    """What `-o /dev/stdout` is: a symlink to /proc/self/fd/1 (made here, not in /dev)."""
    fp, _ = pool
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    res = run("export", fp, "--format", "scores", "-o", link)
    clean_failure(res, str(link), "not a regular file", "-o -")
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"


def test_symlink_to_a_regular_file_is_written_through(pool, tmp_path):
    """Our call: a symlink to a regular file is kept; the file it points to gets the export."""
    fp, want = pool
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "labels.csv"
    target.write_text("old\n")
    link = tmp_path / "labels.csv"
    link.symlink_to(target)
    res = run("export", fp, "--format", "csv", "-o", link)
    assert res.returncode == 0, res.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {r["key"]: r["answer"] for r in rows} == want
    assert parts(tmp_path) == [] and parts(tmp_path / "real") == []


def test_dash_writes_to_stdout_and_says_so_on_stderr(pool, tmp_path):
    fp, want = pool
    for fmt in ("csv", "jsonl"):
        res = run("export", fp, "--format", fmt, "-o", "-", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(res.stdout)))
        else:
            rows = [json.loads(line) for line in res.stdout.splitlines()]
        assert {r["key"]: r["answer"] for r in rows} == want
        assert "wrote" in res.stderr and "wrote" not in res.stdout
    assert not (tmp_path / "-").exists()
    clean_failure(run("export", fp, "--format", "model", "-o", "-", cwd=tmp_path),
                  "model", "two files")
    assert not (tmp_path / "-").exists() and parts(tmp_path) == []


# ---- 9. killed exports leave no hidden .part files --------------------------------------------

@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    fp = d / "big.h5"
    write_synthetic(fp, 300_000, 16)
    with FeatureFile(fp) as f, LabelStore(default_labels_path(fp), f.id) as st:
        st.record(f.key(0), "pos")
        st.record(f.key(1), "neg")
    return fp


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_terminated_export_removes_its_part_file(big, tmp_path, sig):
    out = tmp_path / "scores.csv"
    out.write_text("old\n")
    proc = subprocess.Popen([sys.executable, "-m", "tui", "export", str(big), "--format",
                             "scores", "-o", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    t0, seen = time.monotonic(), None
    while time.monotonic() - t0 < 60 and proc.poll() is None:
        found = [p for p in tmp_path.iterdir() if ".part-" in p.name]
        if found and found[0].stat().st_size > 100_000:
            seen = found[0]
            break
        time.sleep(0.005)
    assert seen is not None, "the export finished before it could be signalled"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert "Traceback" not in err and str(out) in err and "not written" in err
    assert out.read_text() == "old\n"
    assert parts(tmp_path) == []


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_stale_part_files_of_dead_processes_are_removed_by_the_next_run(pool, tmp_path):
    fp, _ = pool
    out = tmp_path / "scores.csv"
    stale = tmp_path / f".scores.csv.part-{dead_pid()}-0a1b2c"
    stale.write_bytes(b"x" * 1000)
    stale_dir = tmp_path / f".crops.part-{dead_pid()}-0a1b2c"
    (stale_dir / "positive").mkdir(parents=True)
    live = tmp_path / f".scores.csv.part-{os.getpid()}-0a1b2c"    # a run still going
    live.write_bytes(b"y")
    other = tmp_path / ".notes.txt.part-x"                          # not ours
    other.write_bytes(b"z")
    res = run("export", fp, "--format", "scores", "-o", out)
    assert res.returncode == 0, res.stderr
    assert not stale.exists() and live.exists() and other.exists()
    assert stale_dir.exists()            # another export's name: left to that export
    res = run("export", fp, "--format", "imagefolder", "-o", tmp_path / "crops")
    assert not stale_dir.exists()
    assert live.exists()


# ---- 9. read-only labels are exportable ---------------------------------------------------

def run_read_only(paths, *args):
    """Run the command with `paths` (folders or files) read-only: a read-only bind mount in
    a private mount namespace as root (root ignores permissions), chmod otherwise."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(modes[p] & ~0o222)
        try:
            return run(*args)
        finally:
            for p in paths:
                p.chmod(modes[p])
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare to mount a read-only view as root")
    mounts = " && ".join(f"mount --bind '{p}' '{p}' && mount -o remount,ro,bind '{p}'"
                         for p in paths)
    cmd = " ".join(f"'{a}'" for a in [sys.executable, "-m", "tui", *map(str, args)])
    res = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                          f"{mounts} && exec {cmd}"], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)
    if "mount:" in res.stderr or "unshare:" in res.stderr:
        pytest.skip(f"cannot mount read-only here: {res.stderr.strip()}")
    return res


def exported(path) -> dict:
    return {r["key"]: r["answer"] for r in csv.DictReader(io.StringIO(path.read_text()))}


def test_labels_in_a_read_only_folder_are_exported(pool, tmp_path):
    fp, want = pool
    before = sorted(os.listdir(fp.parent))
    out = tmp_path / "out.csv"
    res = run_read_only([fp.parent], "export", fp, "--format", "csv", "-o", out)
    assert res.returncode == 0, res.stderr
    assert exported(out) == want
    assert sorted(os.listdir(fp.parent)) == before
    res = run_read_only([fp.parent], "export", fp, "--format", "model", "-o",
                        tmp_path / "m.json")
    assert res.returncode == 0, res.stderr


def test_a_read_only_labels_file_is_exported_without_creating_wal_files(pool, tmp_path):
    fp, want = pool
    labels = default_labels_path(fp)
    before = sorted(os.listdir(fp.parent))
    out = tmp_path / "out.csv"
    res = run_read_only([labels], "export", fp, "--format", "csv", "-o", out)
    assert res.returncode == 0, res.stderr
    assert exported(out) == want
    assert sorted(os.listdir(fp.parent)) == before     # no -wal, no -shm left beside it


def test_answers_still_in_the_write_ahead_log_are_not_lost(tmp_path):
    """A copy taken while annotate ran: labels.sqlite plus its -wal (no -shm), in a
    read-only folder. Reading the main file alone would silently drop answers."""
    fp, _ = make(tmp_path / "src", )
    labels = default_labels_path(fp)
    ro = tmp_path / "copy"
    ro.mkdir()
    with FeatureFile(fp) as f, LabelStore(labels, f.id) as st:
        want = {a.key: a.answer for a in st.answers()}
        for i in range(12, 20):
            st.record(f.key(i), "neg")
            want[f.key(i)] = "neg"
        assert labels.with_name(labels.name + "-wal").stat().st_size > 0
        for name in (fp.name, labels.name, labels.name + "-wal"):
            shutil.copy(fp.parent / name, ro / name)
    out = tmp_path / "out.csv"
    res = run_read_only([ro], "export", ro / fp.name, "--format", "csv", "-o", out)
    assert res.returncode == 0, res.stderr
    assert exported(out) == want


# ---- 9. strict JSON ------------------------------------------------------------------------

def strict(line: str):
    def no_constant(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(line, parse_constant=no_constant)


def test_jsonl_is_strict_json(tmp_path):
    n = 30
    meta = [{"score": float("nan"), "deep": {"x": [float("inf"), 1.5, -float("inf")]}}
            for _ in range(n)]
    fp, want = make(tmp_path / "p", meta=meta)
    out = tmp_path / "l.jsonl"
    res = run("export", fp, "--format", "jsonl", "-o", out)
    assert res.returncode == 0, res.stderr
    rows = [strict(line) for line in out.read_text().splitlines()]
    assert {r["key"]: r["answer"] for r in rows} == want
    assert all(r["score"] is None and r["deep"] == {"x": [None, 1.5, None]} for r in rows)
