"""Issue 12, `annotate predict`: crafted model files get one clear message and exit 2
(never a traceback, never gigabytes read first, never empty scores with a success
message); its output obeys the same rules as the exports."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from h5fixtures import write_features
from test_adversarial_exports import clean_failure, label, run

from tui.export.dispatch import run_export
from tui.export.scores import write_scores
from tui.export.atomic import ExportError
from tui.store.features import FeatureFile


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    fp = d / "feats.h5"
    X = np.random.default_rng(0).standard_normal((30, 8))
    X[:6] += 3.0
    write_features(fp, X)
    label(fp)
    run_export("model", fp, d / "m.json")
    return fp, d / "m.json"


def craft(model, tmp_path, change=None, npz_bytes=None, raw_json=None):
    """A copy of the model in tmp_path, its JSON changed by `change(doc)` and/or its .npz
    replaced by `npz_bytes` (the checksum in the JSON kept matching)."""
    fp, src = model
    dst = tmp_path / "m.json"
    shutil.copy(src.with_suffix(".npz"), dst.with_suffix(".npz"))
    if npz_bytes is not None:
        dst.with_suffix(".npz").write_bytes(npz_bytes)
    doc = json.loads(src.read_text())
    doc["weights_sha256"] = hashlib.sha256(dst.with_suffix(".npz").read_bytes()).hexdigest()
    if change:
        change(doc)
    dst.write_text(raw_json if raw_json is not None else json.dumps(doc))
    return dst


def predict(model_json, fp, out, **kw):
    return run("predict", model_json, fp, "-o", out, **kw)


def set_(key, value):
    return lambda doc: doc.__setitem__(key, value)


@pytest.mark.parametrize("change, words", [
    (set_("backbone", ["test-model"]), ["backbone", "['test-model']", "an object"]),
    (set_("backbone", "test-model"), ["backbone", "'test-model'"]),
    (set_("dim", "8"), ["dim", "'8'"]),
    (set_("dim", 10 ** 12), ["dim", "1000000000000"]),
    (set_("dim", True), ["dim", "True"]),
    (set_("model_version", [1]), ["model_version", "[1]"]),
])
def test_crafted_fields_are_refused_by_name(model, tmp_path, change, words):
    fp, _ = model
    m = craft(model, tmp_path, change)
    clean_failure(predict(m, fp, tmp_path / "s.csv"), str(m), *words)
    assert not (tmp_path / "s.csv").exists()


def test_deeply_nested_json_is_refused(model, tmp_path):
    fp, _ = model
    m = craft(model, tmp_path, raw_json="[" * 200_000 + "]" * 200_000)
    clean_failure(predict(m, fp, tmp_path / "s.csv"), str(m), "nested")


def npy_header(shape, descr="<f4") -> bytes:
    buf = __import__("io").BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def npz_of(members: dict, compress=zipfile.ZIP_STORED) -> bytes:
    buf = __import__("io").BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_huge_declared_npy_shape_is_refused_before_loading(model, tmp_path):
    fp, _ = model
    data = npz_of({"w.npy": npy_header((10 ** 12,)) + b"\0" * 64,
                   "b.npy": npy_header((1,)) + b"\0" * 4})
    m = craft(model, tmp_path, npz_bytes=data)
    clean_failure(predict(m, fp, tmp_path / "s.csv"), str(m.with_suffix(".npz")),
                  "(1000000000000,)", "dim 8")


def bomb(path, n: int) -> None:
    """An .npz whose w.npy declares and holds n float64 zeros, deflated (a few MB on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("w.npy", "w", force_zip64=True) as fh:
            fh.write(npy_header((n,), "<f8"))
            chunk = bytes(1 << 24)
            for _ in range(n * 8 // len(chunk)):
                fh.write(chunk)
        z.writestr("b.npy", npy_header((1,)) + b"\0" * 4)


def peak_rss_mb(args) -> tuple[int, str]:
    """(peak resident memory in MB of `python -m tui ARGS`, its stderr)."""
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], "
            "capture_output=True, text=True); sys.stderr.write(r.stderr); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)")
    res = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "tui",
                          *map(str, args)], capture_output=True, text=True, timeout=300)
    return int(res.stdout.strip()), res.stderr


@pytest.mark.slow
def test_an_npz_zip_bomb_is_refused_before_it_is_inflated(model, tmp_path):
    fp, _ = model
    m = craft(model, tmp_path, set_("weights_sha256", "0" * 64))
    base, err = peak_rss_mb(["predict", m, fp, "-o", tmp_path / "s.csv"])  # refused unread
    assert "checksum" in err
    bomb(tmp_path / "bomb.npz", 1 << 26)                           # 512 MiB inflated
    m = craft(model, tmp_path, npz_bytes=(tmp_path / "bomb.npz").read_bytes())
    rss, err = peak_rss_mb(["predict", m, fp, "-o", tmp_path / "s2.csv"])
    assert rss < base + 100, (rss, base)
    assert "Traceback" not in err and str(m.with_suffix(".npz")) in err and "dim 8" in err, err
    assert not (tmp_path / "s2.csv").exists()


def npz_with(w, b) -> bytes:
    buf = __import__("io").BytesIO()
    np.savez(buf, w=np.asarray(w), b=np.asarray(b))
    return buf.getvalue()


@pytest.mark.parametrize("w, b, words", [
    (np.full(8, 1e300), np.array([0.0]), ["w", "float32", "1e+300"]),
    (np.full(8, 0.1), np.array([-1e300]), ["b", "float32", "-1e+300"]),
])
def test_weights_beyond_float32_are_refused(model, tmp_path, w, b, words):
    fp, _ = model
    m = craft(model, tmp_path, npz_bytes=npz_with(w, b))
    out = tmp_path / "s.csv"
    clean_failure(predict(m, fp, out), str(m.with_suffix(".npz")), *words)
    assert not out.exists()


def test_scores_that_come_out_nan_are_refused_not_written(model, tmp_path):
    fp, _ = model
    out = tmp_path / "s.csv"
    with FeatureFile(fp) as f:
        with pytest.raises(ExportError, match="NaN"):
            write_scores(f, np.full(f.dim, np.nan, np.float32), 0.0, out, "scores")
    assert not out.exists() and os.listdir(tmp_path) == []


def test_predict_output_that_is_a_fifo_is_refused(model, tmp_path):
    fp, m = model
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    clean_failure(predict(m, fp, fifo), str(fifo), "not a regular file")
    assert os.path.exists(fifo) and not os.path.isfile(fifo)


def test_predict_to_stdout(model, tmp_path):
    fp, m = model
    res = predict(m, fp, "-", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("key,path,") and len(res.stdout.splitlines()) == 31
    assert "wrote" in res.stderr and not (tmp_path / "-").exists()
