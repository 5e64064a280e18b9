"""Issue 15, item 4: the task's question (`annotate --question`, kept in the labels file's
`meta` table by tui/store/task.py) travels in the metadata of every export that has
metadata (COCO `info`, the scores HDF5's attributes, the model JSON), and is absent
where the row is absent. CSV, JSONL, scores CSV and crops
have no metadata to put it in (a header line would stop a CSV being a refs list)."""

from __future__ import annotations

import json

import h5py
import pytest
from app_fixtures import make_pool

from tui.cli import main
from tui.learn.sampler import default_labels_path
from tui.store.features import FeatureFile
from tui.store.labels import LabelStore
from tui.store.labels_readonly import ReadOnlyLabels
from tui.store.task import settle_question

QUESTION = "Is there a crack in the weld? «é» 1/2"


def labelled_pool(folder):
    """Every item answered (boxes on photo_0 and crops of china positive), so COCO holds
    every image whole."""
    fp, keys = make_pool(folder, n_files=4, n_boxes=6)
    with FeatureFile(fp) as f, LabelStore(default_labels_path(fp), f.id,
                                          has_key=f.__contains__) as st:
        for i, k in enumerate(keys):
            pos = f.meta(i).get("photo") == "china" or f.path(i).endswith("photo_0.jpg")
            st.record(k, "pos" if pos else "neg")
    return fp


def set_question(fp, text):
    """As `annotate --question TEXT` stores it (tui.store.task.settle_question)."""
    with FeatureFile(fp) as f, LabelStore(default_labels_path(fp), f.id) as st:
        assert settle_question(st, text) == text


def exports(fp, out):
    out.mkdir()
    for fmt, name in (("coco", "c.json"), ("scores-h5", "s.h5"), ("model", "m.json")):
        assert main(["export", str(fp), "--format", fmt, "-o", str(out / name)]) == 0
    with h5py.File(out / "s.h5", "r") as h:
        attrs = dict(h.attrs)
    return (json.loads((out / "c.json").read_text())["info"], attrs,
            json.loads((out / "m.json").read_text()))


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    return labelled_pool(tmp_path_factory.mktemp("q"))


def test_question_in_every_exports_metadata(pool, tmp_path):
    set_question(pool, QUESTION)
    info, attrs, model = exports(pool, tmp_path / "with")
    assert info["question"] == QUESTION
    assert attrs["question"] == QUESTION
    assert model["question"] == QUESTION
    # `annotate predict` with that model: its scores carry the model's question
    out = tmp_path / "with" / "p.h5"
    assert main(["predict", str(tmp_path / "with" / "m.json"), str(pool), "-o", str(out),
                 "--format", "scores-h5"]) == 0
    with h5py.File(out, "r") as h:
        assert h.attrs["question"] == QUESTION


def test_no_question_row_no_question_field(tmp_path):
    fp = labelled_pool(tmp_path / "pool")
    info, attrs, model = exports(fp, tmp_path / "without")
    assert "question" not in info and "question" not in attrs and "question" not in model


def test_read_only_labels_give_their_question(pool):
    set_question(pool, QUESTION)
    with FeatureFile(pool) as f:
        ro = ReadOnlyLabels(default_labels_path(pool), f.id, f.__contains__)
        assert ro.setting("question") == QUESTION
