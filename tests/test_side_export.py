"""Side inputs through the commands (issue 16): `annotate --prior/--condition` refusing a bad
column, the exported model carrying its side inputs, `annotate predict` applying them and
refusing a features file that lacks the columns."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from h5fixtures import write_features

from tui.cli import main
from tui.export.dispatch import run_export
from tui.export.model_file import load_model
from tui.learn.sampler import Sampler


def claims_file(path, seed=0, n=400, K=3, d=12, meta_extra=None):
    """Images in K clusters; a detector-like score; a claimed label right 70% of the time."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((K, d)) * 2.0
    true = rng.integers(0, K, n)
    X = centres[true] + rng.standard_normal((n, d))
    claim = np.where(rng.random(n) < 0.7, true, (true + rng.integers(1, K, n)) % K)
    wrong = claim != true
    score = np.clip(0.5 * wrong + 0.5 * rng.random(n), 0, 1)
    meta = [{"claim": f"c{c}", "score": float(s), **(meta_extra or {})}
            for c, s in zip(claim, score)]
    keys = write_features(path, X, meta=meta)
    return keys, wrong


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("side")
    fp = d / "f.h5"
    keys, wrong = claims_file(fp)
    with Sampler(fp, strategy="entropy", prior="score", condition="claim", poll=0.2) as s:
        for _ in range(40):
            k = s.next()
            s.record(k, bool(wrong[keys.index(k)]))
            s.wait_idle(30)
        proba = s.predict_proba()
        run_export("model", fp, d / "m.json", model=s.model)
    return fp, d, proba, wrong


def test_the_model_file_carries_the_side_inputs(trained):
    fp, d, proba, wrong = trained
    m = load_model(d / "m.json")
    side = m.doc["side_inputs"]
    assert m.doc["format_version"] == 2
    assert side["prior"]["column"] == "score" and side["prior"]["transform"] == "probability"
    assert side["condition"] == {"column": "claim", "values": ["c0", "c1", "c2"],
                                 "shape": "weak-shared+per-label"}
    assert m.arrays["V"].shape == (3, 12) and m.arrays["offsets"].shape == (3,)


def test_predict_applies_them_as_the_sampler_did(trained, tmp_path):
    fp, d, proba, wrong = trained
    out = tmp_path / "s.h5"
    assert main(["predict", str(d / "m.json"), str(fp), "-o", str(out)]) == 0
    with h5py.File(out) as h:
        got = h["prob"][:]
    np.testing.assert_allclose(got, proba, atol=2e-3)   # float16 mv against float32 blocks


def test_predict_refuses_a_file_without_the_columns_naming_them(trained, tmp_path, capsys):
    fp, d, _, _ = trained
    other = tmp_path / "other.h5"
    rng = np.random.default_rng(5)
    write_features(other, rng.standard_normal((20, 12)), meta=[{"claim": "c1", "source": "x"}] * 20)
    assert main(["predict", str(d / "m.json"), str(other), "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "'score'" in err and "no item has a metadata column 'score'" in err
    assert "claim, source" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_predict_fills_and_says_unseen_labels_and_missing_scores(trained, tmp_path, capsys):
    fp, d, _, _ = trained
    other = tmp_path / "other.h5"
    rng = np.random.default_rng(6)
    meta = [{"claim": "c9", "score": 0.2}, {"claim": "c1"}] + [{"claim": "c0", "score": 0.9}] * 8
    write_features(other, rng.standard_normal((10, 12)), meta=meta)
    assert main(["predict", str(d / "m.json"), str(other), "-o", str(tmp_path / "o.csv")]) == 0
    out = capsys.readouterr().out
    assert "--prior score: 1 of 10 items have no numeric value" in out
    assert "--condition claim: 1 items carry a label the model never saw" in out


def test_cli_export_refits_with_the_side_inputs_the_labels_file_remembers(trained, tmp_path):
    fp, d, proba, _ = trained
    assert main(["export", str(fp), "--format", "model", "-o", str(tmp_path / "r.json")]) == 0
    m = load_model(tmp_path / "r.json")
    assert m.doc["source"] == "refit" and set(m.doc["side_inputs"]) == {"prior", "condition"}
    assert main(["export", str(fp), "--format", "scores-h5", "-o", str(tmp_path / "s.h5")]) == 0
    with h5py.File(tmp_path / "s.h5") as h:
        np.testing.assert_allclose(h["prob"][:], proba, atol=0.02)


def test_annotate_refuses_an_absent_column_before_the_app(tmp_path, capsys):
    fp = tmp_path / "f.h5"
    claims_file(fp, n=30)
    assert main([str(fp), "--prior", "confidence"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("annotate: ") and "'confidence'" in err and "claim, score" in err
    assert "Traceback" not in err
    assert main([str(fp), "--condition", "category"]) == 2
    assert "'category'" in capsys.readouterr().err


def test_annotate_help_says_what_each_is_for(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--prior COLUMN" in text and "a score to start from" in text
    assert "--condition COLUMN" in text and "whether that label is right" in text


def test_a_plain_model_file_stays_version_1(tmp_path):
    fp = tmp_path / "f.h5"
    keys, wrong = claims_file(fp, n=60)
    with Sampler(fp, poll=0.2) as s:
        for k, w in zip(keys[:10], [True, False] * 5):
            s.record(k, w)
        s.wait_idle(30)
        run_export("model", fp, tmp_path / "m.json", model=s.model)
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["format_version"] == 1 and "side_inputs" not in doc


def test_coco_include_predicted_uses_the_side_inputs_it_was_trained_with(tmp_path, capsys):
    """Boxes whose image vectors say nothing and whose detector score says almost all:
    the boxes accepted without a human are those the model with the prior accepts (its
    probabilities, its cross-validated threshold), and they are right."""
    rng = np.random.default_rng(3)
    n = 300
    truth = rng.random(n) < 0.2
    score = np.where(truth, 0.65 + 0.35 * rng.random(n), 0.35 * rng.random(n))
    paths = [f"/data/img_{i // 5:04d}.jpg" for i in range(n)]
    boxes = np.tile([[4, 4, 20, 20]], (n, 1)) + np.arange(n)[:, None] % 5 * 8
    fp = tmp_path / "f.h5"
    keys = write_features(fp, rng.standard_normal((n, 8)), paths=paths, boxes=boxes,
                          meta=[{"score": float(s)} for s in score])
    with Sampler(fp, strategy="random", prior="score", poll=0.2) as s:
        for _ in range(50):
            k = s.next()
            s.record(k, bool(truth[keys.index(k)]))
            assert s.wait_idle(60)
        proba = s.predict_proba()
        answered = set(s.current_answers())
    out = tmp_path / "c.json"
    assert main(["export", str(fp), "--format", "coco", "--include-predicted", "--precision",
                 "0.9", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    doc = json.loads(out.read_text())
    pred = {a["key"]: a["score"] for a in doc["annotations"] if a["predicted"]}
    free = [i for i, k in enumerate(keys) if k not in answered]
    assert len(pred) > 0.6 * truth[free].sum()                    # most unjudged positives
    right = [truth[keys.index(k)] for k in pred]
    assert np.mean(right) >= 0.9, (np.mean(right), len(right))    # the precision asked
    for k, p in pred.items():                                     # the sampler's probabilities
        assert p == pytest.approx(proba[keys.index(k)], abs=2e-3)
    t = min(pred.values())
    assert all(proba[i] < t + 2e-3 for i in free if keys[i] not in pred)
