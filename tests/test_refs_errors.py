"""Every kind of bad input is a RefsError naming the file, the line (or the
JSON index) and the value, and saying what was expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refs import RefsError, read_refs


def write(folder: Path, name: str, content: str | bytes) -> Path:
    p = folder / name
    p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return p


def error_of(path, **kw) -> RefsError:
    with pytest.raises(RefsError) as info:
        read_refs(path, **kw)
    return info.value


OK = "ok.jpg 1 1 2 2\n"

# (file name, content, box format, line, text that the message must hold)
TXT_CASES = [
    ("a.jpg 1 2\n", "xyxy", 2, ["3 fields", "'a.jpg 1 2'", "expected PATH or PATH X1 Y1 X2 Y2"]),
    ("a.jpg 1 2 3 4 5\n", "xyxy", 2, ["6 fields"]),
    ("my dir/a.jpg 1 2 3 4\n", "xyxy", 2, ["6 fields", "if the path is 'my dir/a.jpg', quote it"]),
    ("a.jpg 30 1 10 20\n", "xyxy", 2, ["box is empty or inverted", "'30 1 10 20'", "X1 < X2"]),
    ("a.jpg 1 30 10 20\n", "xyxy", 2, ["box is empty or inverted", "'1 30 10 20'"]),
    ("a.jpg 5 5 5 9\n", "xyxy", 2, ["box is empty or inverted", "'5 5 5 9'"]),
    ("a.jpg NaN 1 2 3\n", "xyxy", 2, ["coordinate X1 is not finite", "'NaN'", "a finite number"]),
    ("a.jpg 0 0 inf 3\n", "xyxy", 2, ["coordinate X2 is not finite", "'inf'"]),
    ("a.jpg 0 0 1e999 3\n", "xyxy", 2, ["coordinate X2 is not finite", "'1e999'"]),
    ("a.jpg 0 zero 2 3\n", "xyxy", 2, ["coordinate Y1 is not a number", "'zero'"]),
    ("a.jpg 0 0 1_0 3\n", "xyxy", 2, ["coordinate X2 is not a number", "'1_0'"]),
    ('"a.jpg 0 0 1 3\n', "xyxy", 2, ["a quote is left open", "'\"a.jpg 0 0 1 3'"]),
    ("it's.jpg\n", "xyxy", 2, ["a quote is left open"]),
    ("a.jpg\\\n", "xyxy", 2, ["bad quoting"]),
    ('"" 1 2 3 4\n', "xyxy", 2, ["empty path"]),
    ("a.jpg 1 1 0 5\n", "xywh", 2, ["width or height <= 0", "'1 1 0 5'", "box format xywh"]),
    ("a.jpg 10 1 5 9\n", "yxyx", 2, ["box is empty or inverted", "Y1 < Y2", "box format yxyx"]),
]


@pytest.mark.parametrize("body, fmt, line, parts", TXT_CASES)
def test_txt_errors(tmp_path, body, fmt, line, parts):
    f = write(tmp_path, "list.txt", OK + body)
    e = error_of(f, box_format=fmt)
    assert e.path == str(f) and e.line == line
    msg = str(e)
    assert msg.startswith(f"{f}:{line}: ")
    for part in parts:
        assert part in msg, msg


def test_txt_newline_inside_quotes_is_an_open_quote(tmp_path):
    # .txt is one item a line: a path with a newline belongs in .csv or .jsonl
    e = error_of(write(tmp_path, "l.txt", OK + '"two\nlines.jpg" 1 2 3 4\n'))
    assert e.line == 2 and "quote is left open" in str(e)


def test_invalid_utf8_names_the_line_and_bytes(tmp_path):
    f = write(tmp_path, "l.txt", b"\xef\xbb\xbfok.jpg\nb.jpg\ncaf\xe9.jpg 1 2 3 4\n")
    e = error_of(f)
    assert e.line == 3 and "not valid UTF-8" in str(e) and "\\xe9" in str(e)
    assert "UTF-8 encoded file" in str(e)


CSV_CASES = [
    ("file,x1,y1,x2,y2\na.jpg,1,1,2,2\n", 1, ["missing column 'path'", "'file,x1,y1,x2,y2'"]),
    ("path,x1,y1,x2\na.jpg,1,1,2\n", 1, ["missing box column(s) y2", "all of x1,y1,x2,y2"]),
    ("path,x,y,w\na.jpg,1,1,2\n", 1, ["missing box column(s) h"]),
    ("path,x1,y1,x2,y2,x,y,w,h\n", 1, ["both x1,y1,x2,y2 and x,y,w,h"]),
    ("path,label,Label\n", 1, ["column 'Label' appears twice"]),
    ("path,x1,y1,x2,y2\na.jpg,1,1,2,2\nb.jpg,1,1,2\n", 3, ["4 fields", "'b.jpg,1,1,2'",
                                                          "5 fields, as in the header"]),
    ("path,x1,y1,x2,y2\n\na.jpg,1,1,2,2\nb.jpg,nan,1,2,2\n", 4, ["X1 is not finite", "'nan'"]),
    ("path,x1,y1,x2,y2\nb.jpg,3,1,2,2\n", 2, ["box is empty or inverted", "'3 1 2 2'"]),
    ("path,x1,y1,x2,y2\nb.jpg,1,,2,2\n", 2, ["coordinate Y1 is not a number", "''"]),
    ("path,x,y,w,h\nb.jpg,1,1,-2,2\n", 2, ["width or height <= 0", "box format xywh"]),
    ('path,note\na.jpg,ok\nb.jpg,"open\nc.jpg,x\n', 3, ["a quote is left open"]),
    ('path,note\na.jpg,"b"c\n', 2, ["bad CSV"]),
    ('path,note\n,empty path\n', 2, ["empty path"]),
]


@pytest.mark.parametrize("body, line, parts", CSV_CASES)
def test_csv_errors(tmp_path, body, line, parts):
    f = write(tmp_path, "list.csv", body)
    e = error_of(f)
    assert e.path == str(f) and e.line == line, str(e)
    for part in parts:
        assert part in str(e), str(e)


JSONL_CASES = [
    ('{"path": "a.jpg", "box": [1, 1, 2, 2}\n', ["invalid JSON", "column"]),
    ('["a.jpg"]\n', ["a JSON list, not an object"]),
    ('{"box": [1, 1, 2, 2]}\n', ["missing field 'path'"]),
    ('{"path": 3}\n', ["the path is not a string", ": 3"]),
    ('{"path": "a\\u0000b.jpg"}\n', ["NUL character"]),
    ('{"path": "a\\ud800.jpg"}\n', ["unpaired surrogate"]),
    ('{"path": "a.jpg", "box": [1, 2, 3]}\n', ["box is not a list of 4 numbers", "[1, 2, 3]"]),
    ('{"path": "a.jpg", "box": "1 2 3 4"}\n', ["box is not a list of 4 numbers"]),
    ('{"path": "a.jpg", "box": ["1", 2, 3, 4]}\n', ["X1 is not a number", "'1'"]),
    ('{"path": "a.jpg", "box": [true, 2, 3, 4]}\n', ["X1 is not a number", "True"]),
    ('{"path": "a.jpg", "box": [NaN, 2, 3, 4]}\n', ["X1 is not finite"]),
    ('{"path": "a.jpg", "box": [1, 2, 1e400, 4]}\n', ["X2 is not finite"]),
    ('{"path": "a.jpg", "box": [1, 2, ' + "9" * 400 + ', 4]}\n', ["X2 is not"]),
    ('{"path": "a.jpg", "box": [1, 2, 3, 1]}\n', ["box is empty or inverted", "'1 2 3 1'"]),
    ("[" * 100000 + "]" * 100000 + "\n", ["invalid JSON"]),
]


@pytest.mark.parametrize("body, parts", JSONL_CASES)
def test_jsonl_errors(tmp_path, body, parts):
    f = write(tmp_path, "list.jsonl", '{"path": "ok.jpg"}\n\n' + body)
    e = error_of(f)
    assert e.path == str(f) and e.line == 3, str(e)[:300]
    for part in parts:
        assert part in str(e), str(e)[:300]


GT = {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
      "categories": [{"id": 1, "name": "cat"}]}


def ann(**kw):
    a = {"id": 10, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}
    a.update(kw)
    return {k: v for k, v in a.items() if v is not ...}


COCO_CASES = [
    ({"images": GT["images"], "annotations": [ann(), ann(image_id=99)]},
     ["annotations[1]: unknown image id: 99", "an id from the images list"]),
    ({"images": GT["images"], "annotations": [ann(bbox=[1, 1, 0, 5])]},
     ["annotations[0]: box has a width or height <= 0", "'1 1 0 5'"]),
    ({"images": GT["images"], "annotations": [ann(), ann(bbox=[1, 1, "w", 5])]},
     ["annotations[1]: coordinate W is not a number", "'w'"]),
    ({"images": GT["images"], "annotations": [ann(bbox=[1, 1, 5])]},
     ["annotations[0]: bbox is not a list of 4 numbers"]),
    ({"images": GT["images"], "annotations": [ann(bbox=...)]},
     ["annotations[0]: missing field 'bbox'"]),
    ({"images": GT["images"], "annotations": [ann(image_id=[1])]},
     ["annotations[0]: an id must be an integer or a string"]),
    ({"images": GT["images"], "annotations": [3]},
     ["annotations[0] is not an object: found a number"]),
    ({"images": GT["images"], "annotations": {}}, ["annotations is not a list"]),
    ({"images": [{"id": 1}], "annotations": []}, ["images[0]: missing field 'file_name'"]),
    ({"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "c.jpg"}],
      "annotations": []}, ["images[1]: image id 1 is used twice", "'c.jpg'"]),
    ({"images": [{"id": 1, "file_name": ""}]}, ["images[0]: empty path"]),
    ({"annotations": []}, ["not a COCO file: found an object with keys annotations"]),
    ("just a string", ["not a COCO file: found a string"]),
]


@pytest.mark.parametrize("doc, parts", COCO_CASES)
def test_coco_errors(tmp_path, doc, parts):
    f = write(tmp_path, "gt.json", json.dumps(doc))
    e = error_of(f)
    assert e.path == str(f) and e.line is None
    for part in parts:
        assert part in str(e), str(e)


def test_coco_syntax_error_names_the_line(tmp_path):
    f = write(tmp_path, "gt.json", '{\n  "images": [\n    {"id": 1,}\n  ]\n}\n')
    e = error_of(f)
    assert e.line == 3 and "invalid JSON" in str(e)


def test_coco_dets_without_images_file(tmp_path):
    f = write(tmp_path, "dets.json", json.dumps([{"image_id": 1, "bbox": [0, 0, 1, 1]}]))
    e = error_of(f)
    assert str(f) in str(e) and "--images FILE" in str(e)
    bad = write(tmp_path, "imgs.json", json.dumps({"annotations": []}))
    e = error_of(f, images=bad)
    assert e.path == str(bad) and "no images list" in str(e)
    e = error_of(f, images=tmp_path / "nope.json")
    assert e.path == str(tmp_path / "nope.json") and "no such file" in str(e)
    gt = write(tmp_path, "gt.json", json.dumps(GT))
    f2 = write(tmp_path, "dets2.json", json.dumps([{"image_id": 3, "bbox": [0, 0, 1, 1]}]))
    e = error_of(f2, images=gt)
    assert e.path == str(f2) and "detections[0]: unknown image id: 3" in str(e)


def test_file_level_errors(tmp_path):
    e = error_of(tmp_path / "missing.txt")
    assert "missing.txt: no such file" in str(e)
    e = error_of(write(tmp_path, "x.yaml", "a"))
    assert "unknown extension: '.yaml'" in str(e) and "or a folder of images" in str(e)
    e = error_of(write(tmp_path, "noext", "a"))
    assert "unknown extension: '(none)'" in str(e)
    e = error_of(write(tmp_path, "l.txt", OK), box_format="cxcywh")
    assert "unknown box format: 'cxcywh'" in str(e) and "xyxy or xywh or yxyx" in str(e)


def test_utf16_file_is_named_as_such(tmp_path):
    f = write(tmp_path, "l.txt", "a.jpg 1 2 3 4\r\n".encode("utf-16"))
    e = error_of(f)
    assert e.line == 1 and "UTF-16" in str(e) and "save it as UTF-8" in str(e)


def test_the_garbage_collector_is_restored_after_reading(tmp_path):
    import gc

    assert gc.isenabled()
    read_refs(write(tmp_path, "ok.txt", OK))
    assert gc.isenabled()
    error_of(write(tmp_path, "bad.txt", "a.jpg 3 1 2 2\n"))
    assert gc.isenabled()
    gc.disable()
    try:
        read_refs(write(tmp_path, "ok2.txt", OK))
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
