"""Reading every reference-list format from real files: items, boxes,
metadata, keys, duplicates, line endings, BOMs and awkward paths."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from pathlib import Path

import pytest

from refs import RefList, RefsError, item_key, read_refs

ROOT = Path(__file__).resolve().parent.parent
REFS = ROOT / "refs"
DATA = Path(__file__).resolve().parent / "data" / "refs"
EX_IMAGES = REFS / "example_images"


def write(folder: Path, name: str, content: str | bytes) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    p.write_bytes(content)
    return p


def boxes(r: RefList) -> list:
    return [(Path(it.path).name, it.box) for it in r.items]


# ---------------------------------------------------------------- examples

def test_example_txt_csv_jsonl_name_the_same_items():
    txt = read_refs(REFS / "EXAMPLE.txt")
    csv = read_refs(REFS / "EXAMPLE.csv")
    jsonl = read_refs(REFS / "EXAMPLE.jsonl")
    assert len(txt.items) == 8
    assert [it.key for it in txt] == [it.key for it in csv] == [it.key for it in jsonl]
    for it in txt:
        assert os.path.isfile(it.path), it.path
        assert Path(it.path).parent == EX_IMAGES
    assert txt.items[0].box == (15.0, 7.0, 93.0, 98.0)
    # a detector box a little outside the image is kept exactly as written
    assert txt.items[3].box == (-0.4, 50.0, 20.0, 107.5)
    assert [it.box is None for it in txt].count(True) == 2
    assert csv.items[1].meta == {"label": "boat", "source": "hand"}
    assert jsonl.items[0].meta == {"label": "tower", "score": 0.97}
    assert txt.duplicates == [] and txt.warnings == []


def test_example_coco_ground_truth_and_detections():
    gt = read_refs(REFS / "EXAMPLE_coco_gt.json")
    assert gt.format == "coco-gt" and len(gt.items) == 6
    first = gt.items[0]
    assert first.box == (15.0, 7.0, 93.0, 98.0)  # xywh 15,7,78,91
    assert first.key == read_refs(REFS / "EXAMPLE.txt").items[0].key
    assert first.meta == {"image_id": 1, "annotation_id": 101, "category_id": 1,
                          "category": "tower", "iscrowd": 0}
    assert first.line == 0 and gt.where(first.line) == "annotations[0]"
    dets = read_refs(REFS / "EXAMPLE_coco_dets.json", images=REFS / "EXAMPLE_coco_gt.json")
    assert dets.format == "coco-dets" and len(dets.items) == 6
    d = dets.items[2]
    assert d.box == pytest.approx((-0.4, 50.0, 20.0, 107.5))
    assert d.meta == {"image_id": 1, "category_id": 3, "category": "tree", "score": 0.42}
    assert d.path == str(EX_IMAGES / "china.jpg")
    assert dets.where(2) == "detections[2]"


def test_example_folder_lists_the_images_sorted():
    r = read_refs(EX_IMAGES)
    assert r.format == "folder"
    assert [Path(it.path).name for it in r] == ["china.jpg", "flower detail.jpg", "flower.jpg"]
    assert all(it.box is None for it in r)


# ---------------------------------------------------------------- txt

def test_txt_box_formats_convert_to_xyxy(tmp_path):
    line = "a.jpg 10 20 30 40\n"
    f = write(tmp_path, "l.txt", line)
    assert read_refs(f).items[0].box == (10, 20, 30, 40)
    assert read_refs(f, box_format="xywh").items[0].box == (10, 20, 40, 60)
    # yxyx is row1 col1 row2 col2: x1 = 20, y1 = 10, x2 = 40, y2 = 30
    assert read_refs(f, box_format="yxyx").items[0].box == (20, 10, 40, 30)
    assert read_refs(f, box_format="yxyx").box_format == "yxyx"


def test_txt_relative_paths_resolve_against_the_refs_folder(tmp_path, monkeypatch):
    f = write(tmp_path / "lists", "l.txt", "a.jpg\n../imgs/b.jpg 1 1 2 2\n/abs/c.jpg\n")
    monkeypatch.chdir(ROOT)
    r = read_refs(f)
    assert [it.path for it in r] == [str(tmp_path / "lists" / "a.jpg"),
                                     str(tmp_path / "imgs" / "b.jpg"), "/abs/c.jpg"]


def test_txt_quoting_comments_and_floats(tmp_path):
    text = (
        "# a comment\n"
        "   # an indented comment\n"
        '"my dir/a b.jpg" 1.5 2.25 3e1 4E1\n'
        "'single quoted.jpg'\n"
        "x#1.jpg 0 0 1 1\n"
        "\t  spaced.jpg\t1  2   3 4  \n"
        "\n   \n"
    )
    r = read_refs(write(tmp_path, "l.txt", text))
    assert boxes(r) == [("a b.jpg", (1.5, 2.25, 30.0, 40.0)), ("single quoted.jpg", None),
                        ("x#1.jpg", (0, 0, 1, 1)), ("spaced.jpg", (1, 2, 3, 4))]
    assert [it.line for it in r] == [3, 4, 5, 6]
    assert Path(r.items[0].path).parent.name == "my dir"


@pytest.mark.parametrize("name", [
    "plain.jpg", "with space.jpg", "it's.jpg", 'say "hi".jpg', "back\\slash.jpg",
    "dollar $HOME.jpg", "tab\there.jpg", "café ü 東京.jpg", "  lead.jpg", "#hash.jpg",
])
def test_txt_reads_what_shlex_quote_writes(tmp_path, name):
    f = write(tmp_path, "l.txt", f"{shlex.quote(name)} 1 2 3 4\n{shlex.quote(name)}\n")
    r = read_refs(f)
    assert [Path(it.path).name for it in r] == [name, name]
    assert r.items[0].box == (1, 2, 3, 4) and r.items[1].box is None


def test_txt_windows_line_endings_and_bom_fixture():
    f = DATA / "crlf_bom.txt"
    raw = f.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # the fixture is what it claims
    r = read_refs(f)
    assert boxes(r) == [("café ü 東京.jpg", (1, 2, 30, 20)), ("with space.png", None),
                        ("rotated.jpg", (2, 3, 25, 55.5))]
    assert [it.line for it in r] == [2, 4, 5]
    assert all(os.path.isfile(it.path) for it in r)
    assert r.sha256 == hashlib.sha256(raw).hexdigest()


def test_negative_and_outside_boxes_pass_through_unchanged(tmp_path):
    r = read_refs(write(tmp_path, "l.txt", "a.jpg -0.4 -3 1e5 2e5\n"))
    assert r.items[0].box == (-0.4, -3.0, 100000.0, 200000.0)


# ---------------------------------------------------------------- csv

def test_csv_xywh_header_meta_types_and_whole_images(tmp_path):
    text = (" Path , X ,y,w,H,score,id,name,empty\n"
            "a.jpg,1,2,3,4,0.5,007,12,\n"
            "b.jpg,,,,,1e-3,-3,nan,x\n")
    r = read_refs(write(tmp_path, "l.csv", text))
    assert r.box_format == "xywh"
    a, b = r.items
    assert a.box == (1, 2, 4, 6) and b.box is None
    # numbers when plainly numbers; "007", "nan" and "" stay text
    assert a.meta == {"score": 0.5, "id": "007", "name": 12, "empty": ""}
    assert b.meta == {"score": 0.001, "id": -3, "name": "nan", "empty": "x"}


def test_csv_without_box_columns_is_whole_images(tmp_path):
    r = read_refs(write(tmp_path, "l.csv", "path,label\na.jpg,cat\nb.jpg,dog\n"))
    assert [(it.box, it.meta) for it in r] == [(None, {"label": "cat"}), (None, {"label": "dog"})]


def test_csv_newline_unicode_and_spaces_in_paths(tmp_path):
    text = 'path,x1,y1,x2,y2\n"two\nlines.jpg",1,1,5,5\n"café, 東京.jpg",0,0,1,1\nplain.jpg,0,0,2,2\n'
    r = read_refs(write(tmp_path, "l.csv", text))
    assert [Path(it.path).name for it in r] == ["two\nlines.jpg", "café, 東京.jpg", "plain.jpg"]
    assert [it.line for it in r] == [2, 4, 5]  # a record's line is where it starts


def test_csv_windows_line_endings_and_bom_fixture():
    f = DATA / "crlf_bom.csv"
    assert f.read_bytes().startswith(b"\xef\xbb\xbfpath,")
    r = read_refs(f)
    assert boxes(r) == [("café ü 東京.jpg", (1, 2, 30, 20)), ("with space.png", None),
                        ("rotated.jpg", (2, 3, 25, 55.5))]
    assert r.items[2].meta == {"note": "multi\r\nline note"}
    assert all(os.path.isfile(it.path) for it in r)


# ---------------------------------------------------------------- jsonl

def test_jsonl_meta_keeps_json_types_and_newlines_in_paths(tmp_path):
    lines = [{"path": "new\nline.jpg", "box": [1, 2, 3, 4], "score": 0.9, "tags": ["a"],
              "ok": True},
             {"path": "東京 x.jpg", "box": None},
             {"path": "w.jpg"}]
    f = write(tmp_path, "l.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    r = read_refs(f)
    assert [Path(it.path).name for it in r] == ["new\nline.jpg", "東京 x.jpg", "w.jpg"]
    assert r.items[0].meta == {"score": 0.9, "tags": ["a"], "ok": True}
    assert r.items[1].box is None and r.items[1].meta == {}
    assert read_refs(f, box_format="xywh").items[0].box == (1, 2, 4, 6)


def test_jsonl_windows_line_endings_and_bom_fixture():
    r = read_refs(DATA / "crlf_bom.jsonl")
    assert boxes(r) == [("café ü 東京.jpg", (1, 2, 30, 20)), ("with space.png", None),
                        ("rotated.jpg", (2, 3, 25, 55.5))]
    assert r.items[2].meta == {"note": "r"}


# ---------------------------------------------------------------- COCO

def test_coco_images_only_file_gives_whole_images(tmp_path):
    doc = {"images": [{"id": 7, "file_name": "a.jpg"}, {"id": "x", "file_name": "sub/b.jpg"}]}
    r = read_refs(write(tmp_path, "i.json", json.dumps(doc)))
    assert r.format == "coco-images"
    assert [(it.path, it.box, it.meta, it.line) for it in r] == [
        (str(tmp_path / "a.jpg"), None, {"image_id": 7}, 0),
        (str(tmp_path / "sub" / "b.jpg"), None, {"image_id": "x"}, 1)]


def test_coco_dets_names_resolve_against_the_images_file(tmp_path):
    imgs = write(tmp_path / "ann", "gt.json", json.dumps(
        {"images": [{"id": 1, "file_name": "../img/a.jpg"}], "annotations": []}))
    dets = write(tmp_path / "out", "dets.json", json.dumps(
        [{"image_id": 1, "bbox": [0, 0, 10, 5], "score": 0.3, "category_id": 9}]))
    r = read_refs(dets, images=imgs)
    assert r.items[0].path == str(tmp_path / "img" / "a.jpg")
    assert r.items[0].meta == {"image_id": 1, "category_id": 9, "score": 0.3}
    assert r.items[0].box == (0, 0, 10, 5)


def test_coco_gt_with_images_argument_warns(tmp_path):
    r = read_refs(REFS / "EXAMPLE_coco_gt.json", images=REFS / "EXAMPLE_coco_gt.json")
    assert len(r.items) == 6 and any("--images" in w for w in r.warnings)


def test_box_format_is_ignored_with_a_warning_where_the_file_names_it():
    r = read_refs(REFS / "EXAMPLE.csv", box_format="yxyx")
    assert r.items[0].box == (15.0, 7.0, 93.0, 98.0)
    assert any("ignored" in w for w in r.warnings)


# ---------------------------------------------------------------- folder

def test_folder_recursive_sorted_skips_hidden_and_other_files(tmp_path):
    for name in ["b.JPG", "a/z.png", "a/y.webp", "c.tiff", "notes.txt", ".hidden.jpg",
                 "._b.jpg", ".git/x.png", "d.jpeg", "e.gif", "f.bmp", "g.tif"]:
        write(tmp_path / "imgs", name, b"x")
    r = read_refs(tmp_path / "imgs")
    rel = [os.path.relpath(it.path, tmp_path / "imgs") for it in r]
    assert rel == ["a/y.webp", "a/z.png", "b.JPG", "c.tiff", "d.jpeg", "e.gif", "f.bmp", "g.tif"]
    assert [it.line for it in r] == list(range(1, 9))
    before = r.sha256
    (tmp_path / "imgs" / "b.JPG").write_bytes(b"changed content")
    assert read_refs(tmp_path / "imgs").sha256 == before  # the listing, not the contents
    write(tmp_path / "imgs", "h.png", b"x")
    assert read_refs(tmp_path / "imgs").sha256 != before


def test_empty_folder_warns(tmp_path):
    r = read_refs(tmp_path)
    assert r.items == [] and "no images" in r.warnings[0]


# ---------------------------------------------------------------- duplicates

def test_duplicates_are_dropped_first_kept_and_reported(tmp_path):
    text = ("a.jpg 12.3 1 20 20\n"
            "a.jpg\n"
            "./a.jpg 12.30000001 1 20 20\n"   # same path, same box rounded to 0.1 px
            "sub/../a.jpg\n"
            "a.jpg 12.4 1 20 20\n")
    r = read_refs(write(tmp_path, "l.txt", text))
    assert [it.line for it in r] == [1, 2, 5]
    assert r.duplicates == [(3, 1), (4, 2)]
    assert len({it.key for it in r}) == 3
    assert r.items[0].key == item_key(str(tmp_path / "a.jpg"), (12.3, 1, 20, 20))


def test_coco_duplicate_detections_are_reported_by_index(tmp_path):
    dets = [{"image_id": 1, "bbox": [0, 0, 5, 5]}, {"image_id": 1, "bbox": [0, 0, 5.01, 5]}]
    gt = write(tmp_path, "gt.json", json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}]}))
    r = read_refs(write(tmp_path, "d.json", json.dumps(dets)), images=gt)
    assert len(r.items) == 1 and r.duplicates == [(1, 0)]
    assert r.where(r.duplicates[0][0]) == "detections[1]"


def test_unknown_extension_is_an_error(tmp_path):
    f = write(tmp_path, "list.tsv", "a.jpg\n")
    with pytest.raises(RefsError, match=r"list\.tsv: unknown extension: '\.tsv'.*\.txt, \.csv"):
        read_refs(f)
