"""The sampler with teammates: two annotators in one process and in two, and leases that
run out. What a team shares is the labels file; these check that no item is shown to two
people, that each sees the other's answers, and that a starved sampler takes up freed items."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.h5fixtures import sampler_pool as make_pool
from tui.learn.sampler import Sampler, default_labels_path
from tui.store.labels import LabelStore


def test_two_annotators_never_share_an_item_and_see_each_others_answers(tmp_path):
    keys, truth = make_pool(tmp_path / "f.h5", n=120)
    a = Sampler(tmp_path / "f.h5", annotator="alice", poll=0.1, seed=1)
    b = Sampler(tmp_path / "f.h5", annotator="bob", poll=0.1, seed=1)   # same seed on purpose
    try:
        for _ in range(25):
            ka, kb = a.next(), b.next()
            assert ka != kb, "two annotators were shown the same item"
            assert kb not in a.peek(8) and ka not in b.peek(8)
            a.record(ka, bool(truth[ka]))
            b.record(kb, bool(truth[kb]))
        a.wait_idle(), b.wait_idle()
        import time
        deadline = time.time() + 5
        while time.time() < deadline and (a.stats()["answered"] < 50 or b.stats()["answered"] < 50):
            time.sleep(0.1)
        assert a.stats()["answered"] == b.stats()["answered"] == 50
        assert {x.annotator for x in a.store.answers()} == {"alice", "bob"}
    finally:
        a.close(), b.close()


CHILD = """
import sys, time
from tui.learn.sampler import Sampler
s = Sampler(sys.argv[1], annotator="bob", poll=0.1, seed=0)
for _ in range(int(sys.argv[2])):
    k = s.next()
    print(k, flush=True)
    time.sleep(0.01)
    s.record(k, hash(k) % 3 == 0)
s.close()
"""


@pytest.mark.slow
def test_two_processes_share_a_labels_file(tmp_path):
    import subprocess
    import sys
    import time
    keys, truth = make_pool(tmp_path / "f.h5", n=200)
    a = Sampler(tmp_path / "f.h5", annotator="alice", poll=0.1, seed=0)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "f.h5"), "30"],
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    try:
        mine = []
        for _ in range(30):
            k = a.next()
            mine.append(k)
            a.record(k, bool(truth[k]))
            time.sleep(0.01)
        theirs = child.communicate(timeout=120)[0].split()
        assert child.returncode == 0 and len(theirs) == 30, (child.returncode, theirs)
        assert not set(mine) & set(theirs), f"shown in both processes: {set(mine) & set(theirs)}"
        deadline = time.time() + 15
        while time.time() < deadline and a.stats()["answered"] < 60:
            time.sleep(0.1)
        assert a.stats()["answered"] == 60, a.stats()          # bob's answers reached alice
        a.wait_idle()
        assert a.store.leased_by_others() == set()             # bob released his leases
    finally:
        child.kill()
        a.close()


def test_a_starving_sampler_takes_up_items_whose_leases_ran_out(tmp_path):
    """Every free item is on a teammate's screen: nothing to show, and no answer will come to
    trigger a re-rank. When those leases run out, the sampler must notice by itself."""
    from tui.store.features import FeatureFile

    keys, truth = make_pool(tmp_path / "f.h5", n=6, share=0.5)
    with FeatureFile(str(tmp_path / "f.h5")) as f:
        fid = f.id
    other = LabelStore(default_labels_path(tmp_path / "f.h5"), features_id=fid, annotator="b")
    try:
        assert sorted(other.claim(keys, ttl=2.0)) == sorted(keys)   # b holds the whole pool
        with Sampler(tmp_path / "f.h5", annotator="c", poll=0.1) as c:
            assert c.next() is None and c.stats()["left"] == 6
            c.wait_idle(10)
            ranks, rebuild = [], c._rebuild
            c._rebuild = lambda **kw: (ranks.append(kw), rebuild(**kw))[1]
            other.claim(keys, ttl=2.0)   # renewed (the same leases): start-up may be slow
            time.sleep(0.5)          # five polls, the same leases: no pass over the pool
            assert ranks == [] and c.next() is None
            deadline = time.monotonic() + 15
            got = None
            while got is None and time.monotonic() < deadline:
                time.sleep(0.1)
                got = c.next()
            assert got in keys, "the sampler never took up the freed items"
    finally:
        other.close()
