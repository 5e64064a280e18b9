"""Backspace undoes only this session's answers (issue 12, case 4).

Two people on one login (the same annotator name) share a labels file: A answers,
B answers, A presses Backspace. Before the fix B's answer was undone and shown on
A's screen. Undo reaches back across a restart only when the same --session is given.
"""

from __future__ import annotations

import asyncio
import sqlite3

from app_fixtures import annotating, current_labels, make_pool, sync, wait_displayed

from tui.store.labels import LabelStore
from tui.store.labels_schema import SCHEMA_VERSION


@sync
async def test_two_people_on_one_login_undo_only_their_own(tmp_path):
    features, keys = make_pool(tmp_path / "pool", n_files=30, n_boxes=0)
    labels = tmp_path / "labels.sqlite"
    async with annotating(features, labels=str(labels), annotator="gpu") as (sa, app_a, pa):
        async with annotating(features, labels=str(labels), annotator="gpu") as (sb, app_b, pb):
            shown_a = await wait_displayed(app_a, pa)
            await pa.press("d")
            await wait_displayed(app_a, pa, not_key=shown_a)
            shown_b = await wait_displayed(app_b, pb)
            assert shown_b != shown_a                 # leases: never the same item
            await pb.press("a")
            await wait_displayed(app_b, pb, not_key=shown_b)
            await pa.press("backspace")
            back = await wait_displayed(app_a, pa)
            assert back == shown_a, "A's Backspace must bring back A's item"
            assert current_labels(labels) == {shown_b: "neg"}   # B's answer stands
            await pb.press("backspace")
            assert await wait_displayed(app_b, pb) == shown_b
            assert current_labels(labels) == {}


def test_undo_across_a_restart_only_with_the_same_session(tmp_path):
    features, _ = make_pool(tmp_path / "pool", n_files=8, n_boxes=0)
    labels = tmp_path / "labels.sqlite"

    async def run(session, presses):
        shown = []
        async with annotating(features, labels=str(labels), session=session) as (s, app, pilot):
            for key in presses:
                shown.append(await wait_displayed(app, pilot))
                await pilot.press(key)
                if key == "backspace":
                    await pilot.pause(0.3)
                else:
                    await wait_displayed(app, pilot, not_key=shown[-1])
            status = app.side.note
        return shown, status

    first, _ = asyncio.run(run("night-shift", "dd"))
    _, status = asyncio.run(run(None, ["backspace"]))          # a new session: nothing of its own
    assert "nothing of this session to undo" in status
    assert current_labels(labels) == {first[0]: "pos", first[1]: "pos"}
    asyncio.run(run("night-shift", ["backspace"]))              # the same session, asked for
    assert current_labels(labels) == {first[0]: "pos"}


def test_a_version_1_labels_file_is_migrated_and_its_old_answers_kept(tmp_path):
    """Files written before sessions existed open, keep every answer, and are not undone."""
    path = tmp_path / "labels.sqlite"
    with LabelStore(path, "F1", annotator="old", session="s0") as s:
        s.record("k1", "pos")
    con = sqlite3.connect(path)                          # make it a version 1 file
    con.execute("DROP INDEX answers_session")
    con.execute("ALTER TABLE answers DROP COLUMN session")
    con.execute("UPDATE meta SET value = '1' WHERE name = 'schema_version'")
    con.commit()
    con.close()
    with LabelStore(path, "F1", annotator="old") as s:
        assert s.labels() == {"k1": "pos"} and s.undo() is None
        s.record("k2", "neg")
        assert s.undo().key == "k2"
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone() == \
        (str(SCHEMA_VERSION),)
    assert con.execute("SELECT key, session FROM answers ORDER BY id").fetchall()[0] == ("k1", None)
    con.close()
