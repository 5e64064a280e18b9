"""Side inputs (issue 16): a prior score and a claimed label, read from real features files,
learnt from by the real fitter, followed by the real sampler."""

from __future__ import annotations

import numpy as np
import pytest
from h5fixtures import write_features

from tui.learn.quality import average_precision
from tui.learn.sampler import Sampler
from tui.learn.side_inputs import SideInputError, read_side_inputs
from tui.learn.side_model import SideFitter, logits
from tui.learn.trainer import Fitter
from tui.store.features import FeatureFile


def pool(tmp_path, meta, d=16, seed=0, X=None, name="f.h5"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((len(meta), d)) if X is None else X
    fp = tmp_path / name
    keys = write_features(fp, X, meta=meta)
    return fp, keys


# ---- parsing ---------------------------------------------------------------------------

def test_prior_missing_and_non_numeric_values_get_the_median_said_once(tmp_path):
    meta = [{"score": 0.9}, {"score": "0.1"}, {}, {"score": None}, {"score": "high"},
            {"score": 0.5}, {"score": True}, {"score": ""}]
    fp, _ = pool(tmp_path, meta)
    with FeatureFile(fp) as f:
        side = read_side_inputs(f, prior="score")
    p = side.prior
    assert p.transform == "probability" and p.fill == pytest.approx(0.5)
    np.testing.assert_allclose(p.p, [0.9, 0.1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], atol=1e-6)
    assert len(side.notes) == 1
    note = side.notes[0]
    assert "3 have no value" in note and "2 a non-numeric one (row 4: 'high')" in note
    assert "median, 0.5" in note


def test_prior_outside_0_1_is_rank_transformed_and_said(tmp_path):
    meta = [{"score": v} for v in (-3.0, 10.0, 2.0, 2.0, 55.0)]
    fp, _ = pool(tmp_path, meta)
    with FeatureFile(fp) as f:
        side = read_side_inputs(f, prior="score")
    p = side.prior
    assert p.transform == "rank"
    np.testing.assert_allclose(p.p, [0.1, 0.7, 0.4, 0.4, 0.9], atol=1e-6)   # mid-ranks
    assert any("outside [0, 1]" in n and "rank" in n for n in side.notes)
    assert np.all((p.p > 0) & (p.p < 1)) and np.isfinite(p.z).all()


def test_probabilities_at_0_and_1_stay_finite(tmp_path):
    fp, _ = pool(tmp_path, [{"s": 0}, {"s": 1}, {"s": 0.5}])
    with FeatureFile(fp) as f:
        z = read_side_inputs(f, prior="s").prior.z
    assert np.isfinite(z).all() and z[0] < -6 and z[1] > 6


def test_an_absent_column_is_an_error_naming_the_columns_there(tmp_path):
    fp, _ = pool(tmp_path, [{"score": 0.5, "category": "cat"}, {"source": "x"}])
    with FeatureFile(fp) as f:
        with pytest.raises(SideInputError) as e:
            read_side_inputs(f, prior="confidence")
    msg = str(e.value)
    assert str(fp) in msg and "'confidence'" in msg and "category, score, source" in msg
    assert e.value.columns == ["confidence"]


def test_a_prior_with_no_number_at_all_is_an_error_naming_a_row(tmp_path):
    fp, _ = pool(tmp_path, [{"score": "a"}, {"score": "b"}])
    with FeatureFile(fp) as f:
        with pytest.raises(SideInputError, match=r"no item has a numeric value \(row 0: 'a'\)"):
            read_side_inputs(f, prior="score")


def test_condition_codes_missing_values_and_whole_numbers(tmp_path):
    meta = [{"claim": 3}, {"claim": "3"}, {"claim": 3.0}, {"claim": "sandal"}, {}, {"claim": ""}]
    fp, _ = pool(tmp_path, meta)
    with FeatureFile(fp) as f:
        c = read_side_inputs(f, condition="claim").condition
    assert c.values == ["3", "sandal"]
    assert c.codes.tolist() == [0, 0, 0, 1, -1, -1]
    assert c.notes == ["--condition claim: 2 of 6 items have no value; they get the shared "
                       "image term alone"]
    assert sorted(np.concatenate(c.groups()).tolist()) == list(range(6))


def test_a_condition_that_is_an_identifier_is_refused(tmp_path):
    fp, _ = pool(tmp_path, [{"id": f"x{i}"} for i in range(1001)], d=4)
    with FeatureFile(fp) as f:
        with pytest.raises(SideInputError, match="1,001 distinct values, more than 1000"):
            read_side_inputs(f, condition="id")


# ---- learning --------------------------------------------------------------------------

def _ap_after(side, X, y, train, test, **kw):
    """Test AP of a SideFitter (side given) or a plain Fitter fit on the train rows."""
    if side is None:
        m = Fitter(X.shape[1]).fit(X[train], y[train], 1)
        return average_precision(y[test], X[test] @ m.w + m.b)
    m = SideFitter(side, X.shape[1], **kw).fit(X[train], y[train], 1, rows=train)
    return average_precision(y[test], logits(m, rows=test, X=X[test]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_prior_carries_the_signal_and_the_model_uses_it(tmp_path, seed):
    """The answer follows the prior; the image is noise: with the prior the model ranks
    held-out items nearly as well as the prior itself, without it barely above chance."""
    rng = np.random.default_rng(seed)
    n = 1500
    p = rng.beta(0.5, 2.0, n)
    y = rng.random(n) < p
    fp, _ = pool(tmp_path, [{"score": float(v)} for v in p], d=32, seed=seed)
    with FeatureFile(fp) as f:
        side = read_side_inputs(f, prior="score")
        X = f.rows(np.arange(n))
    train, test = np.arange(40), np.arange(500, n)
    with_prior = _ap_after(side, X, y, train, test)
    without = _ap_after(None, X, y, train, test)
    assert with_prior > without + 0.15, (with_prior, without)
    assert with_prior > 0.75 * average_precision(y[test], p[test])   # 32 noise dims, 40 labels


def claims_pool(tmp_path, seed, n=2000, K=4, d=24, right=0.7, score=False):
    """Images in K clusters (their true class); the claimed label is right 70% of the
    time. Positive = the claim is wrong, which neither the image nor the claim alone tells."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((K, d)) * 2.0
    true = rng.integers(0, K, n)
    X = centres[true] + rng.standard_normal((n, d))
    claim = np.where(rng.random(n) < right, true, (true + rng.integers(1, K, n)) % K)
    scores = rng.random(n) if score else None        # a column of noise, for the plumbing
    fp, _ = pool(tmp_path, [{"claim": f"class{c}", **({"score": float(scores[i])} if score
                                                       else {})}
                            for i, c in enumerate(claim)], X=X, seed=seed)
    return fp, claim != true


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_condition_lets_the_model_judge_the_claim(tmp_path, seed):
    fp, wrong = claims_pool(tmp_path, seed)
    with FeatureFile(fp) as f:
        side = read_side_inputs(f, condition="claim")
        X = f.rows(np.arange(f.n))
    train, test = np.arange(300), np.arange(1000, 2000)
    full = _ap_after(side, X, wrong, train, test)
    offset = _ap_after(side, X, wrong, train, test, shape="offset")
    image = _ap_after(None, X, wrong, train, test)
    base = wrong[test].mean()
    assert full > 0.8, (full, offset, image, base)
    assert full > offset + 0.3 and full > image + 0.3


# ---- the sampler -------------------------------------------------------------------------

def test_maxprob_cold_start_follows_the_prior(tmp_path):
    rng = np.random.default_rng(0)
    score = rng.random(300)
    fp, keys = pool(tmp_path, [{"score": float(v)} for v in score])
    with Sampler(fp, strategy="maxprob", random_share=0.0, poll=0.2, prior="score") as s:
        s.wait_idle(30)
        first = [s.next()] + s.peek(4)
        assert first == [keys[i] for i in np.argsort(-score)[:5]]
        s.record(first[0], True)
        s.wait_idle(30)
        assert s.next() == keys[np.argsort(-score)[1]]      # still no negative: the prior
    with Sampler(fp, strategy="entropy", random_share=0.0, poll=0.2,
                 labels=tmp_path / "e.sqlite", prior="score") as s:
        s.wait_idle(30)
        near = np.argsort(np.abs(score - 0.5), kind="stable")[:3]     # a probability: 0.5
        assert [s.next()] + s.peek(2) == [keys[i] for i in near]


def test_the_sampler_fits_with_the_prior_and_scores_with_it(tmp_path):
    rng = np.random.default_rng(1)
    score = rng.random(400)
    y = score > 0.5
    fp, keys = pool(tmp_path, [{"score": float(v)} for v in score], d=32)
    with Sampler(fp, strategy="entropy", prior="score", poll=0.2, seed=1) as s:
        for _ in range(12):
            k = s.next()
            s.record(k, bool(y[keys.index(k)]))
            s.wait_idle(30)
        p = s.predict_proba()
        assert s.model.prior_coef > 0.5
    assert average_precision(y, p) > 0.95


def test_condition_picks_balance_across_labels(tmp_path):
    """The sampler re-ranks after every answer: each pick comes from the label that has
    had the fewest, so the answers spread evenly over the labels, not only the queue."""
    fp, wrong = claims_pool(tmp_path, 0, n=800)
    with FeatureFile(fp) as f:
        codes = read_side_inputs(f, condition="claim").condition.codes
    with Sampler(fp, strategy="maxprob", condition="claim", random_share=0.0,
                 poll=0.2, queue_size=8) as s:
        keys = list(s.features.keys)
        answered = []
        for _ in range(28):
            k = s.next()
            answered.append(keys.index(k))
            s.record(k, bool(wrong[answered[-1]]))
            s.wait_idle(30)
        assert s.model is not None
        counts = np.bincount(codes[answered[8:]], minlength=4)    # once a model picks
        picks = [s.next()] + s.peek(7)
    assert counts.min() >= 4 and counts.max() <= 6, counts
    got = np.bincount([codes[keys.index(k)] for k in picks], minlength=4)
    assert got.min() >= 1 and got.max() <= 3, got


def test_above_the_full_scan_the_sampled_rows_get_the_same_side_terms(tmp_path, monkeypatch):
    """Pools above FULL_SCAN_MAX score a sample and the positives' neighbours: those rows
    get exactly the probabilities a full pass gives (prior and per-label terms included)."""
    from tui.learn import ranking
    from tui.learn.trainer import sigmoid

    fp, wrong = claims_pool(tmp_path, 3, n=600, score=True)
    with FeatureFile(fp) as f:
        side = read_side_inputs(f, prior="score", condition="claim")
        X = f.rows(np.arange(f.n))
        train = np.arange(200)
        model = SideFitter(side, f.dim).fit(X[train], wrong[train], 1, rows=train)
        full = sigmoid(logits(model, f))
        monkeypatch.setattr(ranking, "FULL_SCAN_MAX", 100)
        monkeypatch.setattr(ranking, "SAMPLE_ROWS", 150)
        r = ranking.Ranker(f, 0)
        r.side = side
        got = r.score(model, positives=list(np.flatnonzero(wrong[train])[:5]))
    scored = ~np.isnan(got)
    assert 100 < scored.sum() < 600
    assert model.prior_coef != 0 and model.V is not None
    np.testing.assert_allclose(got[scored], full[scored], atol=2e-3)
