"""The label store on real SQLite files: answers, undo, identity, errors, leases, full disk."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest
from disk_fixtures import small_tmpfs

from tui.store.labels import ANSWERS, Answer, LabelsError, LabelsMismatch, LabelStore
from tui.store.labels_schema import SCHEMA_VERSION


@pytest.fixture
def path(tmp_path):
    return tmp_path / "labels.sqlite"


def raw(path):
    """A plain sqlite3 connection, to look at the file without our code."""
    return sqlite3.connect(str(path))


# ---- answers ------------------------------------------------------------------------------

def test_record_labels_counts_last(path):
    s = LabelStore(path, "F1", annotator="alice")
    a = s.record("k1", "pos", prob=0.73, model_version=5, strategy="entropy")
    assert isinstance(a, Answer)
    assert (a.key, a.answer, a.annotator, a.prob, a.model_version, a.strategy, a.undone_at) == \
        ("k1", "pos", "alice", 0.73, 5, "entropy", None)
    assert abs(a.time - time.time()) < 60
    s.record("k2", "neg")
    s.record("k3", "skip", prob=0.5)
    s.record("k1", "neg")  # a later answer replaces the label
    assert s.labels() == {"k1": "neg", "k2": "neg", "k3": "skip"}
    assert s.counts() == {"pos": 0, "neg": 2, "skip": 1, "answered": 3}
    assert [x.key for x in s.last(2)] == ["k1", "k3"]
    assert [x.key for x in s.last()] == ["k1", "k3", "k2", "k1"]
    assert [x.id for x in s.answers()] == sorted(x.id for x in s.answers())
    assert s.answers()[0] == a
    assert s.verify() == []
    s.close()
    # durable: another connection sees every row
    with raw(path) as c:
        assert c.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 4
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_meta_records_version_created_and_features_id(path):
    LabelStore(path, "F1", annotator="a").close()
    with raw(path) as c:
        meta = dict(c.execute("SELECT name, value FROM meta"))
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["features_id"] == "F1"
    assert meta["created"].startswith("20")


def test_annotator_defaults_to_the_login_name(path, monkeypatch):
    import getpass
    import pwd

    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("USER", "carol")
    assert LabelStore(path, "F1").record("k", "pos").annotator == "carol"
    monkeypatch.delenv("USER")   # no variable: the password database, as getpass does
    expected = pwd.getpwuid(os.getuid()).pw_name
    assert getpass.getuser() == expected
    assert LabelStore(path, "F1").record("k", "pos").annotator == expected


def test_undo_restores_previous_label_and_deletes_nothing(path):
    s = LabelStore(path, "F1", annotator="alice")
    first = s.record("k", "pos")
    second = s.record("k", "neg")
    undone = s.undo()
    assert undone.id == second.id and undone.undone_at is not None
    assert s.labels() == {"k": "pos"}
    assert s.undo().id == first.id
    assert s.labels() == {} and s.counts()["answered"] == 0
    assert s.undo() is None
    assert [x.id for x in s.answers(include_undone=True)] == [first.id, second.id]
    assert all(x.undone_at is not None for x in s.answers(include_undone=True))
    assert s.answers() == [] and s.last() == []
    assert len(s.history("k")) == 2


def test_undo_history_survives_reopen_many_levels(path):
    s = LabelStore(path, "F1", annotator="alice", session="alice-mon")
    ids = [s.record(f"k{i}", ANSWERS[i % 3]).id for i in range(12)]
    s.close()
    assert LabelStore(path, "F1", annotator="alice").undo() is None  # another session: not its
    for expected in reversed(ids):
        s = LabelStore(path, "F1", annotator="alice", session="alice-mon")  # a restart each time
        assert s.undo().id == expected
        s.close()
    s = LabelStore(path, "F1", annotator="alice", session="alice-mon")
    assert s.undo() is None
    assert s.labels() == {}
    assert len(s.answers(include_undone=True)) == 12


def test_undo_of_one_annotator_leaves_another_alone(path):
    alice = LabelStore(path, "F1", annotator="alice")
    bob = LabelStore(path, "F1", annotator="bob")
    alice.record("shared", "pos")
    bob.record("shared", "neg")
    alice.record("a-only", "pos")
    bob.record("b-only", "skip")
    assert alice.undo().key == "a-only"
    assert alice.undo().key == "shared"  # alice's answer, not bob's later one
    assert alice.labels() == {"shared": "neg", "b-only": "skip"}
    assert [x.annotator for x in bob.last()] == ["bob", "bob"]
    assert [x.key for x in alice.last(annotator="bob")] == ["b-only", "shared"]
    assert alice.last(annotator="alice") == []
    assert bob.undo().key == "b-only"
    assert bob.undo().key == "shared"
    assert bob.labels() == {}


def test_changed_sees_other_writers_not_ourselves_nor_leases(path):
    a = LabelStore(path, "F1", annotator="a")
    b = LabelStore(path, "F1", annotator="b")
    assert not a.changed()
    b.record("k1", "pos")
    assert a.changed()
    assert not a.changed()
    a.record("k2", "pos")
    assert not a.changed()
    b.claim(["k3"])
    assert not a.changed()
    b.record("k3", "neg")
    a.record("k4", "neg")  # our write after theirs must not hide theirs
    assert a.changed()
    b.undo()
    assert a.changed()
    assert a.labels() == {"k1": "pos", "k2": "pos", "k4": "neg"}


def test_labels_cache_follows_other_writers(path):
    a = LabelStore(path, "F1", annotator="a")
    b = LabelStore(path, "F1", annotator="b")
    a.record("k", "pos")
    assert a.labels() == {"k": "pos"}
    got = a.labels()
    got["x"] = "neg"  # the caller owns the returned dict
    b.record("k", "neg")
    assert a.labels() == {"k": "neg"}
    b.undo()
    assert a.labels() == {"k": "pos"}


def test_keys_are_data_never_sql(path):
    s = LabelStore(path, "F1", annotator="a")
    odd = ["a b", "ü/日本.jpg|1.0,2.0,3.0,4.0", "line\nbreak", "'; DROP TABLE answers; --", "%", "?"]
    for k in odd:
        s.record(k, "neg")
    assert s.labels() == {k: "neg" for k in odd}
    assert s.claim(odd) == odd


def test_one_store_shared_by_threads(path):
    """The app records on the UI thread while the sampler reads in a worker thread."""
    s = LabelStore(path, "F1", annotator="a")
    errors, seen = [], []

    def reader():
        try:
            while len(seen) < 2 or seen[-1] < 200:
                seen.append(len(s.labels()))
                assert s.counts()["answered"] >= seen[-1]
        except Exception as exc:  # reported below, in the main thread
            errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        s.record(f"k{i}", ANSWERS[i % 3])
    t.join(timeout=60)
    assert not errors and not t.is_alive()
    assert seen == sorted(seen) and seen[-1] == 200
    assert s.verify() == []


# ---- arguments ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, word", [
    (dict(key="k", answer="maybe"), "maybe"),
    (dict(key="k", answer="POS"), "POS"),
    (dict(key="", answer="pos"), "key"),
    (dict(key=3, answer="pos"), "key"),
    (dict(key="k", answer="pos", prob=1.5), "1.5"),
    (dict(key="k", answer="pos", prob=float("nan")), "nan"),
    (dict(key="k", answer="pos", prob="0.5"), "0.5"),
    (dict(key="k", answer="pos", model_version=-1), "-1"),
    (dict(key="k", answer="pos", model_version=True), "True"),
    (dict(key="k", answer="pos", strategy=7), "7"),
])
def test_bad_arguments_are_refused_with_the_value(path, kwargs, word):
    s = LabelStore(path, "F1", annotator="a")
    with pytest.raises(ValueError, match=word):
        s.record(**kwargs)
    assert s.answers(include_undone=True) == []


def test_bad_constructor_and_lease_arguments(path):
    with pytest.raises(ValueError, match="features_id"):
        LabelStore(path, "", annotator="a")
    with pytest.raises(ValueError, match="annotator"):
        LabelStore(path, "F1", annotator=" ")
    with pytest.raises(TypeError, match="has_key"):
        LabelStore(path, "F1", annotator="a", has_key=42)
    s = LabelStore(path, "F1", annotator="a")
    with pytest.raises(TypeError, match="single string"):
        s.claim("abc")
    with pytest.raises(ValueError, match="ttl"):
        s.claim(["k"], ttl=0)
    with pytest.raises(ValueError, match="n must"):
        s.last(-1)


def test_closed_store_says_so(path):
    s = LabelStore(path, "F1", annotator="a")
    s.close()
    s.close()
    with pytest.raises(LabelsError, match="closed"):
        s.record("k", "pos")


# ---- files that are not ours ----------------------------------------------------------------

def test_missing_folder(tmp_path):
    p = tmp_path / "nope" / "labels.sqlite"
    with pytest.raises(LabelsError, match="does not exist") as e:
        LabelStore(p, "F1", annotator="a")
    assert str(p) in str(e.value) and "--labels" in str(e.value)
    assert not p.parent.exists()


def test_folder_given_as_labels_path(tmp_path):
    with pytest.raises(LabelsError, match="is a folder"):
        LabelStore(tmp_path, "F1", annotator="a")


@pytest.mark.parametrize("content", [b"path,x1,y1,x2,y2\n" * 300, b"x", b"SQLite format 2\0"])
def test_not_sqlite_file_is_left_untouched(path, content):
    path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(LabelsError, match="not an SQLite database") as e:
        LabelStore(path, "F1", annotator="a")
    assert str(path) in str(e.value)
    assert path.read_bytes() == before


def test_foreign_sqlite_file_is_left_untouched(path):
    with raw(path) as c:
        c.execute("CREATE TABLE photos (id INTEGER, name TEXT)")
    before = path.read_bytes()
    with pytest.raises(LabelsError, match="another program.*photos"):
        LabelStore(path, "F1", annotator="a")
    assert path.read_bytes() == before


def test_empty_file_becomes_a_labels_file(path):
    path.write_bytes(b"")
    LabelStore(path, "F1", annotator="a").record("k", "pos")
    assert LabelStore(path, "F1", annotator="a").labels() == {"k": "pos"}


def test_newer_schema_is_refused_without_change(path):
    LabelStore(path, "F1", annotator="a").close()
    with raw(path) as c:
        c.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'",
                  (str(SCHEMA_VERSION + 1),))
    before = path.read_bytes()
    with pytest.raises(LabelsError, match=f"newer binlabel.*version {SCHEMA_VERSION + 1}"):
        LabelStore(path, "F1", annotator="a")
    assert path.read_bytes() == before


# ---- identity -------------------------------------------------------------------------------

def _labelled(path, keys):
    s = LabelStore(path, "F1", annotator="a")
    for k in keys:
        s.record(k, "pos")
    s.close()


def test_same_features_id_opens_silently(path):
    _labelled(path, ["k1"])
    s = LabelStore(path, "F1", annotator="a", has_key=lambda k: False)
    assert s.notice is None and s.labels() == {"k1": "pos"}


def test_new_features_id_with_overlap_is_accepted_with_notice(path):
    _labelled(path, [f"k{i}" for i in range(10)])
    new_file_keys = {f"k{i}" for i in range(5)} | {"other"}  # half the labelled keys
    s = LabelStore(path, "F2", annotator="a", has_key=new_file_keys.__contains__)
    assert "F1" in s.notice and "F2" in s.notice and "5 of the 10" in s.notice
    assert "\n" not in s.notice
    s.close()
    again = LabelStore(path, "F2", annotator="a")  # recorded: no check, no notice next time
    assert again.notice is None
    with raw(path) as c:
        rows = c.execute("SELECT features_id, how, labelled, present FROM features "
                         "ORDER BY attached_at").fetchall()
    assert rows == [("F1", "created", 0, None), ("F2", "overlap", 10, 5)]


def test_has_key_may_be_a_set(path):
    _labelled(path, ["k1", "k2"])
    assert LabelStore(path, "F2", annotator="a", has_key={"k1", "k2"}).notice


def test_new_features_id_without_overlap_is_refused(path):
    _labelled(path, [f"k{i}" for i in range(10)])
    with pytest.raises(LabelsMismatch) as e:
        LabelStore(path, "F2", annotator="a", has_key={"k0", "k1", "k2", "k3"}.__contains__)
    msg = str(e.value)
    for part in ("F1", "F2", "4 of its 10", "--labels", "--attach", str(path)):
        assert part in msg
    assert isinstance(e.value, LabelsError)
    with raw(path) as c:
        assert c.execute("SELECT COUNT(*) FROM features").fetchone()[0] == 1


def test_new_features_id_without_lookup_is_refused(path):
    _labelled(path, ["k1"])
    with pytest.raises(LabelsMismatch, match="cannot be checked"):
        LabelStore(path, "F2", annotator="a")


def test_attach_forces(path):
    _labelled(path, ["k1"])
    s = LabelStore(path, "F2", annotator="a", has_key=lambda k: False, attach=True)
    assert "--attach" in s.notice and s.labels() == {"k1": "pos"}
    s.close()
    assert LabelStore(path, "F2", annotator="a").notice is None


def test_no_labels_yet_any_features_file_is_accepted(path):
    LabelStore(path, "F1", annotator="a").close()
    assert LabelStore(path, "F2", annotator="a", has_key=lambda k: False).notice


# ---- leases ---------------------------------------------------------------------------------

def test_leases_block_others_expire_and_release(path):
    a = LabelStore(path, "F1", annotator="alice")
    b = LabelStore(path, "F1", annotator="alice")  # another window of the same person
    assert a.owner != b.owner
    assert a.claim(["k1", "k2", "k1"]) == ["k1", "k2"]
    assert b.claim(["k1", "k2", "k3"]) == ["k3"]
    assert b.leased_by_others() == {"k1", "k2"}
    assert a.leased_by_others() == {"k3"}
    assert a.claim(["k2", "k3"]) == ["k2"]  # renew ours, not theirs
    a.release(["k1"])
    assert b.claim(["k1"]) == ["k1"]
    assert a.claim(["k9"], ttl=0.3) == ["k9"]
    assert "k9" in b.leased_by_others()
    time.sleep(0.4)
    assert "k9" not in b.leased_by_others()
    assert b.claim(["k9"]) == ["k9"]
    a.release()
    assert b.leased_by_others() == set()
    b.close()  # closing releases
    assert a.leased_by_others() == set()
    assert a.claim(["k1", "k3", "k9"]) == ["k1", "k3", "k9"]


# ---- full disk ------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    with small_tmpfs(tmp_path / "small", "6m") as d:
        yield d


def test_full_disk_is_a_clear_error_and_loses_nothing(small_disk):
    path = small_disk / "labels.sqlite"
    filler = small_disk / "filler"
    # The WAL alone grows to ~4 MB before SQLite checkpoints it: 6 MB with 1 MB of filler
    # fills up within a few dozen answers of 1 KB keys.
    filler.write_bytes(b"\0" * 1024 * 1024)
    s = LabelStore(path, "F1", annotator="a")
    acked = []
    with pytest.raises(LabelsError) as e:
        for i in range(100_000):
            acked.append(s.record(f"{i:020x}-" + "x" * 1000, "pos", prob=0.5).id)
    msg = str(e.value)
    assert "disk is full" in msg and str(path) in msg and "Free some space" in msg
    assert len(acked) > 10
    assert s.verify() == []
    with raw(path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r[0] for r in c.execute("SELECT id FROM answers ORDER BY id")]
    assert ids == acked
    filler.unlink()  # space freed: work resumes
    for i in range(50):
        s.record(f"after-{i}", "neg")
    s.undo()
    s.close()
    s = LabelStore(path, "F1", annotator="a")
    assert s.counts() == {"pos": len(acked), "neg": 49, "skip": 0, "answered": len(acked) + 49}
    assert s.verify() == []
