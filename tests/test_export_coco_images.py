"""Issue 15, items 1 and 2: a COCO export holds only images whose every box was judged
(or, with --include-predicted, judged or scored by the model), says on stderr what it
left out, and names images as the refs file did: relative to the refs file's folder.

Through the real path: real photos, a refs file with relative and absolute paths,
features written by the real `featurize` (a tiny random DINOv2), answers in a real
labels file, the COCO file read back by pycocotools."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from pycocotools.coco import COCO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from featurize_fixtures import boxes_for, cli_args, make_photos, tiny_model  # noqa: E402

from featurize.cli import main as featurize  # noqa: E402
from refs import read_refs  # noqa: E402
from tui.cli import main  # noqa: E402
from tui.learn.sampler import default_labels_path  # noqa: E402
from tui.store.features import FeatureFile  # noqa: E402
from tui.store.labels import LabelStore  # noqa: E402

# photo -> the answers to its 3 boxes (None: nobody answered)
ANSWERS = {"photo0": ("pos", "pos", "neg"),      # every box judged: kept
           "photo1": ("pos", None, None),        # 2 boxes nobody judged: left out
           "photo2": ("pos", "skip", "neg"),     # 1 skipped: left out
           "photo3": (None, None, None),         # nothing judged: not a COCO image
           "far": ("pos", "pos", "neg")}         # outside the refs' folder, every box judged


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    d = tmp_path_factory.mktemp("coco_images")
    far = tmp_path_factory.mktemp("far_away")
    photos = make_photos(d / "images", 4)
    away = make_photos(far, 1)[0]
    lines, where = [], {}
    for name, p, shown in [(f"photo{i}", p, f"images/{p.name}") for i, p in enumerate(photos)] \
            + [("far", away, str(away))]:
        for b in boxes_for(p, 3):
            lines.append(f"{shown} " + " ".join(str(v) for v in b))
        where[name] = str(p)
    refs = d / "refs.txt"
    refs.write_text("\n".join(lines) + "\n")
    fp = d / "features.h5"
    assert featurize(cli_args(refs, fp, tiny_model(d / "tiny"), "--workers", "0")) == 0
    items = read_refs(refs).items
    labels = {}
    with FeatureFile(fp) as f, LabelStore(default_labels_path(fp), f.id,
                                          has_key=f.__contains__) as st:
        for name, path in where.items():
            mine = [it for it in items if it.path == path]
            assert len(mine) == 3
            for it, a in zip(mine, ANSWERS[name]):
                if a is not None:
                    st.record(it.key, a)
                    labels[it.key] = a
    return d, fp, where, items, labels


def load(path):
    return COCO(str(path)), json.loads(Path(path).read_text())


def test_default_keeps_only_images_whose_every_box_is_judged(pool, tmp_path, capsys):
    d, fp, where, items, labels = pool
    out = tmp_path / "gt.json"
    assert main(["export", str(fp), "--format", "coco", "-o", str(out)]) == 0
    std = capsys.readouterr()
    coco, doc = load(out)
    names = sorted(im["file_name"] for im in doc["images"])
    assert names == sorted(["images/photo0.jpg", where["far"]])
    assert len(coco.getAnnIds()) == 4                    # 2 accepted on photo0, 2 on far
    # said once, on stderr: how many images, how many boxes, why, and what to pass
    assert "left out 2 images with 3 boxes nobody judged" in std.err
    assert "2 accepted boxes" in std.err
    assert "--partial-images keeps them" in std.err and "--include-predicted" in std.err
    assert "left out" not in std.out


def test_partial_images_keeps_the_old_behaviour(pool, tmp_path, capsys):
    d, fp, where, items, labels = pool
    out = tmp_path / "partial.json"
    assert main(["export", str(fp), "--format", "coco", "--partial-images", "-o", str(out)]) == 0
    assert "left out" not in capsys.readouterr().err
    coco, doc = load(out)
    assert sorted(im["file_name"] for im in doc["images"]) == sorted(
        ["images/photo0.jpg", "images/photo1.jpg", "images/photo2.jpg", where["far"]])
    assert {a["key"] for a in coco.loadAnns(coco.getAnnIds())} == \
        {k for k, a in labels.items() if a == "pos"}


def test_include_predicted_fills_every_box_from_the_model(pool, tmp_path, capsys):
    d, fp, where, items, labels = pool
    assert main(["export", str(fp), "--format", "scores", "-o", str(tmp_path / "s.csv")]) == 0
    with open(tmp_path / "s.csv", newline="") as fh:
        prob = {r["key"]: float(r["prob"]) for r in csv.DictReader(fh)}
    t = sorted(prob[it.key] for it in items if it.key not in labels)[4]   # some in, some out
    out = tmp_path / "pred.json"
    capsys.readouterr()
    assert main(["export", str(fp), "--format", "coco", "--include-predicted", "--threshold",
                 str(t), "-o", str(out)]) == 0
    assert "left out" not in capsys.readouterr().err
    coco, doc = load(out)
    anns = coco.loadAnns(coco.getAnnIds())
    want = {it.key for it in items if labels.get(it.key) not in ("pos", "neg")
            and prob[it.key] >= t - 1e-6}
    assert {a["key"] for a in anns if a["predicted"]} == want
    # the images: every one holding a judged or predicted box, photo1 and photo2 back
    by_key = {it.key: it.path for it in items}
    judged = {k for k, a in labels.items() if a in ("pos", "neg")}
    assert {str(d / im["file_name"]) for im in doc["images"]} == \
        {by_key[k] for k in judged | want}
    assert {"images/photo1.jpg", "images/photo2.jpg"} <= {im["file_name"] for im in doc["images"]}


def test_file_names_are_relative_to_the_refs_folder_or_the_root_given(pool, tmp_path):
    d, fp, where, items, labels = pool
    out = tmp_path / "gt.json"
    assert main(["export", str(fp), "--format", "coco", "--partial-images", "-o", str(out)]) == 0
    coco, doc = load(out)
    assert doc["info"]["images_root"] == str(d)
    for im in doc["images"]:
        p = Path(im["file_name"])
        full = p if p.is_absolute() else d / p
        assert full.is_file(), im["file_name"]
        assert p.is_absolute() == (im["file_name"] == where["far"])
    assert main(["export", str(fp), "--format", "coco", "--partial-images", "--images-root",
                 str(d / "images"), "-o", str(out)]) == 0
    coco, doc = load(out)
    assert doc["info"]["images_root"] == str(d / "images")
    assert sorted(im["file_name"] for im in doc["images"]) == sorted(
        ["photo0.jpg", "photo1.jpg", "photo2.jpg", where["far"]])


def test_nothing_complete_is_a_clear_error(pool, tmp_path, capsys):
    d, fp, where, items, labels = pool
    # only photo1's single judged box: no image has every box judged
    other = tmp_path / "few.sqlite"
    with FeatureFile(fp) as f, LabelStore(other, f.id, has_key=f.__contains__) as st:
        st.record([it.key for it in items if it.path == where["photo1"]][0], "pos")
    out = tmp_path / "none.json"
    assert main(["export", str(fp), "--format", "coco", "--labels", str(other),
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no image has every box judged" in err and "left out 1 image with 2 boxes" in err
    assert "Traceback" not in err and not out.exists()


def test_coco_options_on_other_formats_are_refused(pool, tmp_path, capsys):
    d, fp, where, items, labels = pool
    for flag in (["--partial-images"], ["--images-root", str(d)]):
        assert main(["export", str(fp), "--format", "csv", *flag,
                     "-o", str(tmp_path / "x.csv")]) == 2
        err = capsys.readouterr().err
        assert f"{flag[0]} is for --format coco, not csv" in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()
