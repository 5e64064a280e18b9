"""Arbitrary files in every format give a RefList or a RefsError, never any
other exception, and whatever is read obeys the item invariants."""

from __future__ import annotations

import json
import math
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refs import RefList, RefsError, read_refs
from refs.check import render, summarize

EXTS = [".txt", ".csv", ".jsonl", ".json"]
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Pieces that matter to the parsers, so that random files reach deep code.
TOKENS = st.sampled_from([
    "a.jpg", "b c.jpg", "é.png", "1", "-0.4", "2.5", "1e3", "nan", "inf", "1e999", "0", "_",
    '"', "'", "\\", "#", ",", " ", "\t", "\r", "{", "}", "[", "]", ":", "null", "true",
    '"path"', '"box"', "path", "x1,y1,x2,y2", "x,y,w,h", "\x00", "\u2028", "\ufeff", "\x1b[31m",
])
LINE = st.one_of(st.text(max_size=40), st.lists(TOKENS, max_size=12).map("".join),
                 st.lists(TOKENS, max_size=6).map(" ".join))
NUM = st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
                st.sampled_from([0, 1, 5, 10, -1]))
SCALAR = st.one_of(st.none(), st.booleans(), NUM, st.text(max_size=10),
                   st.sampled_from(["a.jpg", "", "x/../y.png"]))
KEYS = st.sampled_from(["path", "box", "images", "annotations", "categories", "id", "image_id",
                        "file_name", "bbox", "score", "category_id", "name", "iscrowd", "x"])
JSON = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=6)), max_leaves=25)

# Documents of the right shape with wrong details, to reach the COCO and
# JSONL code beyond the first structural check.


def mostly(good, bad):
    """``good`` nine times in ten, else ``bad``."""
    return st.integers(0, 9).flatmap(lambda i: good if i else bad)


IDS = mostly(st.integers(0, 3), st.one_of(st.sampled_from(["a", "b"]), SCALAR))
PATHS = mostly(st.sampled_from(["a.jpg", "b c.jpg", "d/../e.png", "é\n.jpg"]), SCALAR)
BOX = mostly(st.tuples(st.integers(-5, 60), st.integers(-5, 60), st.integers(1, 30),
                       st.integers(1, 30)).map(list),
             st.one_of(st.lists(st.one_of(st.integers(-5, 60), NUM), min_size=4, max_size=4),
                       JSON))
RECORD = st.fixed_dictionaries({"path": PATHS}, optional={"box": BOX, "score": SCALAR})
ANN = st.fixed_dictionaries({"image_id": IDS, "bbox": BOX},
                            optional={"id": IDS, "category_id": IDS, "score": SCALAR})
IMAGES = st.fixed_dictionaries(
    {"images": st.lists(st.fixed_dictionaries({"id": IDS, "file_name": PATHS}), max_size=4)},
    optional={"annotations": st.lists(ANN, max_size=5),
              "categories": st.lists(st.fixed_dictionaries({"id": IDS, "name": SCALAR}),
                                     max_size=3)})
DOC = st.one_of(JSON, RECORD, RECORD, IMAGES, IMAGES, st.lists(ANN, max_size=5))


def _check(path: str, **kw) -> None:
    try:
        r = read_refs(path, **kw)
    except RefsError as e:
        assert str(e).startswith(e.path)
        return
    assert isinstance(r, RefList)
    assert len({it.key for it in r.items}) == len(r.items)
    for it in r.items:
        assert os.path.isabs(it.path)
        if it.box is not None:
            x1, y1, x2, y2 = it.box
            assert all(math.isfinite(v) for v in it.box) and x1 < x2 and y1 < y2
    render(summarize(r), verify_images=False)  # the report copes with whatever was read


def _write(ext: str, data: bytes, fn, **kw):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "refs" + ext)
        with open(p, "wb") as f:
            f.write(data)
        fn(p, d, **kw)


@SETTINGS
@given(ext=st.sampled_from(EXTS), lines=st.lists(LINE, max_size=8),
       sep=st.sampled_from(["\n", "\r\n"]), bom=st.booleans(),
       fmt=st.sampled_from(["xyxy", "xywh", "yxyx"]))
def test_arbitrary_lines(ext, lines, sep, bom, fmt):
    text = ("\ufeff" if bom else "") + sep.join(lines)
    _write(ext, text.encode("utf-8", "surrogatepass"), lambda p, d: _check(p, box_format=fmt))


@SETTINGS
@given(ext=st.sampled_from(EXTS), data=st.binary(max_size=200))
def test_arbitrary_bytes(ext, data):
    _write(ext, data, lambda p, d: _check(p))


@SETTINGS
@given(ext=st.sampled_from([".jsonl", ".json"]), docs=st.lists(DOC, min_size=1, max_size=4),
       images=st.one_of(IMAGES, JSON))
def test_arbitrary_json_documents(ext, docs, images):
    if ext == ".jsonl":
        data = "\n".join(json.dumps(d) for d in docs)
    else:
        data = json.dumps(docs[0])

    def check(p, d):
        imgs = os.path.join(d, "images.json")
        with open(imgs, "w") as f:
            json.dump(images, f)
        _check(p, images=imgs)
        _check(p)

    _write(ext, data.encode("utf-8", "surrogatepass"), check)


@SETTINGS
@given(header=st.one_of(
           st.sampled_from([["path", "x1", "y1", "x2", "y2"], ["path", "x", "y", "w", "h", "s"],
                            ["Path", "score"]]),
           st.lists(st.sampled_from(["path", "x1", "y1", "x2", "y2", "x", "y", "w", "h",
                                     "score", "Path", " X1 "]), max_size=7)),
       rows=st.lists(st.lists(st.one_of(st.integers(-5, 60).map(str), st.integers(-5, 60).map(str),
                                        st.sampled_from(["a.jpg", '"b,\nc.jpg"', ""]),
                                        TOKENS, st.text(max_size=6)),
                              min_size=2, max_size=6), max_size=5))
def test_csv_shaped_files(header, rows):
    lines = [",".join(header)] + [",".join(r) for r in rows]
    _write(".csv", "\n".join(lines).encode("utf-8", "surrogatepass"), lambda p, d: _check(p))
