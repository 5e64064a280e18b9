"""A locked labels file never freezes the screen and never reorders or drops answers
(issue 12, case 9). Before the fix each key waited 15 s for the lock, then said "not
saved". Now the key returns at once, the panel says the answers are not saved yet, and
they land in the order given once the lock goes; if it never goes, quitting keeps them
in a side file that the next start records.
"""

from __future__ import annotations

import sqlite3
import threading
import time

from app_fixtures import annotating, make_pool, panel_text, query_labels, sync, wait_displayed

from tui.learn.sampler import Sampler


class Locker:
    """Another process's long write transaction on the labels file (a real SQLite lock)."""

    def __init__(self, path):
        self.con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        self.con.execute("COMMIT")
        self.con.close()


def rows(labels) -> list[tuple]:
    [r] = query_labels(labels, "SELECT key, answer FROM answers WHERE undone_at IS NULL "
                               "ORDER BY id")
    return r


@sync
async def test_keys_return_at_once_and_answers_land_in_order_when_the_lock_goes(tmp_path):
    features, _ = make_pool(tmp_path / "pool", n_files=30, n_boxes=0)
    labels = tmp_path / "labels.sqlite"
    async with annotating(features, labels=str(labels)) as (sampler, app, pilot):
        await wait_displayed(app, pilot)
        lock = Locker(labels)
        try:
            given = []
            for key in "dad":
                shown = await wait_displayed(app, pilot)
                t0 = time.monotonic()
                await pilot.press(key)
                await wait_displayed(app, pilot, not_key=shown, timeout=8)
                assert time.monotonic() - t0 < 8, "the key waited for the lock"
                given.append((shown, {"d": "pos", "a": "neg"}[key]))
            assert "3 answers not saved yet" in panel_text(app)
            assert rows(labels) == []                    # nothing could be written yet
        finally:
            lock.release()
        t0 = time.monotonic()
        while len(rows(labels)) < 3 and time.monotonic() - t0 < 20:
            await pilot.pause(0.1)
        assert rows(labels) == given                     # all of them, in the order given
        await pilot.pause(1.0)
        assert "not saved" not in panel_text(app)
        assert sampler.stats()["answered"] == 3


def test_undo_takes_back_an_answer_not_yet_saved(tmp_path):
    features, keys = make_pool(tmp_path / "pool", n_files=12, n_boxes=0)
    labels = tmp_path / "labels.sqlite"
    with Sampler(str(features), labels=str(labels), poll=0.2) as s:
        first = s.next()
        s.record(first, True)
        lock = Locker(labels)
        try:
            second = s.next()
            s.record(second, False)
            assert s.stats()["unsaved"] == 1
            assert s.undo() == second and s.stats()["unsaved"] == 0
            assert s.next() == second                    # shown again
        finally:
            lock.release()
        time.sleep(0.5)
        assert rows(labels) == [(first, "pos")]


def test_quitting_while_locked_keeps_the_answers_for_the_next_start(tmp_path, monkeypatch):
    import tui.learn.sampler as sampler_mod

    monkeypatch.setattr(sampler_mod, "BUSY_TIMEOUT_S", 1.0)   # how long close() waits
    features, keys = make_pool(tmp_path / "pool", n_files=12, n_boxes=0)
    labels = tmp_path / "labels.sqlite"
    s = Sampler(str(features), labels=str(labels), poll=0.2, annotator="ann", session="night")
    lock = Locker(labels)
    released = threading.Event()
    try:
        given = []
        for answer in (True, False, None):
            k = s.next()
            s.record(k, answer)
            given.append((k, {True: "pos", False: "neg", None: "skip"}[answer]))
        s.close()
        assert s.unsaved_file is not None and s.unsaved_file.exists()
        assert rows(labels) == []
    finally:
        lock.release()
        released.set()
    with Sampler(str(features), labels=str(labels), poll=0.2) as again:
        assert again.replayed == 3 and not s.unsaved_file.exists()
        assert again.stats()["answered"] == 3
    [r] = query_labels(labels, "SELECT key, answer, annotator, session FROM answers ORDER BY id")
    assert r == [(k, a, "ann", "night") for k, a in given]
