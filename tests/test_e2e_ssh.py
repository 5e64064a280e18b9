"""End to end over SSH: `annotate` started through `ssh -t` to a loopback sshd, inside
tmux; answers typed with send-keys travel through the ssh client and server ptys; the
screen's counts follow them, and the labels file (read with plain SQL) holds each answer
with its annotator and the undo marked."""

from __future__ import annotations

import shlex
import sys
import time

import pytest
from app_fixtures import current_labels, make_pool, query_labels
from kill_fixtures import integrity
from screen_fixtures import wait_ready
from ssh_fixtures import LoopbackSSHD, marked_pids, missing_binaries, reap_marked
from tmux_fixtures import ROOT, Tmux

from tui.store.features import FeatureFile
from tui.store.labels import LabelStore
from tui.learn.sampler import default_labels_path

MISSING = missing_binaries()
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120),
              pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


@pytest.fixture
def sshd(tmp_path):
    server = LoopbackSSHD(tmp_path / "ssh")
    try:
        yield server
    finally:
        server.stop()


def test_annotate_through_ssh_t_in_tmux(tmp_path, sshd):
    features, keys = make_pool(tmp_path / "pool", n_files=10, n_boxes=4)
    n = len(keys)
    labels_path = default_labels_path(features)
    # Absolute paths only: the remote login shell has its own PATH and no env of ours.
    app = shlex.join([sys.executable, "-m", "tui", str(features), "--graphics", "halfcell",
                      "--annotator", "sshuser"])
    remote = f"cd {shlex.quote(str(ROOT))} && HF_HUB_OFFLINE=1 {app}; echo REMOTE_EXIT=$?"
    term = Tmux("ssh", f"{sshd.command(remote)}; echo SSH_EXIT=$?; sleep 30", 120, 40)
    try:
        row, start = wait_ready(term, what="the first item over ssh")
        assert start == (0, 0, 0, n)
        shown = [keys[row]]
        assert "Accepted publickey" in sshd.log_text(), sshd.log_text()
        steps = [("d", (1, 0, 0, n - 1)), ("a", (1, 1, 0, n - 2)), ("s", (1, 1, 1, n - 3)),
                 ("d", (2, 1, 1, n - 4)), ("BSpace", (1, 1, 1, n - 3)), ("a", (1, 2, 1, n - 4))]
        for key, want in steps:
            term.keys(key)
            row, _ = wait_ready(term, timeout=20, unlike=row, want=lambda c: c == want,
                                what=f"counts {want} and another item after {key}")
            shown.append(keys[row])
        term.keys("q")
        end = term.wait_for(lambda s: "SSH_EXIT=" in s, timeout=20, what="the app and ssh to end")
        assert "REMOTE_EXIT=0" in end and "SSH_EXIT=0" in end, end
    finally:
        term.close()
        sshd.stop()
        left = reap_marked(f"{tmp_path}/")
    assert left == [], f"processes still running after tmux and sshd ended: {left}"

    [rows] = query_labels(labels_path, "SELECT key, answer, annotator, undone_at FROM answers "
                                       "ORDER BY id")
    assert [(a, u is not None) for _, a, _, u in rows] == [
        ("pos", False), ("neg", False), ("skip", False), ("pos", True), ("neg", False)], rows
    assert {who for _, _, who, _ in rows} == {"sshuser"}
    assert len({k for k, *_ in rows}) == 4          # four items; the undone one answered again
    assert rows[3][0] == rows[4][0], "the undone item is the one shown next"
    # each answer went to the item the screen showed when its key was typed
    answered = [shown[i] for i, (key, _) in enumerate(steps) if key != "BSpace"]
    assert [k for k, *_ in rows] == answered
    assert shown[5] == shown[3], "after the undo the screen shows the undone item again"
    assert set(k for k, *_ in rows) <= set(keys)
    labels = current_labels(labels_path)
    assert sorted(labels.values()) == ["neg", "neg", "pos", "skip"]
    assert integrity(labels_path) == "ok"


def _lease_pids(labels_path, keys) -> set[int]:
    [rows] = query_labels(labels_path, "SELECT key, pid FROM leases")
    return {pid for key, pid in rows if key in keys}


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie waiting for its parent."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _remote(features, annotator: str) -> str:
    app = shlex.join([sys.executable, "-m", "tui", str(features), "--graphics", "halfcell",
                      "--annotator", annotator])
    return f"cd {shlex.quote(str(ROOT))} && HF_HUB_OFFLINE=1 {app}"


def test_a_dropped_ssh_session_ends_the_app_and_frees_its_items(tmp_path, sshd):
    """The connection drops (the terminal holding ssh is gone): the remote `annotate` ends
    by itself within seconds (an orphan would hold its leases, renewing them, forever),
    the answer it acknowledged is in the file, and no live lease is left."""
    features, keys = make_pool(tmp_path / "pool", n_files=10, n_boxes=4)
    labels_path = default_labels_path(features)
    term = Tmux("drop", sshd.command(_remote(features, "dropper")), 120, 40)
    app = f"{features} --graphics"   # in the command lines of ssh, the remote shell, the app
    try:
        row, _ = wait_ready(term, what="the first item over ssh")
        term.keys("d")
        wait_ready(term, timeout=20, unlike=row, settle=0, what="the answer acknowledged")
        [[(held,)]] = query_labels(labels_path,
                                   "SELECT COUNT(*) FROM leases WHERE annotator = 'dropper'")
        assert held > 0, "the app on screen holds leases"
        assert marked_pids(app), "the remote app is running"
    finally:
        term.close()                      # the ssh client dies with its terminal
    try:
        t0 = time.monotonic()
        while marked_pids(app) and time.monotonic() - t0 < 10:
            time.sleep(0.1)
        still = marked_pids(app)
        assert still == [], f"remote annotate still running 10 s after the drop: {still}"
    finally:
        sshd.stop()
        reap_marked(f"{tmp_path}/")
    with FeatureFile(str(features)) as f:
        fid = f.id
    store = LabelStore(labels_path, fid, annotator="checker")
    try:
        live = store.leased_by_others()
        # A zombie counts as gone: where PID 1 does not reap orphans (containers, this CI)
        # the ended app stays a zombie, and its leases must be dead all the same.
        owners = _lease_pids(labels_path, live)
        assert all(_gone(pid) for pid in owners), \
            f"a dropped session's process still runs and holds {len(live)} items: {owners}"
        assert live == set(), f"a dropped session still holds {len(live)} items"
        assert [(a.answer, a.annotator) for a in store.answers()] == [("pos", "dropper")]
    finally:
        store.close()
    assert integrity(labels_path) == "ok"
