"""The ranking of answers by how much the cross-validated model disagrees with them
(tui.learn.disagreements), on constructed data where the wrong answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from tui.learn import disagreements as D


def two_clusters(n_pos=60, n_neg=140, dim=16, spread=0.35, seed=0):
    """Two well separated clusters on the unit sphere (as embeddings are): y is the cluster."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=(2, dim))
    X = np.r_[centre[0] + spread * rng.normal(size=(n_pos, dim)),
              centre[1] + spread * rng.normal(size=(n_neg, dim))].astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
    return X, y


@pytest.mark.parametrize("method", D.METHODS)
def test_flipped_answers_come_first(method):
    X, y = two_clusters()
    rng = np.random.default_rng(1)
    flipped = np.r_[rng.choice(60, 3, replace=False), 60 + rng.choice(140, 4, replace=False)]
    answers = y.copy()
    answers[flipped] = ~answers[flipped]
    order, p = D.rank(X, answers, method=method)
    assert sorted(order[:len(flipped)].tolist()) == sorted(flipped.tolist())
    # out of fold: each flipped answer's own model never saw it, so P sides with its cluster
    assert np.all((p[flipped] >= 0.5) == y[flipped])
    assert sorted(order.tolist()) == list(range(len(y)))     # every answer, ranked once


def test_out_of_fold_is_what_finds_them():
    """A model fit on every answer (the sampler's, in sample) is pulled towards the wrong
    answers; the ranking must not be that model's: its P differs from the in-sample one."""
    from tui.learn.trainer import refit

    X, y = two_clusters(n_pos=8, n_neg=8, spread=0.9, seed=3)
    answers = y.copy()
    answers[0] = False
    _, p = D.rank(X, answers)
    in_sample = refit(X, answers).proba(X)
    assert p[0] > in_sample[0]


def test_disagreements_from_answers_name_keys_and_scores():
    X, y = two_clusters()
    keys = [f"k{i}" for i in range(len(y))]
    answers = {k: ("pos" if v else "neg") for k, v in zip(keys, y)}
    answers["k5"] = "neg"                     # a positive answered negative
    answers["k100"] = "pos"                   # a negative answered positive
    answers["k7"] = "skip"                    # skips are no claim to disagree with
    found = D.find(keys, X, answers)
    assert {d.key for d in found[:2]} == {"k5", "k100"}
    assert "k7" not in {d.key for d in found}
    first = found[0]
    assert first.answer == answers[first.key]
    assert first.confidence == pytest.approx(first.p_pos if first.answer == "pos"
                                             else 1 - first.p_pos, abs=1e-6)
    assert first.disagrees and not found[-1].disagrees
    assert [d.score for d in found] == sorted(d.score for d in found)


@pytest.mark.parametrize("n_pos, n_neg", [(0, 30), (4, 30), (30, 2)])
def test_too_few_answers_of_a_kind_says_so(n_pos, n_neg):
    X, y = two_clusters(n_pos=max(n_pos, 1), n_neg=n_neg)
    X, y = X[-(n_pos + n_neg):], y[-(n_pos + n_neg):]
    keys = [f"k{i}" for i in range(len(y))]
    answers = {k: ("pos" if v else "neg") for k, v in zip(keys, y)}
    with pytest.raises(D.TooFewAnswers) as err:
        D.find(keys, X, answers)
    msg = str(err.value)
    assert f"at least {D.MIN_PER_KIND} positive and {D.MIN_PER_KIND} negative" in msg
    assert f"{n_pos} positive and {n_neg} negative" in msg
    assert (err.value.n_pos, err.value.n_neg) == (n_pos, n_neg)


def test_the_minimum_itself_is_enough():
    X, y = two_clusters(n_pos=D.MIN_PER_KIND, n_neg=D.MIN_PER_KIND)
    keys = [f"k{i}" for i in range(len(y))]
    found = D.find(keys, X, {k: ("pos" if v else "neg") for k, v in zip(keys, y)})
    assert len(found) == 2 * D.MIN_PER_KIND


def test_with_side_inputs_the_review_judges_with_them():
    """`annotate --prior score`: image vectors that say nothing, a score that says almost
    all. The slips are found by the model the person trained (image and score); the image
    alone cannot tell them from the rest."""
    from tui.learn.side_inputs import SideInputs, prior_from_values

    rng = np.random.default_rng(4)
    n = 200
    truth = rng.random(n) < 0.3
    score = np.where(truth, 0.7 + 0.3 * rng.random(n), 0.3 * rng.random(n))
    side = SideInputs(prior_from_values(score.tolist(), "score"), None)
    X = rng.standard_normal((n, 16)).astype(np.float32)
    slips = rng.choice(n, 6, replace=False)
    said = truth.copy()
    said[slips] = ~said[slips]
    keys = [f"k{i}" for i in range(n)]
    answers = {k: "pos" if s else "neg" for k, s in zip(keys, said)}
    with_side = D.find(keys, X, answers, side=side, rows=np.arange(n))
    alone = D.find(keys, X, answers)
    top = lambda ranked: {int(d.key[1:]) for d in ranked[:20]}   # noqa: E731  the first 10%
    assert set(slips.tolist()) <= top(with_side)
    assert len(top(alone) & set(slips.tolist())) <= 2
