"""The COCO round trip of issue 6: COCO detection results in (through refs), answers
recorded, COCO out, loaded by pycocotools with the expected counts and the input boxes."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from app_fixtures import colour_features, sample_photos
from h5fixtures import write_features
from PIL import Image
from pycocotools.coco import COCO

from refs import read_refs
from tui.cli import main
from tui.export.dispatch import run_export
from tui.export.threshold import pick_threshold
from tui.store.features import FeatureFile
from tui.store.labels import LabelStore
from tui.learn.sampler import default_labels_path

CATS = [{"id": 3, "name": "building"}, {"id": 7, "name": "petal"}]


@pytest.fixture(scope="module")
def dets(tmp_path_factory):
    """Two real photos and a small PNG, 48 detections with 2-decimal boxes, features of
    the boxes' pixels written per README, keys as refs computes them."""
    d = tmp_path_factory.mktemp("coco")
    photos = sample_photos()
    names = ["china.jpg", "flower.jpg", "small.png"]
    Image.fromarray(photos[0]).save(d / names[0], quality=92)
    Image.fromarray(photos[1]).save(d / names[1], quality=92)
    Image.fromarray(photos[1][100:300, 200:500]).save(d / names[2])
    sizes = [(640, 427), (640, 427), (300, 200)]
    images = [{"id": 10 + i, "file_name": n, "width": w, "height": h}
              for i, (n, (w, h)) in enumerate(zip(names, sizes))]
    (d / "images.json").write_text(json.dumps({"images": images, "categories": CATS}))
    rng = np.random.default_rng(3)
    results = []
    for n in range(48):
        j = n % 3
        W, H = sizes[j]
        w, h = (round(float(v), 2) for v in rng.uniform(30, 120, 2))
        x, y = round(float(rng.uniform(0, W - w)), 2), round(float(rng.uniform(0, H - h)), 2)
        results.append({"image_id": 10 + j, "bbox": [x, y, w, h], "score": round(float(
            rng.uniform()), 3), "category_id": CATS[n % 2]["id"]})
    (d / "dets.json").write_text(json.dumps(results))
    refs = read_refs(d / "dets.json", images=d / "images.json")
    assert len(refs.items) == 48
    pix = [np.asarray(Image.open(d / n).convert("RGB")) for n in names]
    feats, img_size = [], []
    for it in refs.items:
        j = names.index(it.path.rsplit("/", 1)[1])
        x1, y1, x2, y2 = (int(round(v)) for v in it.box)
        feats.append(colour_features(pix[j][y1:y2, x1:x2]))
        img_size.append(sizes[j])
    fp = d / "features.h5"
    write_features(fp, np.asarray(feats), paths=[it.path for it in refs.items],
                   boxes=np.asarray([it.box for it in refs.items], np.float32),
                   meta=[it.meta for it in refs.items], image_size=np.asarray(img_size))
    with h5py.File(fp, "r+") as f:      # keys as featurize writes them: from the refs items
        f["items/key"][:] = [it.key for it in refs.items]
    return fp, refs.items, results


def answer(fp, decide):
    """Record decide(index, item) for each item ('pos', 'neg', 'skip' or None: unlabelled)."""
    path = default_labels_path(fp)
    path.unlink(missing_ok=True)
    got = {}
    with FeatureFile(fp) as f, LabelStore(path, f.id, has_key=f.__contains__) as st:
        for i, k in enumerate(f.keys):
            a = decide(i)
            if a is not None:
                st.record(k, a)
                got[k] = a
    return got


def truth(i: int) -> bool:
    return i % 3 == 0      # boxes on the china photo


def test_coco_round_trip_counts_ids_and_boxes(dets, tmp_path, capsys):
    fp, items, results = dets
    labels = answer(fp, lambda i: None if i >= 40 else "skip" if i == 5 else
                    "pos" if truth(i) else "neg")
    out = tmp_path / "gt.json"
    # items 40..47 and 5 (skipped) are unjudged boxes on every image: the default leaves
    # all three images out (tests/test_export_coco_images.py); --partial-images keeps them
    assert main(["export", str(fp), "--format", "coco", "-o", str(out)]) == 2
    assert "left out 3 images with 9 boxes nobody judged" in capsys.readouterr().err
    assert main(["export", str(fp), "--format", "coco", "--partial-images", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    coco = COCO(str(out))
    accepted = [i for i, it in enumerate(items) if labels.get(it.key) == "pos"]
    judged = [i for i, it in enumerate(items) if labels.get(it.key) in ("pos", "neg")]
    assert len(coco.getAnnIds()) == len(accepted) == 14
    # images: every image holding a judged box (--partial-images), with its id from the
    # input and its size
    want_imgs = {results[i]["image_id"] for i in judged}
    assert set(coco.getImgIds()) == want_imgs == {10, 11, 12}
    for img in coco.loadImgs(coco.getImgIds()):
        assert (img["width"], img["height"]) == {10: (640, 427), 11: (640, 427),
                                                 12: (300, 200)}[img["id"]]
        assert img["file_name"].endswith(("china.jpg", "flower.jpg", "small.png"))
    assert {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())} == \
        {c["id"]: c["name"] for c in CATS}
    by_key = {a["key"]: a for a in coco.loadAnns(coco.getAnnIds())}
    for i in accepted:
        a = by_key[items[i].key]
        assert a["bbox"] == results[i]["bbox"]          # exactly the input numbers
        assert a["image_id"] == results[i]["image_id"]
        assert a["category_id"] == results[i]["category_id"]
        assert a["predicted"] is False and a["iscrowd"] == 0
        assert a["area"] == pytest.approx(results[i]["bbox"][2] * results[i]["bbox"][3])
    # --category renames every box's category
    run_export("coco", fp, tmp_path / "one.json", category="house", partial_images=True)
    one = COCO(str(tmp_path / "one.json"))
    assert [c["name"] for c in one.loadCats(one.getCatIds())] == ["house"]
    assert len(one.getAnnIds(catIds=one.getCatIds())) == 14


def test_include_predicted_adds_unjudged_boxes_above_the_threshold(dets, tmp_path, capsys):
    fp, items, results = dets
    labels = answer(fp, lambda i: None if i >= 30 else "pos" if truth(i) else "neg")
    run_export("scores", fp, tmp_path / "s.csv")
    import csv
    with open(tmp_path / "s.csv", newline="") as fh:
        prob = {r["key"]: float(r["prob"]) for r in csv.DictReader(fh)}
    free = [it.key for it in items if it.key not in labels]
    t = 0.5
    want = {k for k in free if prob[k] >= t}
    assert 0 < len(want) < len(free)
    assert main(["export", str(fp), "--format", "coco", "--include-predicted", "--threshold",
                 str(t), "-o", str(tmp_path / "p.json")]) == 0
    coco = COCO(str(tmp_path / "p.json"))
    anns = coco.loadAnns(coco.getAnnIds())
    pred = {a["key"]: a for a in anns if a["predicted"]}
    assert set(pred) == want
    assert all(pred[k]["score"] == pytest.approx(prob[k], abs=1e-5) for k in want)
    human = [a for a in anns if not a["predicted"]]
    assert {a["key"] for a in human} == {k for k, v in labels.items() if v == "pos"}
    assert not {a["key"] for a in anns} & {k for k, v in labels.items() if v == "neg"}
    # auto: the threshold, chosen by cross-validation, and the estimate on the pool from
    # the uniform random picks (here none: every answer was recorded without a strategy)
    capsys.readouterr()
    assert main(["export", str(fp), "--format", "coco", "--include-predicted", "--precision",
                 "0.8", "-o", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert "cross-validation" in out and "not on the pool" in out
    assert "estimated from 0 uniform random picks" in out and "too few to estimate" in out
    t_auto = float(out.split("threshold ")[1].split(":")[0])
    auto = COCO(str(tmp_path / "a.json"))
    got = {a["key"] for a in auto.loadAnns(auto.getAnnIds()) if a["predicted"]}
    assert got == {k for k in free if prob[k] >= t_auto - 1e-4}


def test_no_threshold_reaches_the_precision_asked(tmp_path, capsys):
    # positives point along x, negatives along y, and one negative beyond the positives:
    # held out, it scores highest, so no threshold reaches 0.99 precision
    rng = np.random.default_rng(0)
    X = np.r_[[[1, 0, 0]] * 10, [[0, 1, 0]] * 10, [[1, -1, 0]]] + rng.normal(0, .05, (21, 3))
    fp = tmp_path / "f.h5"
    write_features(fp, X, boxes=[[i, i, i + 10, i + 10] for i in range(21)])
    answer(fp, lambda i: "pos" if i < 10 else "neg")
    assert main(["export", str(fp), "--format", "coco", "--include-predicted", "--precision",
                 "0.99", "-o", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "no threshold reaches precision 0.990" in err and "--threshold P" in err
    assert not (tmp_path / "x.json").exists()
    assert main(["export", str(fp), "--format", "coco", "--include-predicted", "--precision",
                 "0.9", "-o", str(tmp_path / "x.json")]) == 0
    assert "(0.909 there, recall" in capsys.readouterr().out   # cross-validated, said so


def test_pick_threshold_takes_the_most_recall_at_the_precision():
    p = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.6, 0.3, 0.2])
    y = np.array([1, 1, 0, 1, 1, 0, 1, 0], bool)
    # p >= 0.9: 2/2; >= 0.8: 2/3; >= 0.7: 3/4; >= 0.6 (both ties): 4/6; >= 0.3: 5/7
    assert pick_threshold(p, y, 1.0) == (0.9, 1.0, 0.4)
    assert pick_threshold(p, y, 0.75) == (0.7, 0.75, 0.6)
    assert pick_threshold(p, y, 0.7) == (0.3, 5 / 7, 1.0)
    assert pick_threshold(p, y, 0.70) == pick_threshold(p[::-1], y[::-1], 0.70)
    t, prec, rec = pick_threshold(np.array([0.9, 0.1]), np.array([False, True]), 0.6)
    assert t is None and prec == 0.5
