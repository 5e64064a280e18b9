"""`annotate predict` and the model file: the sampler's probabilities back, features of
another backbone refused, a pickle in the `.npz` never loaded."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
from app_fixtures import make_pool
from h5fixtures import write_features

from tui.cli import main
from tui.export.dispatch import run_export
from tui.app.export_dialog import sampler_model
from tui.store.features import FeatureFile
from tui.export.model_file import load_model
from tui.learn.sampler import Sampler


def truth(f: FeatureFile, i: int) -> bool:
    return f.meta(i).get("photo") == "china" or f.path(i).endswith("photo_0.jpg")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real Sampler that learned from 16 answers; its model written as a model file."""
    d = tmp_path_factory.mktemp("predict")
    fp, keys = make_pool(d, n_files=16, n_boxes=12)
    s = Sampler(fp, seed=0, poll=0.2)
    try:
        for i, k in enumerate(keys[:16]):
            s.record(k, truth(s.features, i))
            s.wait_idle(60)
        proba = s.predict_proba()
        model = sampler_model(s)
        assert model is not None and model.version == s.model_version
        run_export("model", fp, d / "sampler.json", model=model)
    finally:
        s.close()
    return fp, d, proba


def h5_probs(path):
    with h5py.File(path, "r") as h:
        return h["prob"][:]


def test_predict_gives_the_sampler_probabilities(trained, tmp_path, capsys):
    fp, d, proba = trained
    out = tmp_path / "scores.h5"
    assert main(["predict", str(d / "sampler.json"), str(fp), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    np.testing.assert_array_equal(h5_probs(out), proba)        # bit for bit
    with FeatureFile(fp) as f:
        t = np.array([truth(f, i) for i in range(f.n)])
    assert proba[t].mean() > proba[~t].mean() + 0.2


def test_cli_refit_agrees_with_the_sampler(trained, tmp_path):
    fp, d, proba = trained
    assert main(["export", str(fp), "--format", "model", "-o", str(tmp_path / "m.json")]) == 0
    assert load_model(tmp_path / "m.json").doc["source"] == "refit"
    assert main(["predict", str(tmp_path / "m.json"), str(fp), "-o", str(tmp_path / "s.h5")]) == 0
    np.testing.assert_allclose(h5_probs(tmp_path / "s.h5"), proba, atol=0.02)


def other_features(path, d=67, **attrs):
    keys = write_features(path, np.random.default_rng(0).standard_normal((5, d)))
    with h5py.File(path, "r+") as h:
        h.attrs.update(attrs)
    return keys


@pytest.mark.parametrize("change, words", [
    ({"model": "vit_small_patch14_dinov2"}, ["model: model 'test-model', features "
                                             "'vit_small_patch14_dinov2'"]),
    ({"weights": "sha256:abc"}, ["weights"]),
    ({"preprocess": json.dumps({"size": 224})}, ["preprocess"]),
    ({"box_mode": "pool"}, ["box_mode: model 'crop', features 'pool'"]),
    ({"context": 0.25}, ["context"]),
])
def test_predict_refuses_features_made_another_way(trained, tmp_path, capsys, change, words):
    fp, d, proba = trained
    other = tmp_path / "other.h5"
    other_features(other, **change)
    out = tmp_path / "s.csv"
    assert main(["predict", str(d / "sampler.json"), str(other), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "other.h5" in err and "made differently" in err
    assert all(w in err for w in words), err
    assert not out.exists()


def test_predict_refuses_another_dimension_and_runs_as_a_command(trained, tmp_path):
    fp, d, proba = trained
    other_features(tmp_path / "o.h5", d=12)
    res = subprocess.run([sys.executable, "-m", "tui", "predict", str(d / "sampler.json"),
                          str(tmp_path / "o.h5"), "-o", str(tmp_path / "s.csv")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "dim: model 67, features 12" in res.stderr


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_in_the_npz_is_refused_and_never_run(trained, tmp_path, capsys):
    fp, d, proba = trained
    doc = json.loads((d / "sampler.json").read_text())
    marker = tmp_path / "ran"
    npz = tmp_path / "evil.npz"
    np.savez(npz, w=np.array([Payload(str(marker))] * 67, dtype=object),
             b=np.zeros(1, np.float32))
    doc.update(weights_file="evil.npz", weights_sha256=hashlib.sha256(npz.read_bytes()).hexdigest())
    (tmp_path / "evil.json").write_text(json.dumps(doc))
    assert main(["predict", str(tmp_path / "evil.json"), str(fp), "-o",
                 str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert "evil.npz" in err and "pickle" in err
    assert not marker.exists() and not (tmp_path / "s.csv").exists()
    # a weights file that is not the one the JSON names is refused too
    doc["weights_sha256"] = "0" * 64
    (tmp_path / "evil.json").write_text(json.dumps(doc))
    assert main(["predict", str(tmp_path / "evil.json"), str(fp), "-o",
                 str(tmp_path / "s.csv")]) == 2
    assert "checksum" in capsys.readouterr().err
    for bad, word in ((tmp_path / "nope.json", "no such model file"),
                      (fp, "not a model JSON file")):
        assert main(["predict", str(bad), str(fp), "-o", str(tmp_path / "s.csv")]) == 2
        assert word in capsys.readouterr().err
