"""Second looks through the real app (Pilot): H's history and R's review of the answers
the cross-validated model disagrees with; what is on screen, and the rows in the labels
file read back with plain SQL."""

from __future__ import annotations

import time

import pytest
from app_fixtures import (annotating, current_labels, make_pool, query_labels, screen_text,
                          sync, wait_displayed)

from tui.learn.sampler import default_labels_path


@pytest.fixture
def pool(tmp_path):
    return make_pool(tmp_path / "pool")


def truth(sampler, key: str) -> bool:
    """The pool's classes: crops and boxes of the China photo (pos) or of the flower (neg)."""
    f = sampler.features
    i = f.index_of(key)
    photo = f.meta(i).get("photo")
    return photo == "china" if photo else f.path(i).endswith("photo_0.jpg")


def item_text(sampler, key: str) -> str:
    """The item as the history names it: its path from the pool's folder, and its box."""
    f = sampler.features
    i = f.index_of(key)
    name = f.path(i).rsplit("/", 1)[1]
    box = f.box(i)
    return name if box is None else name + " [" + " ".join(f"{v:g}" for v in box) + "]"


def text_of(app) -> str:
    return "\n".join(screen_text(app))


async def wait_for(pilot, cond, what: str, timeout: float = 30.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await pilot.pause(0.05)


def log_of(labels_path, key: str) -> list[tuple]:
    [rows] = query_labels(labels_path, f"SELECT answer, strategy, undone_at FROM answers "
                                       f"WHERE key = '{key}' ORDER BY id")
    return rows


@sync
async def test_h_lists_answers_newest_first_and_enter_a_changes_one(pool):
    features, keys = pool
    labels = default_labels_path(features)
    async with annotating(features, size=(120, 36)) as (sampler, app, pilot):
        answered = []
        for _ in range(3):
            shown = await wait_displayed(app, pilot, not_key=answered[-1] if answered else None)
            answered.append(shown)
            await pilot.press("d")
        await wait_displayed(app, pilot, not_key=answered[-1])
        waiting = app.displayed                          # the sampler's pick, unanswered
        await pilot.press("h")
        await pilot.pause(0.2)
        text = text_of(app)
        assert "History: the latest 3 answers, newest first" in text
        names = [item_text(sampler, k) for k in answered]
        lines = text.splitlines()
        rows = [next(n for n, line in enumerate(lines) if name in line) for name in names]
        assert rows[2] < rows[1] < rows[0], (names, text)  # newest first
        assert all("pos" in lines[r] and sampler.store.annotator in lines[r] for r in rows)
        await pilot.press("d")                           # refused while the list is open
        assert current_labels(labels) == {k: "pos" for k in answered}
        await pilot.press("down", "enter")               # the second newest: answered[1]
        await wait_for(pilot, lambda: app.displayed == answered[1], "the chosen item shown")
        assert app.side.info.key == answered[1]
        text = text_of(app)
        assert "From the history: answered POS" in text and "A negative" in text
        await pilot.press("a")
        await wait_for(pilot, lambda: app.displayed == waiting, "the sampler's pick back")
        assert current_labels(labels)[answered[1]] == "neg"
        # the old answer stays in the log; the new one is appended, strategy "history"
        log = log_of(labels, answered[1])
        assert [(a, u) for a, _, u in log] == [("pos", None), ("neg", None)]
        assert log[1][1] == "history"
        assert [a.answer for a in sampler.store.history(answered[1])] == ["pos", "neg"]
        assert "Recorded NEG for that item (it was POS" in text_of(app)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert "Recorded NEG" not in text_of(app)
        await pilot.press("h")                           # the list says what it is now
        await pilot.pause(0.2)
        assert "pos (now neg)" in text_of(app)
        await pilot.press("escape")
        await pilot.pause(0.1)
        await pilot.press("d")                           # normal picking goes on
        await wait_for(pilot, lambda: current_labels(labels).get(waiting) == "pos",
                       "the waiting pick answered")


@sync
async def test_r_shows_the_flipped_answer_first_and_d_corrects_it(pool):
    from tui.learn import disagreements as D

    features, keys = pool
    labels = default_labels_path(features)
    async with annotating(features, size=(120, 36)) as (sampler, app, pilot):
        waiting = await wait_displayed(app, pilot)
        others = [k for k in keys if k != waiting]
        flipped = next(k for k in others if truth(sampler, k))   # a positive answered neg
        for k in others:
            sampler.record(k, truth(sampler, k) != (k == flipped))
        expected = [d.key for d in D.in_features(sampler.features, {
            k: a.answer for k, a in sampler.current_answers().items()}) if d.disagrees]
        assert expected[0] == flipped        # the constructed case (the core's own test too)
        await pilot.press("r")
        await wait_for(pilot, lambda: app.displayed == flipped, "the flipped answer shown")
        text = text_of(app)
        assert f"Review 1 of {len(expected)}: answered NEG" in text, text
        assert "a model trained without it: P(pos)" in text
        await pilot.press("backspace")        # refused: it would act on another item
        assert current_labels(labels)[flipped] == "neg"
        await pilot.press("d")
        await wait_for(pilot, lambda: current_labels(labels)[flipped] == "pos", "the change")
        assert [(a, u) for a, _, u in log_of(labels, flipped)] == [("neg", None), ("pos", None)]
        assert log_of(labels, flipped)[1][1] == "review"
        for n in range(2, len(expected) + 1):     # confirm the others as they are
            await wait_for(pilot, lambda: app.displayed == expected[n - 1], f"review item {n}")
            assert f"Review {n} of {len(expected)}" in text_of(app)
            await pilot.press("a" if current_labels(labels)[expected[n - 1]] == "neg" else "d")
        await wait_for(pilot, lambda: app.displayed == waiting, "the sampler's pick back")
        done = f"Review done: {len(expected)} answer{'s' if len(expected) > 1 else ''} looked at again, 1 changed"
        await wait_for(pilot, lambda: done in text_of(app), "the review's summary")
        # a confirmation is the same answer again, recorded as a second look
        for k in expected[1:]:
            log = log_of(labels, k)
            assert len(log) == 2 and log[0][0] == log[1][0] and log[1][1] == "review"
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert "Review done" not in text_of(app)   # the line is gone (the footer names R Review)
        # a second R leaves out what was looked at twice
        now = sampler.current_answers()
        against = [d.key for d in D.in_features(sampler.features, {
            k: a.answer for k, a in now.items()}) if d.disagrees]
        again = [k for k in against if now[k].strategy != "review"]
        await pilot.press("r")
        if again:
            await wait_for(pilot, lambda: app.displayed == again[0], "the second review")
            assert f"Review 1 of {len(again)}" in text_of(app)
        else:
            line = (f"the {len(against)} answers that a model trained without each disagrees "
                    f"with were all looked at again already" if against else
                    f"agrees with all {len(now)} positive and negative answers")
            await wait_for(pilot, lambda: line in " ".join(text_of(app).split()),
                           "the second review's line")
        assert app.displayed not in expected
        await pilot.press("escape")
        await pilot.press("d")
        await wait_for(pilot, lambda: current_labels(labels).get(waiting) == "pos",
                       "the waiting pick answered after the review")


@sync
async def test_r_with_too_few_answers_says_so_and_keys_go_on(pool):
    from tui.learn.disagreements import MIN_PER_KIND as N

    features, keys = pool
    labels = default_labels_path(features)
    async with annotating(features, size=(120, 36)) as (sampler, app, pilot):
        shown = await wait_displayed(app, pilot)
        answered = [k for k in keys if k != shown][:N]     # too few of one kind at least
        for k in answered:
            sampler.record(k, truth(sampler, k))
        n_pos = sum(truth(sampler, k) for k in answered)
        await pilot.press("r")
        await pilot.press("d")               # keys answer the item on screen meanwhile
        await wait_for(pilot, lambda: current_labels(labels).get(shown) == "pos", "D answered")
        msg = (f"need at least {N} positive and {N} negative answers to judge each by a model "
               f"trained without it; there are {n_pos} positive and {N - n_pos} negative")
        await wait_for(pilot, lambda: msg in " ".join(text_of(app).split()), "the message")
        await wait_displayed(app, pilot, not_key=shown)
        nxt = app.displayed
        await pilot.press("a")
        await wait_for(pilot, lambda: current_labels(labels).get(nxt) == "neg", "A answered")
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert "need at least" not in text_of(app)


def test_second_looks_bring_no_prediction_but_their_answer_stands():
    """A slip corrected through R: the model's prediction at the first look is judged
    against the corrected answer, and the correction itself adds no prediction."""
    from tui.learn.quality import prequential
    from tui.store.labels_schema import Answer

    # the model said 0.1 (negative) each time; the person slipped on k0..k3, then corrected
    first = [Answer(i, f"k{i}", "pos" if i < 4 else "neg", "me", i, 0.1, 1, "entropy", None)
             for i in range(10)]
    fixed = [Answer(10 + i, f"k{i}", "neg", "me", 10 + i, 0.8, 2, "review", None)
             for i in range(4)]
    assert prequential(first)["last100"]["accuracy"] == 0.6
    after = prequential(first + fixed)["last100"]
    assert after["n"] == 10 and after["accuracy"] == 1.0
