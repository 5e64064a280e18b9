"""Examples to start from, through the real Sampler (HDF5 features, SQLite labels, the
background thread): a query's nearest neighbours come next, one for one with the
strategy's picks, for NEIGHBOUR_PICKS neighbours; item seeds first; nothing is recorded
but what record() is given."""

from __future__ import annotations

import numpy as np
import pytest

from app_fixtures import current_labels, query_labels
from tests.h5fixtures import write_features
from tui.learn.sampler import Sampler, default_labels_path
from tui.learn.seeding import NEIGHBOUR_PICKS, Query


def make_pool(path, n=120, d=12, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    keys = write_features(path, X)
    return keys


def stored(features_path) -> np.ndarray:
    import h5py
    with h5py.File(features_path, "r") as f:
        return f["features"][()].astype(np.float64)


def cosine_order(X: np.ndarray, q: np.ndarray) -> list[int]:
    q = np.asarray(q, np.float64)
    s = X @ (q / np.linalg.norm(q))
    return [int(i) for i in np.lexsort((np.arange(len(s)), -s))]


def take(s: Sampler, n: int, answer=False) -> list[tuple[str, str]]:
    """Show n items, answer each (negative by default); (key, strategy recorded) each."""
    out = []
    for _ in range(n):
        s.wait_idle(30)
        key = s.next()
        a = s.record(key, answer)
        out.append((key, a.strategy))
    return out


def strategies_in_file(features) -> list[tuple[str, str]]:
    [rows] = query_labels(default_labels_path(features), "SELECT key, strategy FROM answers "
                                                         "ORDER BY id")
    return rows


def assert_neighbours_in_order(shown, tag, order, seen):
    """Each pick tagged `tag` is the first of `order` not shown before it."""
    seen = set(seen)
    for key, t in shown:
        if t == tag:
            assert key == next(k for k in order if k not in seen), (key, t)
        seen.add(key)


def test_more_like_mixes_neighbours_one_for_one_with_the_strategy(tmp_path):
    features = tmp_path / "f.h5"
    keys = make_pool(features)
    X = stored(features)
    with Sampler(features, seed=0, poll=0.2) as s:
        s.wait_idle(30)
        anchor = s.next()
        s.more_like(anchor)
        assert s.strategy == "entropy"                    # the strategy is not replaced
        s.wait_idle(30)
        assert current_labels(default_labels_path(features)) == {}   # N records nothing
        s.record(anchor, True)
        shown = take(s, 2 * NEIGHBOUR_PICKS + 6)
    tags = [t for _, t in shown]
    assert tags[:2 * NEIGHBOUR_PICKS:2] == ["similar"] * NEIGHBOUR_PICKS
    assert "similar" not in tags[1:2 * NEIGHBOUR_PICKS:2]    # the strategy's picks between
    assert "similar" not in tags[2 * NEIGHBOUR_PICKS:]       # 20 neighbours, then the strategy
    order = [keys[i] for i in cosine_order(X, X[keys.index(anchor)])]
    assert_neighbours_in_order(shown, "similar", order, {anchor})
    assert strategies_in_file(features) == [(anchor, "coldstart")] + shown


def test_item_seeds_come_first_and_only_answers_are_recorded(tmp_path):
    features = tmp_path / "f.h5"
    keys = make_pool(features)
    X = stored(features)
    seeds = [17, 64]
    with Sampler(features, seed=0, poll=0.2) as s:
        s.start_from(Query("2 seeds", rows=tuple(seeds), first=tuple(seeds)))
        s.wait_idle(30)
        assert current_labels(default_labels_path(features)) == {}
        first = [s.next()]
        s.record(first[0], True)
        s.wait_idle(30)
        first.append(s.next())
        s.record(first[1], None)                   # a skip is an answer like another
        rest = take(s, 4)
    assert first == [keys[17], keys[64]]
    assert strategies_in_file(features)[:2] == [(keys[17], "seed"), (keys[64], "seed")]
    assert current_labels(default_labels_path(features))[keys[17]] == "pos"
    assert current_labels(default_labels_path(features))[keys[64]] == "skip"
    # then the seeds' neighbours, turn about (17's nearest, 64's nearest), between picks
    near17 = next(keys[i] for i in cosine_order(X, X[17]) if i not in seeds)
    near64 = next(keys[i] for i in cosine_order(X, X[64]) if i not in seeds)
    tags = [t for _, t in rest]
    assert tags[0] == tags[2] == "similar" and {tags[1], tags[3]} & {"similar", "seed"} == set()
    assert rest[0][0] == near17 and rest[2][0] == near64


def test_a_vector_query_brings_its_cosine_order(tmp_path):
    features = tmp_path / "f.h5"
    keys = make_pool(features)
    X = stored(features)
    q = np.random.default_rng(9).standard_normal(X.shape[1])
    with Sampler(features, seed=0, poll=0.2) as s:
        s.start_from(Query("words 'x'", vectors=q, tag="words"))
        shown = take(s, 8)
    assert [t == "words" for _, t in shown] == [True, False] * 4
    assert_neighbours_in_order(shown, "words", [keys[i] for i in cosine_order(X, q)], ())


def test_bad_queries_are_refused_and_change_nothing(tmp_path):
    features = tmp_path / "f.h5"
    make_pool(features)
    with Sampler(features, seed=0, poll=0.2) as s:
        with pytest.raises(ValueError, match="12 columns"):
            s.start_from(Query("x", vectors=np.ones(5)))
        with pytest.raises(ValueError, match="finite and not zero"):
            s.start_from(Query("x", vectors=np.zeros(12)))
        with pytest.raises(ValueError, match="rows of"):
            s.start_from(Query("x", rows=(500,)))
        assert s.stats()["mixed_in"] is None


def test_seeds_answered_before_are_not_shown_again(tmp_path):
    """A restart with the same --seed: the seed answered in the first run is not owed."""
    features = tmp_path / "f.h5"
    keys = make_pool(features)
    with Sampler(features, seed=0, poll=0.2) as s:
        s.start_from(Query("2 seeds", rows=(17, 64), first=(17, 64)))
        s.wait_idle(30)
        assert s.next() == keys[17]
        s.record(keys[17], True)
    with Sampler(features, seed=0, poll=0.2) as s:
        s.start_from(Query("2 seeds", rows=(17, 64), first=(17, 64)))
        s.wait_idle(30)
        assert s.stats()["mixed_in"]["first"] == 1          # 17 was answered last time
        assert s.next() == keys[64]
        assert s.stats()["mixed_in"] == {"what": "2 seeds", "left": NEIGHBOUR_PICKS,
                                         "first": 0, "tag": "similar"}
