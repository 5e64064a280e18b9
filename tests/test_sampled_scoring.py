"""Pools above the full-scan limit (tui.learn.ranking): each fit scores a random sample plus the
neighbours of the latest positives, through a real features file and the real Sampler."""

import numpy as np
import pytest

from tests.h5fixtures import normalise, write_features
from tui.learn import ranking
from tui.store.features import FeatureFile
from tui.learn.quality import prior_corrected
from tui.learn.sampler import Sampler
from tui.learn.trainer import Fitter


def test_neighbour_lists_converge_to_the_true_neighbours(tmp_path):
    """Samples that together cover the pool leave each anchor's exact k nearest rows."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 16))
    write_features(tmp_path / "f.h5", X)
    with FeatureFile(str(tmp_path / "f.h5")) as f:
        near = ranking.NearPositives(f, k=10)
        anchors = [5, 900, 2999]
        near.anchor(anchors)
        order = rng.permutation(f.n)
        for part in np.array_split(order, 7):           # seven samples, in no order
            rows = np.sort(part)
            near.update(rows, f.rows(rows))
        stored = f.rows(np.arange(f.n))
        want = set()
        for a in anchors:
            want |= set(np.argsort(-(stored @ stored[a]), kind="stable")[:10].tolist())
        assert set(near.rows().tolist()) == want
        near.anchor([900])                             # an undone positive drops out
        assert set(near.rows().tolist()) == \
            set(np.argsort(-(stored @ stored[900]), kind="stable")[:10].tolist())


def _rare_cluster_pool(path, n=3000, n_pos=16, seed=0):
    """Positives: a tight group away from everything else; negatives: noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 16))
    y = np.zeros(n, bool)
    pos = rng.choice(n, n_pos, replace=False)
    y[pos] = True
    centre = normalise(rng.standard_normal((1, 16)))[0]
    X[pos] = centre * 8 + 0.6 * rng.standard_normal((n_pos, 16))
    keys = write_features(path, X)
    return keys, dict(zip(keys, y))


def _patch(monkeypatch, anchors=ranking.ANCHORS):
    monkeypatch.setattr(ranking, "FULL_SCAN_MAX", 100)
    monkeypatch.setattr(ranking, "SAMPLE_ROWS", 60)        # 2% of the pool per fit
    monkeypatch.setattr(ranking, "ANCHORS", anchors)


@pytest.mark.parametrize("anchors", [ranking.ANCHORS, 0])
def test_members_of_a_rare_group_seen_in_earlier_samples_stay_scored(tmp_path, monkeypatch, anchors):
    """Each fit scores a fresh 2% sample; the members of a positive's group that earlier
    samples held stay scored by every later fit (they are its nearest neighbours), so
    maxprob can still pick them. Without the neighbours (ANCHORS 0) only the last sample is."""
    _patch(monkeypatch, anchors)
    keys, truth = _rare_cluster_pool(tmp_path / "f.h5", n_pos=40)
    group = {i for i, k in enumerate(keys) if truth[k]}
    with FeatureFile(str(tmp_path / "f.h5")) as f:
        first = min(group)
        labelled = np.r_[[first], np.flatnonzero(~np.isin(np.arange(f.n), list(group)))[:50]]
        model = Fitter(f.dim).fit(f.rows(labelled), np.arange(len(labelled)) == 0, 1)
        ranker, seen = ranking.Ranker(f, seed=0), set()
        for _ in range(30):
            proba = ranker.score(model, positives=[first])
            seen |= set(ranker.sample.tolist())
        scored = set(np.flatnonzero(~np.isnan(proba)).tolist())
        assert set(ranker.sample.tolist()) <= scored
        members_seen = (seen & group) - set(ranker.sample.tolist())
        assert len(members_seen) >= 10
        if anchors:
            assert members_seen <= scored
        else:
            assert not members_seen & scored and scored == set(ranker.sample.tolist())


def test_positives_left_is_estimated_from_the_random_sample_alone(tmp_path, monkeypatch):
    """The estimate of positives left is the mean probability over the free items of the
    random sample times the free items: the neighbours of positives, mostly positives
    themselves, are no random sample and would inflate it (here 2.4-fold)."""
    _patch(monkeypatch)
    keys, truth = _rare_cluster_pool(tmp_path / "f.h5", n_pos=40)
    with Sampler(tmp_path / "f.h5", strategy="maxprob", random_share=0.0, seed=1, poll=0.05) as s:
        found = 0
        for _ in range(150):
            k = s.next()
            s.record(k, bool(truth[k]))
            s.wait_idle(30)
            found += bool(truth[k])
            if found >= 12:
                break
        proba, model, sample = s.predict_proba(), s._model, s._ranker.sample
        free = np.ones(len(keys), bool)
        free[s.features.indices_of([a.key for a in s.store.answers()])] = False
        pc = prior_corrected(proba, model.n_pos, model.n_neg)
        in_sample = np.zeros(len(keys), bool)
        in_sample[sample] = True
        from_sample = pc[free & in_sample].mean() * free.sum()
        from_all_scored = np.nanmean(pc[free]) * free.sum()
        assert found >= 12 and (~np.isnan(proba)).sum() > len(sample)
        assert s.stats()["positives_left"] == pytest.approx(from_sample, rel=1e-5)
        assert from_all_scored > 1.5 * from_sample
