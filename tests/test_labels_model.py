"""Random record / undo / reopen sequences by two annotators, checked against a pure-Python
model of the log: the store must agree on labels, counts, the last answers and undo."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tui.store.labels import ANSWERS, LabelStore

PEOPLE = ("ann", "bob")
KEYS = st.sampled_from([f"k{i}" for i in range(6)])


class LabelLog(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="labels-model-"))
        self.path = self.dir / "labels.sqlite"
        # one named session per person: a reopen continues it, so undo reaches back
        self.stores = {p: LabelStore(self.path, "F1", annotator=p, session=p) for p in PEOPLE}
        self.log: list[dict] = []  # the model: every answer, in order

    def teardown(self):
        for s in self.stores.values():
            s.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- the model --
    def expected_labels(self):
        out = {}
        for row in self.log:
            if not row["undone"]:
                out[row["key"]] = row["answer"]
        return out

    # -- rules --
    @rule(who=st.sampled_from(PEOPLE), key=KEYS, answer=st.sampled_from(ANSWERS),
          prob=st.none() | st.floats(0, 1), version=st.none() | st.integers(0, 10**6))
    def record(self, who, key, answer, prob, version):
        a = self.stores[who].record(key, answer, prob=prob, model_version=version,
                                    strategy="random")
        assert (a.key, a.answer, a.annotator, a.prob, a.model_version) == \
            (key, answer, who, prob, version)
        assert not self.log or a.id > self.log[-1]["id"]
        self.log.append(dict(id=a.id, key=key, answer=answer, who=who, undone=False))

    @rule(who=st.sampled_from(PEOPLE))
    def undo(self, who):
        mine = [r for r in self.log if r["who"] == who and not r["undone"]]
        got = self.stores[who].undo()
        if not mine:
            assert got is None
            return
        assert got is not None and got.id == mine[-1]["id"] and got.undone_at is not None
        mine[-1]["undone"] = True

    @precondition(lambda self: self.log)
    @rule(who=st.sampled_from(PEOPLE))
    def reopen(self, who):
        self.stores[who].close()
        self.stores[who] = LabelStore(self.path, "F1", annotator=who, session=who)

    # -- what must always hold --
    @invariant()
    def labels_agree(self):
        want = self.expected_labels()
        for s in self.stores.values():
            assert s.labels() == want
        counts = {a: sum(1 for v in want.values() if v == a) for a in ANSWERS}
        counts["answered"] = len(want)
        assert self.stores["ann"].counts() == counts

    @invariant()
    def log_agrees(self):
        s = self.stores["bob"]
        standing = [r["id"] for r in self.log if not r["undone"]]
        assert [a.id for a in s.last(4)] == standing[::-1][:4]
        assert [a.id for a in s.last(3, annotator="ann")] == \
            [r["id"] for r in self.log if not r["undone"] and r["who"] == "ann"][::-1][:3]
        assert [a.id for a in s.answers()] == standing
        every = s.answers(include_undone=True)
        assert [a.id for a in every] == [r["id"] for r in self.log]
        assert [a.undone_at is not None for a in every] == [r["undone"] for r in self.log]

    @invariant()
    def current_table_matches_log(self):
        assert self.stores["ann"].verify() == []


LabelLog.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestLabelLog = LabelLog.TestCase

