"""N and `/` in the real app under Pilot: the item's (or the words') nearest neighbours
come next, one for one with the strategy's picks; the screen says so; the labels file
holds only the answers given by keys, each with the strategy that brought its item.

`/` runs on features made by the real featurize with a tiny random-weight open_clip
model saved locally (a text tower, offline); a DINOv2 file says on screen that it has
no text tower."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from app_fixtures import annotating, current_labels, make_pool, query_labels, screen_text, sync
from app_fixtures import wait_displayed
from seed_fixtures import cosine_order, rows, tiny_features

from tui.app.queries import WordsScreen
from tui.learn.sampler import default_labels_path
from tui.seeds import words_for
from tui.store.features import FeatureFile

STEPS = 8


def panel_on_screen(app) -> str:
    """The side panel's part of the screen as the terminal shows it, lines joined."""
    r = app.side.region
    lines = screen_text(app)[r.y:r.y + r.height]
    text = " ".join(line[r.x:r.x + r.width].replace("▏", " ") for line in lines)
    return " ".join(text.split())


async def panel_says(app, pilot, *phrases: str, timeout: float = 20.0) -> str:
    """Wait until the panel on screen shows every phrase (its figures refresh every
    stats_every seconds, later on a busy machine); the panel's text."""
    t0 = time.monotonic()
    while not all(p in (panel := panel_on_screen(app)) for p in phrases):
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"the panel does not say {phrases}: {panel!r}")
        await pilot.pause(0.05)
    return panel


def log(features) -> list[tuple[str, str, str]]:
    [out] = query_labels(default_labels_path(features),
                         "SELECT key, answer, strategy FROM answers ORDER BY id")
    return out


async def answer_in_turn(app, pilot, first: str, n: int, key: str = "d") -> list[str]:
    """Answer the item on screen, then the next n-1 as they come; the keys shown."""
    shown, current = [], first
    for _ in range(n):
        shown.append(current)
        await pilot.press(key)
        current = await wait_displayed(app, pilot, not_key=current)
    return shown


def assert_neighbours_in_order(shown, tag, order, seen):
    """Each item brought by the query (its tag) is the first of `order` not shown before."""
    seen = set(seen)
    for key, t in shown:
        if t == tag:
            assert key == next(k for k in order if k not in seen), (key, t)
        seen.add(key)


@sync
async def test_n_mixes_the_items_neighbours_with_the_strategys_picks(tmp_path):
    features, keys = make_pool(tmp_path / "pool", n_files=40)
    X = rows(features)[0]
    async with annotating(features, size=(120, 40), keep_ahead=2) as (sampler, app, pilot):
        anchor = await wait_displayed(app, pilot)
        await pilot.press("n")
        sampler.wait_idle(30)
        await panel_says(app, pilot, "more like this: its nearest neighbours come next, "
                         "mixed with entropy's picks", "mixed in: 20 neighbours of this item")
        assert current_labels(default_labels_path(features)) == {}   # N answers nothing
        shown = await answer_in_turn(app, pilot, anchor, STEPS + 1)
    answers = log(features)
    assert [k for k, _, _ in answers] == shown and {a for _, a, _ in answers} == {"pos"}
    tags = [t for _, _, t in answers[1:]]
    assert tags[0::2] == ["similar"] * (STEPS // 2)
    assert "similar" not in tags[1::2]                      # the strategy's picks between
    order = [keys[i] for i in cosine_order(X, X[keys.index(anchor)])]
    assert_neighbours_in_order([(k, t) for k, _, t in answers[1:]], "similar", order, {anchor})


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return tiny_features(tmp_path_factory.mktemp("clip"), "open_clip", n_photos=8,
                         extra_photos=0)


def words_of(features):
    with FeatureFile(features) as f:
        return words_for(f)


@sync
async def test_words_bring_their_cosine_nearest_items_next(clip):
    import open_clip

    features, folder, saved, _, _ = clip
    X, keys, _, _ = rows(features)
    text = "a red flower"
    async with annotating(features, size=(120, 40), keep_ahead=2,
                          app_kw={"words": words_of(features)}) as (sampler, app, pilot):
        first = await wait_displayed(app, pilot)
        await pilot.press("slash")
        assert isinstance(app.screen, WordsScreen)
        await pilot.press("escape")                          # Escape cancels
        assert not isinstance(app.screen, WordsScreen) and app.displayed == first
        assert sampler.stats()["mixed_in"] is None
        await pilot.press("slash")
        await pilot.press(*["space" if c == " " else c for c in text])  # D and A are letters here
        notes, t0 = [], time.monotonic()
        app.side.watch(app.side, "note", lambda v: notes.append(v), init=False)  # every one
        await pilot.press("enter")
        while "the most similar items come next" not in app.side.note:
            assert time.monotonic() - t0 < 120, (app.side.note, app.side.status)
            await pilot.pause(0.02)
        assert f"words {text!r}: loading the text model…" in notes
        sampler.wait_idle(30)
        await panel_says(app, pilot, f"words {text!r}: the most similar items come next, "
                         "mixed with entropy's picks", f"mixed in: 20 items like the words {text!r}")
        assert current_labels(default_labels_path(features)) == {}   # typing answered nothing
        shown = await answer_in_turn(app, pilot, first, STEPS + 1, key="a")
    with torch.no_grad():
        tok = open_clip.get_tokenizer(f"local-dir:{folder}")
        q = torch.nn.functional.normalize(saved.encode_text(tok([text])), dim=-1)[0].numpy()
    answers = log(features)
    assert [k for k, _, _ in answers] == shown and {a for _, a, _ in answers} == {"neg"}
    tags = [t for _, _, t in answers[1:]]
    assert tags[0::2] == ["words"] * (STEPS // 2) and "words" not in tags[1::2]
    order = [keys[i] for i in cosine_order(X, q.astype(np.float64))]
    assert_neighbours_in_order([(k, t) for k, _, t in answers[1:]], "words", order, {first})


@sync
async def test_words_without_a_text_tower_say_so_on_screen(tmp_path):
    features = tiny_features(tmp_path / "dino", "dino", n_photos=3, extra_photos=0)[0]
    async with annotating(features, size=(120, 40),
                          app_kw={"words": words_of(features)}) as (sampler, app, pilot):
        await wait_displayed(app, pilot)
        await pilot.press("slash")
        await panel_says(app, pilot, "/ (words) is not available: the features were made with "
                         "dinov2reg-s, which has no text tower")
        assert not isinstance(app.screen, WordsScreen)
        assert sampler.stats()["mixed_in"] is None
    assert log(features) == []
