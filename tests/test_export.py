"""`annotate export` through its real path: a features file with real photos (h5py), a
SQLite labels file (LabelStore), the exports read back with csv, json, h5py and Pillow."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from app_fixtures import make_pool
from h5fixtures import write_features, write_synthetic
from PIL import Image

from refs import read_refs
from tui.export import scores as export_scores
from tui.cli import main
from tui.export.dispatch import run_export
from tui.export.atomic import ExportError, atomic_file
from tui.store.features import FeatureFile
from tui.store.labels import LabelStore
from tui.learn.sampler import default_labels_path


def truth_of(f: FeatureFile, i: int) -> bool:
    """The pool's ground truth: crops of the first photo (china) and boxes on it are positive."""
    return f.meta(i).get("photo") == "china" or f.path(i).endswith("photo_0.jpg")


def label_pool(fp, n_label: int | None = None, skip: int = 1, annotator="ann"):
    """Answer the first n_label items by the truth (one skipped, one answer undone);
    return {key: answer} as the labels file now holds it."""
    with FeatureFile(fp) as f:
        store = LabelStore(default_labels_path(fp), f.id, has_key=f.__contains__,
                           annotator=annotator)
        keys = list(f.keys)[: n_label or f.n]
        want = {}
        for i, k in enumerate(keys):
            ans = "skip" if i < skip else ("pos" if truth_of(f, i) else "neg")
            store.record(k, ans, prob=round(0.1 + i / 100, 3), model_version=i, strategy="entropy")
            want[k] = ans
        # a wrong answer, then undone: the export must show the answer before it
        store.record(keys[-1], "pos" if want[keys[-1]] == "neg" else "neg", prob=0.5)
        store.undo()
        store.close()
    return want


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    d = tmp_path_factory.mktemp("pool")
    fp, keys = make_pool(d, n_files=12, n_boxes=10)
    want = label_pool(fp, n_label=18)
    return fp, keys, want


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_csv_rows_hold_labels_boxes_and_metadata(pool, tmp_path):
    fp, keys, want = pool
    out = tmp_path / "labels.csv"
    assert main(["export", str(fp), "--format", "csv", "-o", str(out)]) == 0
    rows = read_csv(out)
    assert [r["key"] for r in rows] == list(want)          # first answered first
    assert {r["key"]: r["answer"] for r in rows} == want   # the undone answer is not the label
    with FeatureFile(fp) as f:
        for r in rows:
            i = f.index_of(r["key"])
            assert r["path"] == f.path(i)
            box = f.box(i)
            if box is None:
                assert [r[c] for c in ("x1", "y1", "x2", "y2")] == [""] * 4
                assert r["photo"] == f.meta(i)["photo"] and r["source"] == "sklearn"
            else:
                assert [float(r[c]) for c in ("x1", "y1", "x2", "y2")] == list(box)
                assert float(r["score"]) == f.meta(i)["score"]
            assert r["annotator"] == "ann" and r["strategy"] == "entropy"
            assert r["time"].endswith("Z") and r["time"][:4].isdigit()
    n = keys.index(rows[3]["key"])
    assert float(rows[3]["prob"]) == pytest.approx(0.1 + n / 100)
    assert int(rows[3]["model_version"]) == n
    # the export is itself a refs list: the same items, the same keys
    assert [it.key for it in read_refs(out).items] == [r["key"] for r in rows]


def test_jsonl_rows_and_metadata_names_that_collide(pool, tmp_path):
    fp, keys, want = pool
    out = tmp_path / "labels.jsonl"
    assert main(["export", str(fp), "--format", "jsonl", "-o", str(out)]) == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["key"]: r["answer"] for r in recs} == want
    boxed = [r for r in recs if r["box"] is not None]
    assert boxed and all(len(r["box"]) == 4 and "score" in r for r in boxed)
    assert [it.key for it in read_refs(out).items] == [r["key"] for r in recs]
    # metadata named like a fixed column keeps its value under meta_NAME
    fp2 = tmp_path / "m.h5"
    k2 = write_features(fp2, np.eye(3), meta=[{"answer": "cat", "time": 3}] * 3)
    with FeatureFile(fp2) as f, LabelStore(default_labels_path(fp2), f.id) as st:
        st.record(k2[0], "pos")
    run_export("jsonl", fp2, tmp_path / "m.jsonl")
    (rec,) = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert rec["answer"] == "pos" and rec["meta_answer"] == "cat" and rec["meta_time"] == 3


def model_arrays(json_path):
    doc = json.loads(json_path.read_text())
    with np.load(json_path.with_name(doc["weights_file"]), allow_pickle=False) as z:
        return doc, z["w"], float(z["b"][0])


def test_model_file_then_scores_csv_and_h5_for_every_item(pool, tmp_path, monkeypatch):
    fp, keys, want = pool
    monkeypatch.setattr(export_scores, "BLOCK", 5)   # several blocks over 22 rows
    assert main(["export", str(fp), "--format", "model", "-o", str(tmp_path / "m.json")]) == 0
    doc, w, b = model_arrays(tmp_path / "m.json")
    with FeatureFile(fp) as f:
        with h5py.File(fp, "r", locking=False) as h:
            X = np.asarray(h["features"][:], np.float32)
        assert doc["backbone"] == {"model": "test-model", "weights": "none", "preprocess": {},
                                   "box_mode": "crop", "context": 0.0}
        assert doc["features"]["uuid"] == f.id and doc["dim"] == f.dim == w.shape[0]
        counts = {a: list(want.values()).count(a) for a in ("pos", "neg", "skip")}
        assert {k: doc["labels"][k] for k in counts} == counts
        truth = np.array([truth_of(f, i) for i in range(f.n)])
    expect = 1 / (1 + np.exp(-(X @ w + b)))
    assert expect[truth].mean() > expect[~truth].mean() + 0.2   # it learned the colours

    assert main(["export", str(fp), "--format", "scores", "-o", str(tmp_path / "s.csv")]) == 0
    rows = read_csv(tmp_path / "s.csv")
    assert [r["key"] for r in rows] == keys
    np.testing.assert_allclose([float(r["prob"]) for r in rows], expect, atol=2e-3)
    assert {r["key"]: r["label"] for r in rows if r["label"]} == want

    assert main(["export", str(fp), "--format", "scores-h5", "-o", str(tmp_path / "s.h5")]) == 0
    with h5py.File(tmp_path / "s.h5", "r") as h:
        assert [k.decode() for k in h["key"][:]] == keys
        np.testing.assert_allclose(h["prob"][:], [float(r["prob"]) for r in rows], atol=1e-6)
        names = {-1: "", 0: "neg", 1: "pos", 2: "skip"}
        assert [names[c] for c in h["label"][:]] == [r["label"] for r in rows]
        assert h["path"][3].decode() == rows[3]["path"]


def test_pending_rows_score_empty(tmp_path):
    fp = tmp_path / "f.h5"
    status = [1, 1, 0, 2, 1, 1]
    keys = write_features(fp, np.random.default_rng(1).standard_normal((6, 4)), status=status)
    with FeatureFile(fp) as f, LabelStore(default_labels_path(fp), f.id) as st:
        st.record(keys[0], "pos")
        st.record(keys[1], "neg")
    run_export("scores", fp, tmp_path / "s.csv")
    probs = [r["prob"] for r in read_csv(tmp_path / "s.csv")]
    assert [p == "" for p in probs] == [s != 1 for s in status]


def test_scores_csv_quotes_odd_paths_in_any_block(tmp_path, monkeypatch):
    monkeypatch.setattr(export_scores, "BLOCK", 3)
    fp = tmp_path / "f.h5"
    paths = ["/d/plain.jpg", "/d/a,b.jpg", '/d/say "cheese".jpg', "/d/é ü.png",
             "/d/x.jpg", "/d/y.jpg", "/d/new\nline.jpg"]
    boxes = [[1.5, 2.25, 30.1, 40.7] if i % 2 else [np.nan] * 4 for i in range(len(paths))]
    keys = write_features(fp, np.random.default_rng(2).standard_normal((7, 3)), paths=paths,
                          boxes=boxes)
    with FeatureFile(fp) as f, LabelStore(default_labels_path(fp), f.id) as st:
        st.record(keys[0], "pos")
        st.record(keys[1], "neg")
    run_export("scores", fp, tmp_path / "s.csv")
    rows = read_csv(tmp_path / "s.csv")
    assert [r["path"] for r in rows] == paths and [r["key"] for r in rows] == keys
    assert [r["x2"] for r in rows] == ["", "30.1"] * 3 + [""]
    assert [r["label"] for r in rows] == ["pos", "neg"] + [""] * 5


def test_imagefolder_crops_with_and_without_context(pool, tmp_path):
    fp, keys, want = pool
    for context in (0.15, 0.0):
        out = tmp_path / f"crops{context}"
        assert main(["export", str(fp), "--format", "imagefolder", "-o", str(out),
                     "--context", str(context)]) == 0
        got = {p.stem: "pos" for p in (out / "positive").iterdir()}
        got.update({p.stem: "neg" for p in (out / "negative").iterdir()})
        assert got == {k: a for k, a in want.items() if a != "skip"}
        with FeatureFile(fp) as f:
            for key in got:
                i = f.index_of(key)
                src = np.asarray(Image.open(f.path(i)).convert("RGB"), np.float32)
                crop = np.asarray(Image.open(out / ("positive" if got[key] == "pos" else
                                                    "negative") / f"{key}.jpg"), np.float32)
                box = f.box(i)
                if box is None:
                    expect = src
                else:
                    x1, y1, x2, y2 = box
                    gx, gy = (x2 - x1) * context, (y2 - y1) * context
                    H, W = src.shape[:2]
                    expect = src[int(np.floor(max(0, y1 - gy))):int(np.ceil(min(H, y2 + gy))),
                                 int(np.floor(max(0, x1 - gx))):int(np.ceil(min(W, x2 + gx)))]
                assert crop.shape == expect.shape
                assert np.abs(crop - expect).mean() < 4   # JPEG quality 95
    # an existing non-empty folder is refused, nothing in it touched
    assert main(["export", str(fp), "--format", "imagefolder", "-o", str(out)]) == 2


def run(*args):
    return subprocess.run([sys.executable, "-m", "tui", *map(str, args)], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def clean_failure(res, *words):
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    for w in words:
        assert w in res.stderr, res.stderr


def test_user_mistakes_exit_2_with_one_clear_line(pool, tmp_path, capsys):
    fp, keys, want = pool
    fresh = tmp_path / "fresh.h5"
    fk = write_features(fresh, np.eye(4))
    cases = [
        (["export", fresh, "--format", "csv"], ["no labels yet", "fresh.labels.sqlite"]),
        (["export", fp, "--format", "parquet"], ["unknown format 'parquet'", "csv"]),
        (["export", fp, "--format", "csv", "-o", tmp_path / "nodir" / "x.csv"],
         ["nodir", "does not exist"]),
        (["export", fp, "--format", "csv", "-o", fp / "x.csv"], ["features.h5"]),
        (["export", fp, "--format", "csv", "-o", tmp_path], ["is a folder"]),
        (["export", fp, "--format", "model", "-o", tmp_path / "m.txt"], [".json"]),
        (["export", tmp_path / "missing.h5", "--format", "csv"], ["missing.h5", "no such"]),
        (["export", fp, "--format", "scores", "--include-predicted"], ["coco"]),
        (["export", fp, "--format", "coco", "--include-predicted", "--threshold", "high"],
         ["'high'"]),
    ]
    for argv, words in cases:
        rc = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert rc == 2, (argv, err)
        assert all(w in err for w in words), (argv, err)
    assert not default_labels_path(fresh).exists()      # refusing created nothing
    # labels file with answers only for negatives: no model, no COCO
    with FeatureFile(fresh) as f, LabelStore(default_labels_path(fresh), f.id) as st:
        assert main(["export", str(fresh), "--format", "csv"]) == 2   # empty labels file
        assert "no labels yet" in capsys.readouterr().err
        st.record(fk[0], "neg")
    assert main(["export", str(fresh), "--format", "scores"]) == 2
    assert "at least one positive and one negative" in capsys.readouterr().err
    assert main(["export", str(fresh), "--format", "coco"]) == 2
    assert "no accepted boxes" in capsys.readouterr().err
    # the same, as a person runs it: no traceback
    clean_failure(run("export", fresh, "--format", "coco"), "no accepted boxes")
    clean_failure(run("export", fp, "--format", "csv", "-o", "/proc/x.csv"), "/proc/x.csv")


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("old, complete export\n")
    with pytest.raises(RuntimeError):
        with atomic_file(out) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half of a new")
                fh.flush()
                assert tmp.parent == out.parent and tmp.stat().st_size > 0
                raise RuntimeError("crash mid-write")
    assert out.read_text() == "old, complete export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]
    with pytest.raises(ExportError, match="nothing was written"):
        with atomic_file(tmp_path / "never.csv"):
            pass
    assert not (tmp_path / "never.csv").exists()


@pytest.mark.slow
def test_killed_export_never_leaves_half_a_file(tmp_path):
    fp = tmp_path / "big.h5"
    write_synthetic(fp, 300_000, 16)
    with FeatureFile(fp) as f, LabelStore(default_labels_path(fp), f.id) as st:
        st.record(f.key(0), "pos")
        st.record(f.key(1), "neg")
    out = tmp_path / "scores.csv"
    out.write_text("old\n")
    proc = subprocess.Popen([sys.executable, "-m", "tui", "export", str(fp), "--format",
                             "scores", "-o", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    t0, part = time.monotonic(), None
    while time.monotonic() - t0 < 60 and proc.poll() is None:
        parts = [p for p in tmp_path.iterdir() if ".part-" in p.name]
        if parts and parts[0].stat().st_size > 100_000:
            part = parts[0]
            break
        time.sleep(0.005)
    assert part is not None, "the export finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert out.read_text() == "old\n"          # the final name still holds the old export
    assert part.name.startswith(".scores.csv.part-")
