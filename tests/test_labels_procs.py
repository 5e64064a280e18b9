"""The label store shared by real processes: concurrent writers, SIGKILL, a team with leases."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.store.labels import LabelStore

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

# Records answers (undoing every `undo_every`-th) and prints each id once the call returned.
# `pause` seconds between answers: a writer in a tight loop can starve the other one, since
# SQLite's busy handler polls (a person answers far more slowly than either).
WRITER = r"""
import sys, time
from tui.store.labels import LabelStore
path, name, count, undo_every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
s = LabelStore(path, "F1", annotator=name, session=name)
print("ready", flush=True)
sys.stdin.readline()
i = 0
while count < 0 or i < count:
    a = s.record(f"{name}-{i % 50}", ("pos", "neg", "skip")[i % 3], prob=(i % 100) / 100,
                 model_version=i, strategy="entropy")
    print("r", a.id, flush=True)
    if undo_every and i % undo_every == undo_every - 1:
        print("u", s.undo().id, flush=True)
    if pause:
        time.sleep(pause)
    i += 1
s.close()
print("done", flush=True)
"""

# One member of a team: claim free items, answer those still unanswered, release, repeat.
TEAM = r"""
import random, sys, time
from tui.store.labels import LabelStore
path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = LabelStore(path, "F1", annotator=name)
pool = [f"item-{i:04d}" for i in range(n)]
print("ready", flush=True)
sys.stdin.readline()
while True:
    done, busy = s.labels(), s.leased_by_others()
    if len(done) == n:
        break
    todo = [k for k in pool if k not in done and k not in busy]
    if not todo:
        time.sleep(0.01)
        continue
    got = s.claim(random.sample(todo, min(3, len(todo))), ttl=30)
    done = s.labels()  # read after claiming: drops items answered meanwhile
    for k in got:
        if k not in done:
            time.sleep(0.005)  # the person looks at the item
            s.record(k, random.choice(("pos", "neg")), strategy="team")
    s.release(got)
s.close()
print("done", flush=True)
"""

HOLDER = r"""
import sys, time
from tui.store.labels import LabelStore
s = LabelStore(sys.argv[1], "F1", annotator="holder")
print(",".join(s.claim(["x1", "x2"], ttl=120)), flush=True)
time.sleep(60)
"""


# Opens a labels file that may not exist yet, at the same moment as others.
OPENER = r"""
import sys
from tui.store.labels import LabelStore
print("ready", flush=True)
sys.stdin.readline()
s = LabelStore(sys.argv[1], "F1", annotator=sys.argv[2])
s.record(sys.argv[2], "pos")
s.close()
"""


def start(script, *args):
    p = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert p.stdout.readline().strip() != "", "the child printed nothing"
    return p


def integrity(path):
    with sqlite3.connect(str(path)) as c:
        return c.execute("PRAGMA integrity_check").fetchone()[0]


def test_two_processes_write_500_answers_each(tmp_path):
    path = tmp_path / "labels.sqlite"
    LabelStore(path, "F1", annotator="setup").close()
    procs = [start(WRITER, path, name, 500, 0, 0.001) for name in ("w1", "w2")]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert all(o.rstrip().endswith("done") for o in outs)
    with sqlite3.connect(str(path)) as c:
        rows = c.execute("SELECT id, annotator FROM answers ORDER BY id").fetchall()
    assert len(rows) == 1000
    by = {name: [i for i, a in rows if a == name] for name in ("w1", "w2")}
    assert len(by["w1"]) == len(by["w2"]) == 500
    printed = {int(line.split()[1]) for o in outs for line in o.splitlines() if line[:2] == "r "}
    assert printed == {i for i, _ in rows}
    # they really wrote at the same time: the ids interleave
    assert min(by["w1"][-1], by["w2"][-1]) > max(by["w1"][0], by["w2"][0])
    assert integrity(path) == "ok"
    s = LabelStore(path, "F1", annotator="w1")
    assert s.verify() == []
    assert s.counts()["answered"] == 100  # 50 keys each


def test_four_processes_create_one_new_file_at_once(tmp_path):
    path = tmp_path / "new.sqlite"
    procs = [start(OPENER, path, f"p{i}") for i in range(4)]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.communicate(timeout=60)
    assert [p.returncode for p in procs] == [0] * 4
    s = LabelStore(path, "F1", annotator="check")
    assert s.labels() == {f"p{i}": "pos" for i in range(4)}
    assert s.verify() == []
    with sqlite3.connect(str(path)) as c:
        assert c.execute("SELECT COUNT(*) FROM features").fetchone()[0] == 1


def test_sigkill_mid_stream_loses_no_acknowledged_answer(tmp_path):
    path = tmp_path / "labels.sqlite"
    rng = random.Random(7)
    recorded, undone = set(), set()
    for _ in range(6):
        p = start(WRITER, path, "killed", -1, 4)
        p.stdin.write("go\n")
        p.stdin.flush()
        out = "".join(p.stdout.readline() for _ in range(rng.randrange(5, 150)))
        time.sleep(rng.random() * 0.02)  # kill while it keeps writing
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        out += p.stdout.read()
        p.stdout.close()
        p.stdin.close()
        assert p.returncode == -signal.SIGKILL
        # every line it printed is an acknowledged call (a half-written last line is not)
        recorded |= _acked(out, "r")
        undone |= _acked(out, "u")
        assert integrity(path) == "ok"
    assert len(recorded) > 30 and undone
    with sqlite3.connect(str(path)) as c:
        rows = dict(c.execute("SELECT id, undone_at FROM answers"))
    assert recorded <= set(rows)
    assert all(rows[i] is not None for i in undone)
    s = LabelStore(path, "F1", annotator="killed", session="killed")   # the same session
    assert s.verify() == []
    latest = max(i for i, u in rows.items() if u is None)
    assert s.undo().id == latest  # the undo history survived the kills


def _acked(out: str, kind: str) -> set[int]:
    lines = out.split("\n")[:-1]  # drop a last line without its newline
    return {int(line.split()[1]) for line in lines if line.startswith(kind + " ")}


def test_lease_dies_with_its_process(tmp_path):
    path = tmp_path / "labels.sqlite"
    me = LabelStore(path, "F1", annotator="me")
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "x1,x2"
        assert me.leased_by_others() == {"x1", "x2"}
        assert me.claim(["x1", "x3"]) == ["x3"]
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
    # the ttl was 120 s, but its process is gone: the leases are free at once
    assert me.leased_by_others() == set()
    assert me.claim(["x1", "x2"]) == ["x1", "x2"]


def test_team_of_four_never_answers_an_item_twice(tmp_path):
    path = tmp_path / "labels.sqlite"
    n = 120
    LabelStore(path, "F1", annotator="setup").close()
    procs = [start(TEAM, path, f"person{i}", n) for i in range(4)]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    with sqlite3.connect(str(path)) as c:
        keys = [r[0] for r in c.execute("SELECT key FROM answers")]
        people = {r[0] for r in c.execute("SELECT DISTINCT annotator FROM answers")}
        leases = c.execute("SELECT COUNT(*) FROM leases").fetchone()[0]
    assert sorted(keys) == [f"item-{i:04d}" for i in range(n)]  # each exactly once
    assert len(people) == 4
    assert leases == 0
    assert integrity(path) == "ok"
