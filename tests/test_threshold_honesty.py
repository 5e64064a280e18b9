"""Issue 15, item 3: `--include-predicted` reports precision and recall of the boxes it
adds as estimated from the uniform random picks, with an interval that holds the truth
of a simulated pool, and says when there are too few picks to tell.

The pool is a seeded Gaussian mixture of 6,000 boxes written as a real features file;
the Sampler's own choice and classifier (entropy, random share 0.25; without its
threads, so a seed gives one run) pick 300 items, a simulated annotator answers by the
truth into a real labels file, and the real `annotate export` writes COCO. Coverage
over many seeds, with the real threaded Sampler: bench/threshold_honesty.py."""

from __future__ import annotations

import re

import pytest
from pool_sim import annotate_steps, cross_validated, gaussian_pool, printed_figures, true_figures
from scipy.stats import binomtest

from tui.cli import main
from tui.export.pool_estimate import wilson
from tui.learn.sampler import default_labels_path
from tui.store.features import FeatureFile
from tui.store.labels import LabelStore


#: The seed of the fixed-seed check. Seed 0 was tried first: its uniform picks hold 10
#: positives of 69 where the pool holds 30% (2.8 standard deviations low), and at
#: threshold 0.5 both its intervals miss, as a 95% interval may; seeds 1 to 10 held the
#: truth in all 36 intervals printed. Coverage over 40 runs of the real Sampler:
#: bench/threshold_honesty.py (README).
SEED = 1


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    d = tmp_path_factory.mktemp("honest")
    fp = d / "features.h5"
    truth = gaussian_pool(fp, n=6000, seed=SEED)
    labels = annotate_steps(fp, truth, answers=300, random_share=0.25, seed=SEED)
    return fp, truth, labels


@pytest.mark.parametrize("how", [["--threshold", "0.5"], ["--precision", "0.9"]],
                         ids=["given", "auto"])
def test_the_printed_interval_holds_the_pool_truth(job, tmp_path, capsys, how):
    fp, truth, labels = job
    out = tmp_path / "pred.json"
    assert main(["export", str(fp), "--format", "coco", "--include-predicted", *how,
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "uniform random picks" in text and "Wilson 95% intervals" in text
    assert "labelled since" not in text      # 300 answers in 6,000: under 5% on average
    got = printed_figures(text)
    true_prec, true_rec = true_figures(out, truth, labels)
    if how[0] == "--threshold":
        assert set(got) == {"precision", "recall"}
    else:   # auto chooses a high threshold: precision only with 10 picks above it
        assert "recall" in got
        assert ("precision" in got) != ("precision: too few to estimate" in text)
    for name, true in (("precision", true_prec), ("recall", true_rec)):
        if name in got:
            est, lo, hi = got[name]
            assert lo <= est <= hi
            assert lo <= true <= hi, f"{name}: true {true:.3f} outside [{lo}, {hi}]\n{text}"
    if how[0] == "--precision":
        # the labels active learning chose put recall further off (the old report)
        cv_prec, cv_rec = cross_validated(text)
        assert abs(cv_rec - true_rec) > abs(got["recall"][0] - true_rec)


def test_too_few_random_picks_says_so_with_the_counts(tmp_path, capsys):
    small = tmp_path / "features.h5"    # 60 answers, no random share: the cold start's
    truth = gaussian_pool(small, seed=0)  # uniform picks are the only ones
    annotate_steps(small, truth, answers=60, random_share=0.0, seed=0)
    with FeatureFile(small) as f, LabelStore(default_labels_path(small), f.id) as st:
        picks = [a for a in st.answers() if a.strategy == "random"]
    assert 0 < len(picks) < 10
    assert main(["export", str(small), "--format", "coco", "--include-predicted",
                 "--threshold", "0.5", "-o", str(tmp_path / "x.json")]) == 0
    text = capsys.readouterr().out
    assert f"estimated from {len(picks)} uniform random picks" in text
    assert "precision: too few to estimate" in text and "recall: too few to estimate" in text
    assert "(10 needed," in text and "--random-share" in text


def test_wilson_agrees_with_scipy():
    for k, n in ((0, 10), (3, 10), (10, 10), (48, 57), (1, 200)):
        ci = binomtest(k, n).proportion_ci(method="wilson")
        assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-6)


def test_the_share_of_the_pool_labelled_since_the_picks_is_said(tmp_path, capsys):
    # 300 answers in a pool of 1,500: the picks' pool still held a fifth of it labelled since
    fp = tmp_path / "features.h5"
    truth = gaussian_pool(fp, n=1500, seed=SEED)
    annotate_steps(fp, truth, answers=300, random_share=0.25, seed=SEED)
    with FeatureFile(fp) as f, LabelStore(default_labels_path(fp), f.id) as st:
        log = st.answers()
    want = [sum(1 for later in log[n + 1:]) / (1500 - n)
            for n, a in enumerate(log) if a.strategy == "random"]
    assert main(["export", str(fp), "--format", "coco", "--include-predicted", "--threshold",
                 "0.5", "-o", str(tmp_path / "x.json")]) == 0
    text = capsys.readouterr().out
    said = re.search(r"still held the items labelled since \((\d+)% of it on average\)", text)
    assert said and int(said[1]) == round(100 * sum(want) / len(want))
