"""The labels file on its own holds the answers (issue 12, case 8), backups, damage.

Before the fix, after 30 answers the .sqlite was 4 KB with no tables: everything was in
the -wal file, so a backup copying *.sqlite had no labels, and `annotate export` on it
said "no labels yet" and wrote a fresh schema into it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from app_fixtures import make_pool

from tui.store.labels import LabelStore
from tui.learn.sampler import Sampler


def annotate(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "tui", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def answers_in_copy_of_main_file(labels, folder) -> int:
    """Copy NAME.sqlite alone (what `cp *.sqlite` does) and count the answers it holds."""
    folder.mkdir(exist_ok=True)
    copy = folder / labels.name
    shutil.copyfile(labels, copy)
    con = sqlite3.connect(copy)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        return con.execute("SELECT COUNT(*) FROM answers").fetchone()[0] if "answers" in tables else 0
    finally:
        con.close()


def test_the_main_file_alone_holds_the_answers_while_annotating(tmp_path):
    features, keys = make_pool(tmp_path / "pool", n_files=40, n_boxes=0)
    labels = tmp_path / "labels.sqlite"
    with Sampler(str(features), labels=str(labels), poll=0.1) as s:
        rng = np.random.default_rng(0)
        for _ in range(30):
            s.record(s.next(), bool(rng.integers(2)))
        deadline = time.monotonic() + 20
        while answers_in_copy_of_main_file(labels, tmp_path / "copy") < 20:
            assert time.monotonic() < deadline, "the answers stayed in the write-ahead log"
            time.sleep(0.1)
    # and on exit, every answer
    assert answers_in_copy_of_main_file(labels, tmp_path / "copy2") == 30
    wal = labels.with_name(labels.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_backup_copies_every_answer_while_the_file_is_in_use(tmp_path):
    features, keys = make_pool(tmp_path / "pool", n_files=12, n_boxes=0)
    labels = tmp_path / "labels.sqlite"
    from tui.store.features import FeatureFile

    with FeatureFile(features) as f:
        fid = f.id
    store = LabelStore(labels, fid, annotator="ann")        # open: answers still in the WAL
    try:
        for i, k in enumerate(keys[:7]):
            store.record(k, ("pos", "neg")[i % 2])
        store.undo()
        out = tmp_path / "backup" / "copy.sqlite"
        out.parent.mkdir()
        res = annotate("backup", labels, out)
        assert res.returncode == 0, res.stderr
        assert "backed up 7 answers (1 undone; 6 items labelled)" in res.stdout
        assert sorted(os.listdir(out.parent)) == ["copy.sqlite"]     # no -wal beside it
        with LabelStore(out, fid, annotator="check") as copy:
            assert copy.labels() == store.labels() and copy.verify() == []
        res = annotate("export", features, "--labels", out, "--format", "csv",
                       "-o", tmp_path / "from-backup.csv")
        assert res.returncode == 0, res.stderr
        assert len((tmp_path / "from-backup.csv").read_text().splitlines()) == 1 + 6
    finally:
        store.close()


def test_backup_refuses_what_it_must_not_touch(tmp_path):
    features, keys = make_pool(tmp_path / "pool", n_files=2, n_boxes=0)
    labels = tmp_path / "labels.sqlite"
    from tui.store.features import FeatureFile

    with FeatureFile(features) as f, LabelStore(labels, f.id) as st:
        st.record(keys[0], "pos")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = annotate("backup", labels, fifo)
    assert res.returncode == 2 and "FIFO" in res.stderr and "Traceback" not in res.stderr
    assert fifo.is_fifo()
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    res = annotate("backup", other, tmp_path / "o.sqlite")
    assert res.returncode == 2 and "not a binlabel labels file" in res.stderr
    assert not (tmp_path / "o.sqlite").exists()
    res = annotate("backup", tmp_path / "missing.sqlite", tmp_path / "o.sqlite")
    assert res.returncode == 2 and "no such labels file" in res.stderr


@pytest.mark.parametrize("command", ["export", "annotate"])
def test_a_damaged_labels_file_says_how_to_recover(tmp_path, command):
    features, keys = make_pool(tmp_path / "pool", n_files=30, n_boxes=0)
    labels = tmp_path / "labels.sqlite"
    from tui.store.features import FeatureFile

    with FeatureFile(features) as f, LabelStore(labels, f.id) as st:
        for k in keys:
            st.record(k, "pos")
    data = bytearray(labels.read_bytes())
    page = 4096
    assert len(data) >= 3 * page
    data[page:3 * page] = os.urandom(2 * page)      # the pages after the schema page
    labels.write_bytes(bytes(data))
    before = labels.read_bytes()
    args = (["export", features, "--format", "csv", "-o", tmp_path / "x.csv"]
            if command == "export" else [features])
    res = annotate(*args, "--labels", labels)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "damaged" in res.stderr and ".recover" in res.stderr and "annotate backup" in res.stderr
    assert labels.read_bytes() == before              # nothing written into it
