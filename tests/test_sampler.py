"""The Sampler through its real path: an HDF5 features file, a SQLite labels file, the
background thread. Invariants under random sequences (hypothesis), reopening, a team."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.h5fixtures import sampler_pool as make_pool
from tests.h5fixtures import write_features
from tui.store.labels import LabelStore
from tui.learn.sampler import Sampler, default_labels_path


class SamplerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="sampler-sm-"))
        self.keys, self.truth = make_pool(self.dir / "f.h5")
        self.s = Sampler(self.dir / "f.h5", seed=0, poll=0.2, random_share=0.2,
                         session="machine")
        self.answered: dict[str, str] = {}    # our model of the labels file
        self.history: list[tuple[str, dict]] = []   # (key answered, labels before)
        self.version = 0
        self.checker = LabelStore(default_labels_path(self.dir / "f.h5"), self.s.features.id,
                                  annotator="checker")

    def teardown(self):
        self.s.close()
        self.checker.close()

    def _labels_now(self):
        return dict(self.s.store.labels())

    @precondition(lambda self: len(self.answered) < len(self.keys))
    @rule(kind=st.sampled_from(["truth", "pos", "neg", "skip"]))
    def answer(self, kind):
        key = self.s.next()
        assert key is not None and key not in self.answered, "an answered item was shown again"
        before = self._labels_now()
        ans = {"truth": bool(self.truth[key]), "pos": True, "neg": False, "skip": None}[kind]
        self.s.record(key, ans)
        self.answered[key] = {True: "pos", False: "neg", None: "skip"}[ans]
        self.history.append((key, before))

    @rule()
    def undo(self):
        key = self.s.undo()
        if not self.history:
            assert key is None
            return
        want_key, before = self.history.pop()
        assert key == want_key
        self.answered.pop(key)
        assert self._labels_now() == before, "undo did not restore the labels"
        assert self.s.next() == key, "the undone item is not shown again"

    @rule(strategy=st.sampled_from(["entropy", "maxprob", "random", "similar"]),
          goal=st.sampled_from(["pos", "neg"]))
    def switch(self, strategy, goal):
        if strategy == "similar":
            self.s.set_strategy("similar", anchor=self.keys[3])
        else:
            self.s.set_strategy(strategy, target=goal)
        assert self.s.stats()["strategy"] == strategy

    @rule(row=st.integers(0, 79))
    def more_like(self, row):
        """Neighbours mixed in (tui.learn.seeding): the strategy stays, every invariant holds."""
        before = self.s.stats()["strategy"]
        self.s.more_like(self.keys[row])
        assert self.s.stats()["strategy"] == before
        assert self.s.stats()["mixed_in"]["left"] > 0

    @rule()
    def wait(self):
        self.s.wait_idle(timeout=30)
        v = self.s.model_version           # None while one class is missing (after an undo)
        if v is not None:
            assert v >= self.version, "model versions went back"
            self.version = v
        have = {a for a in self.answered.values()}
        if {"pos", "neg"} <= have:
            assert self.s.model_version is not None and self.s.predict_proba() is not None

    @rule()
    def reopen(self):
        shown = self.s.next()
        self.s.close()
        self.s = Sampler(self.dir / "f.h5", seed=1, poll=0.2, session="machine")  # undo goes on
        assert self._labels_now() == self.answered
        # a new process numbers its models above every version stored with an answer
        self.version = max([a.model_version or 0 for a in self.s.store.answers()] + [0])
        # undo history survives: the store knows our latest answer
        if self.history:
            last = self.s.store.last(1)[0].key
            assert last == self.history[-1][0]
        nxt = self.s.next()
        assert nxt is None or nxt not in self.answered
        del shown

    @invariant()
    def counts_match_the_labels_file(self):
        st_ = self.s.stats()
        c = self.checker.counts()
        assert self.checker.labels() == self.answered
        assert {k: st_[k] for k in c} == c
        assert st_["left"] == len(self.keys) - len(self.answered)


TestSamplerMachine = SamplerMachine.TestCase
TestSamplerMachine.settings = settings(max_examples=12, stateful_step_count=25, deadline=None,
                                       suppress_health_check=list(HealthCheck))


def test_every_item_shown_once_then_none(tmp_path):
    keys, truth = make_pool(tmp_path / "f.h5", n=40)
    with Sampler(tmp_path / "f.h5", poll=0.1) as s:
        seen = []
        for _ in range(40):
            k = s.next()
            assert k not in seen
            assert s.next() == k                   # stable until answered
            seen.append(k)
            s.record(k, bool(truth[k]))
        assert s.next() is None and sorted(seen) == sorted(keys)
        assert s.stats()["left"] == 0


def test_records_prob_version_and_strategy(tmp_path):
    keys, truth = make_pool(tmp_path / "f.h5", n=200, share=0.3)
    with Sampler(tmp_path / "f.h5", strategy="maxprob", random_share=0.0, poll=0.1) as s:
        while s.stats()["pos"] == 0 or s.stats()["neg"] == 0:
            k = s.next()
            a = s.record(k, bool(truth[k]))
            assert a.strategy in ("coldstart", "random") and a.prob is None
            s.wait_idle()
        s.wait_idle()
        k = s.next()
        p = s.proba(k)
        a = s.record(k, bool(truth[k]))
        assert a.strategy == "maxprob" and a.prob == pytest.approx(p) and a.model_version >= 1
        assert s.predict_proba([k])[0] == pytest.approx(p)
        assert len(s.peek(3)) == 3 and k not in s.peek(8)
        with pytest.raises(ValueError, match="answer must be True"):
            s.record(s.next(), "yes")
        with pytest.raises(KeyError, match="not in"):
            s.record("nokey", True)
        with pytest.raises(ValueError, match="strategy must be one of"):
            s.set_strategy("best")


def test_maxprob_finds_positives_and_the_target_swap_finds_negatives(tmp_path):
    keys, truth = make_pool(tmp_path / "f.h5", n=600, d=8, share=0.1)
    with Sampler(tmp_path / "f.h5", strategy="maxprob", random_share=0.0, poll=0.1) as s:
        for _ in range(60):
            k = s.next()
            s.record(k, bool(truth[k]))
            s.wait_idle()
        got = s.stats()["pos"]
        assert got >= 20, got                      # random finds ~6 in 60 answers (10%)
        st_ = s.stats()
        assert st_["positives_left"] is not None and 0 < st_["positives_left"] < 200
        s.set_strategy("maxprob", target="neg")
        s.wait_idle()
        picks = [s.next()]
        assert not any(truth[k] for k in picks) and s.proba(picks[0]) > 0.5


def test_reopening_continues_model_versions_and_state(tmp_path):
    keys, truth = make_pool(tmp_path / "f.h5", n=100, share=0.3)
    s = Sampler(tmp_path / "f.h5", poll=0.1, session="one")
    for _ in range(12):
        k = s.next()
        s.record(k, bool(truth[k]))
        s.wait_idle()
    v, labels = s.model_version, s.store.labels()
    s.next()                                   # an item on screen (leased) at close
    s.close()
    s = Sampler(tmp_path / "f.h5", poll=0.1, session="one")   # the same session: undo reaches back
    s.wait_idle()
    # versions go on above every version stored with an answer
    assert s.store.labels() == labels and v is not None
    assert s.model_version > max(x.model_version or 0 for x in s.store.answers())
    assert s.next() not in labels
    assert s.undo() in labels and s.stats()["answered"] == len(labels) - 1
    s.close()


def test_prequential_accuracy_of_random_picks_is_near_held_out(tmp_path):
    rng = np.random.default_rng(3)
    n, d = 3000, 8
    w = rng.standard_normal(d)
    X = rng.standard_normal((n, d))
    y = (X @ w / np.linalg.norm(w) + 0.5 * rng.standard_normal(n)) > 0.3
    keys = write_features(tmp_path / "f.h5", X)
    truth = dict(zip(keys, y))
    with Sampler(tmp_path / "f.h5", strategy="random", poll=0.05) as s:
        for i in range(450):
            k = s.next()
            s.record(k, bool(truth[k]))
            if i % 15 == 0:
                s.wait_idle()
        s.wait_idle()
        p = s.predict_proba()
        unlabelled = s._answered == False   # noqa: E712  (items the model never saw)
        held_out = np.mean((p[unlabelled] >= 0.5) == y[unlabelled])
        est = s.stats()["last500"]
        assert est["n"] > 400 and abs(est["accuracy"] - held_out) < 0.07, (est, held_out)


def test_above_the_full_scan_limit_a_sample_is_scored(tmp_path, monkeypatch):
    import tui.learn.ranking as mod
    monkeypatch.setattr(mod, "FULL_SCAN_MAX", 100)
    monkeypatch.setattr(mod, "SAMPLE_ROWS", 60)
    keys, truth = make_pool(tmp_path / "f.h5", n=300, share=0.3)
    with Sampler(tmp_path / "f.h5", strategy="maxprob", poll=0.1) as s:
        for _ in range(20):
            k = s.next()
            s.record(k, bool(truth[k]))
            s.wait_idle()
        p = s.predict_proba()
        scored = ~np.isnan(p)
        sample = s._ranker.sample
        assert 30 < len(sample) <= 60 and scored[sample].all()  # a fresh random sample,
        assert scored.sum() < 300                              # and the positives' neighbours
        s.next()
        queued = [s.features.index_of(k) for k in s.peek(5)]
        assert queued and scored[queued].all()                 # ranked within the sample
        assert s.stats()["positives_left"] > 0


FINISH_ROWS = """
import sys, h5py
with h5py.File(sys.argv[1], "a", locking=False) as w:
    w["status"][:] = 1
    w.attrs["complete"] = True
"""


def test_rows_featurized_while_annotating_join_the_pool(tmp_path, monkeypatch):
    import subprocess
    import sys
    import tui.learn.queue_builder as mod
    monkeypatch.setattr(mod, "REFRESH_S", 0.1)
    rng = np.random.default_rng(0)
    status = np.zeros(60, np.int8)
    status[:20] = 1
    keys = write_features(tmp_path / "f.h5", rng.standard_normal((60, 8)), status=status,
                          complete=False)
    with Sampler(tmp_path / "f.h5", strategy="random", poll=0.1) as s:
        shown = []
        for _ in range(20):
            k = s.next()
            shown.append(k)
            s.record(k, None)
        assert set(shown) == set(keys[:20]) and s.next() is None   # pending rows never shown
        subprocess.run([sys.executable, "-c", FINISH_ROWS, str(tmp_path / "f.h5")], check=True)
        import time
        deadline = time.time() + 10
        while s.next() is None and time.time() < deadline:
            time.sleep(0.1)
        assert s.next() in keys[20:] and s.stats()["left"] == 40


def test_keep_ahead_keeps_prepared_picks_through_a_refit(tmp_path):
    """The TUI prepares the next picks while the person looks: with keep_ahead, a new
    model keeps them in front, and the item on screen is never among them."""
    keys, truth = make_pool(tmp_path / "f.h5", n=300, share=0.3)
    with pytest.raises(ValueError, match="keep_ahead"):
        Sampler(tmp_path / "f.h5", keep_ahead=9, queue_size=8)
    with Sampler(tmp_path / "f.h5", random_share=0.0, poll=0.1, keep_ahead=2) as s:
        while s.stats()["pos"] == 0 or s.stats()["neg"] == 0:
            k = s.next()
            s.record(k, bool(truth[k]))
            s.wait_idle()
        for _ in range(15):
            shown = s.next()
            prepared = s.peek(2)
            assert shown not in prepared
            s.record(shown, bool(truth[shown]))
            s.wait_idle()                         # a refit and a new ranking
            assert s.next() == prepared[0]        # what was prepared is what comes
            assert s.next() not in s.peek(8)
    with Sampler(tmp_path / "f.h5", random_share=0.0, poll=0.1) as s:   # keep_ahead=0
        k = s.next()
        s.record(k, bool(truth[k]))
        s.wait_idle()
        ranked = s.peek(8)
        assert s.next() == ranked[0] or s.next() not in ranked[1:]


def test_the_first_model_does_not_wait_for_imports(tmp_path):
    """scikit-learn and torch (2-3 s of CPU together) are imported by the sampler's thread
    at start, before any answer, not by the first fit: that fit comes right after the
    first positive and negative, when the person wants to see the model."""
    import subprocess
    import sys
    make_pool(tmp_path / "f.h5", n=40)
    code = ("import sys; from tui.learn.sampler import Sampler\n"
            f"s = Sampler({str(tmp_path / 'f.h5')!r}, poll=0.1)\n"
            "assert s.wait_idle(120)\n"
            "print(s.stats()['answered'], 'sklearn.linear_model' in sys.modules, 'torch' in sys.modules)\n"
            "s.close()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "True", "True"], out.stdout
