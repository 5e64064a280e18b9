"""A team on one labels file, end to end: four `annotate` processes in their own tmux
terminals (`--annotator p0..p3`) on the same features and labels file, answered in
parallel with keys, a round at a time.

What it shows, from the screens and the file read with plain SQL:
- at every moment the four screens show four different items (the lease), and no item
  is ever answered by two annotators;
- every answer is kept with its annotator, on the item that annotator's screen showed
  when the key was typed, and each undo marks that annotator's own latest answer;
- an answer by one is on the others' panels within seconds (the sampler polls the
  file), and every panel ends showing the team's counts, equal to the file's;
- the file passes `PRAGMA integrity_check`, and every lease is given back on quit.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from app_fixtures import make_pool, query_labels
from kill_fixtures import file_counts, integrity
from screen_fixtures import SETTLE_S, wait_ready
from ssh_fixtures import reap_marked
from tmux_fixtures import Tmux, annotate_cmd, counts

from tui.learn.sampler import default_labels_path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150),
              pytest.mark.skipif(shutil.which("tmux") is None,
                                 reason="tmux not installed (.ci/run installs it)")]

PEOPLE = 4
ANSWERS = 15
KIND = {"d": "pos", "a": "neg", "s": "skip"}


def key_plan(person: int) -> list[str]:
    """ANSWERS + 1 answers with one undo in the middle: ANSWERS answers standing."""
    keys = [("d", "a", "s", "a", "d")[(person + i) % 5] for i in range(ANSWERS + 1)]
    return keys[:8] + ["BSpace"] + keys[8:]


def test_four_annotators_in_parallel_share_one_labels_file(tmp_path):
    features, keys = make_pool(tmp_path / "pool", n_files=100, n_boxes=20)
    n = len(keys)
    labels_path = default_labels_path(features)
    names = [f"p{i}" for i in range(PEOPLE)]
    terms: list[Tmux] = []
    expected = {name: [] for name in names}      # (key, answer) standing, in order
    undone = {name: [] for name in names}
    try:
        for name in names:
            terms.append(Tmux(f"team-{name}", annotate_cmd(
                features, "--graphics", "unicode", "--annotator", name), 110, 32))
        rows = [wait_ready(t, timeout=90, what=f"{name}'s first item")[0]
                for t, name in zip(terms, names)]
        assert len(set(rows)) == PEOPLE, f"two people shown the same item at once: {rows}"
        plans = [key_plan(i) for i in range(PEOPLE)]
        t0 = time.monotonic()
        for step in range(len(plans[0])):
            for term, plan in zip(terms, plans):   # interleaved: everyone types, then looks
                term.keys(plan[step])
            new_rows = []
            for term, name, plan, row in zip(terms, names, plans, rows):
                key = plan[step]
                new, _ = wait_ready(term, timeout=30, unlike=row, settle=0,
                                    what=f"{name} to take {key!r} on item {row + 1}")
                if key == "BSpace":
                    undone[name].append(expected[name].pop())
                    assert keys[new] == undone[name][-1][0], \
                        f"{name}'s undo should show its own last item again"
                else:
                    expected[name].append((keys[row], KIND[key]))
                new_rows.append(new)
            rows = new_rows
            time.sleep(SETTLE_S)  # everyone looks at the new item before the next key
            assert len(set(rows)) == PEOPLE, f"step {step}: two people on one item: {rows}"
        answering_s = time.monotonic() - t0

        # one more answer by p0 alone: the others' panels take it in within seconds
        before = file_counts(labels_path, n)
        row_p0 = rows[0]
        terms[0].keys("d")
        rows[0], _ = wait_ready(terms[0], timeout=30, unlike=rows[0], settle=0,
                                what="p0's extra answer")
        expected["p0"].append((keys[row_p0], "pos"))
        want = file_counts(labels_path, n)
        assert want == (before[0] + 1, *before[1:3], before[3] - 1)
        t1 = time.monotonic()
        for term, name in zip(terms[1:], names[1:]):
            term.wait_for(lambda s: counts(s) == want, timeout=5,
                          what=f"{name}'s panel to show p0's answer {want}")
        seen_s = time.monotonic() - t1

        # settled: every panel shows the team's counts, equal to the file's
        assert want[:3] == tuple(sum(a == k for e in expected.values() for _, a in e)
                                 for k in ("pos", "neg", "skip"))
        t1 = time.monotonic()
        for term, name in zip(terms, names):
            term.wait_for(lambda s: counts(s) == want, timeout=5,
                          what=f"{name}'s panel to show the file's counts {want}")
        settle_s = time.monotonic() - t1

        for term in terms:
            term.keys("q")
        for term, name in zip(terms, names):
            term.wait_for(lambda s: "EXIT=0" in s, timeout=20, what=f"{name} to quit cleanly")
    finally:
        for term in terms:
            term.close()
        left = reap_marked(f"{tmp_path}/")
    assert left == [], f"annotate processes left running: {left}"

    log, shared, leases = query_labels(
        labels_path, "SELECT key, answer, annotator, undone_at FROM answers ORDER BY id",
        "SELECT key, GROUP_CONCAT(DISTINCT annotator) FROM answers "
        "GROUP BY key HAVING COUNT(DISTINCT annotator) > 1",
        "SELECT key, annotator FROM leases")
    assert shared == [], f"items answered by two annotators: {shared}"
    for name in names:
        standing = [(k, a) for k, a, who, u in log if who == name and u is None]
        assert standing == expected[name], f"{name}'s answers in the file"
        assert len(standing) == ANSWERS + (name == "p0") and len(undone[name]) == 1
        assert [(k, a) for k, a, who, u in log if who == name and u is not None] \
            == undone[name], f"{name}'s undo in the file"
    assert len(log) == PEOPLE * (ANSWERS + 1) + 1  # nothing else written
    assert leases == [], f"leases left after every app quit: {leases}"
    assert integrity(labels_path) == "ok"
    print(f"\n{PEOPLE} x {ANSWERS} answers in {answering_s:.1f} s; "
          f"p0's answer on the others' panels in {seen_s:.1f} s; settled in {settle_s:.1f} s")


def _app_pid(term: Tmux) -> int:
    """The `python -m tui` child of the pane's shell."""
    shell = term.pane_pid()
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == shell and b"tui" in cmdline and b"-m" in cmdline:
            return int(entry.name)
    raise AssertionError(f"no annotate process under the pane's shell {shell}")


def _lease_holders(labels_path) -> dict[str, str]:
    return dict(query_labels(labels_path, "SELECT key, annotator FROM leases")[0])


def _start(terms: list, features, name: str) -> Tmux:
    terms.append(Tmux(f"lease-{name}", annotate_cmd(
        features, "--graphics", "unicode", "--annotator", name), 110, 32))
    return terms[-1]


def _kill_app(term: Tmux) -> None:
    os.kill(_app_pid(term), signal.SIGKILL)  # no chance to let go of its leases
    term.wait_for(lambda s: "EXIT=" in s, timeout=10, what="the killed app's shell to go on")


def test_a_lease_dies_with_its_process(tmp_path):
    """p0 leases the whole (small) pool, so nothing is free; p0 is killed with SIGKILL and
    its leases stay in the file; p2, started next, is shown one of p0's items at once and
    the dead process's leases are gone."""
    features, keys = make_pool(tmp_path / "pool", n_files=4, n_boxes=2)
    labels_path = default_labels_path(features)
    terms: list[Tmux] = []
    try:
        x, _ = wait_ready(_start(terms, features, "p0"), timeout=60, settle=0,
                          what="p0's first item")
        held = _lease_holders(labels_path)
        assert held == {k: "p0" for k in keys}, \
            f"precondition: p0 leases the whole pool of {len(keys)} (it holds {held})"
        _kill_app(terms[0])
        assert _lease_holders(labels_path) == held, "the dead process's leases are in the file"
        z, _ = wait_ready(_start(terms, features, "p2"), timeout=60, settle=0,
                          what="p2 to be shown an item the dead p0 held")
        holders = _lease_holders(labels_path)
        assert holders.get(keys[z]) == "p2" and "p0" not in holders.values(), holders
    finally:
        for term in terms:
            term.close()
        left = reap_marked(f"{tmp_path}/")
    assert left == [], f"annotate processes left running: {left}"
    assert integrity(labels_path) == "ok"


def test_a_waiting_teammate_takes_up_a_dead_teammates_items(tmp_path):
    """p0 leases the whole pool; p1, running, has nothing to show. p0 is killed: within
    seconds p1 should be shown one of its items, and meanwhile never claim that every item
    has an answer (they are on someone's screen, not answered)."""
    features, keys = make_pool(tmp_path / "pool", n_files=4, n_boxes=2)
    labels_path = default_labels_path(features)
    terms: list[Tmux] = []
    problems = []
    try:
        wait_ready(_start(terms, features, "p0"), timeout=60, settle=0, what="p0's first item")
        assert _lease_holders(labels_path) == {k: "p0" for k in keys}, "precondition"
        p1 = _start(terms, features, "p1")
        waiting = p1.wait_for(lambda s: counts(s) is not None, timeout=60, what="p1's panel")
        time.sleep(2)
        waiting = p1.screen()
        if "Every item has an answer" in waiting and counts(waiting)[3] > 0:
            problems.append(f"p1 says every item has an answer with {counts(waiting)[3]} left")
        _kill_app(terms[0])
        try:
            wait_ready(p1, timeout=8, settle=0, what="p1 to take up a dead teammate's item")
        except AssertionError:
            problems.append(f"8 s after p0 was killed p1 shows no item; leases in the file: "
                            f"{sorted(set(_lease_holders(labels_path).values()))}")
    finally:
        for term in terms:
            term.close()
        reap_marked(f"{tmp_path}/")
    assert problems == []


ZOMBIE = r"""
import os, sys
from tui.store.labels import LabelStore
s = LabelStore(sys.argv[1], "F1", annotator="zombie")
print(",".join(s.claim(["z1", "z2"], ttl=120)), flush=True)
os._exit(0)   # ends without letting go, as a SIGHUP or SIGKILL would
"""


def test_an_ended_but_unreaped_process_holds_no_lease(tmp_path):
    """The parent here does not reap its child at once, as a container's PID 1 may never
    do: the ended child's leases should be dead all the same."""
    import subprocess
    import sys

    from tui.store.labels import LabelStore

    path = tmp_path / "labels.sqlite"
    child = subprocess.Popen([sys.executable, "-c", ZOMBIE, str(path)],
                             stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).parents[1]))
    try:
        assert child.stdout.readline().strip() == "z1,z2"
        t0 = time.monotonic()
        while not open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            assert time.monotonic() - t0 < 10, "the child did not end"
            time.sleep(0.05)
        with LabelStore(path, "F1", annotator="teammate") as store:
            assert store.leased_by_others() == set()
            assert store.claim(["z1"]) == ["z1"]
    finally:
        child.stdout.close()
        child.wait(timeout=10)
