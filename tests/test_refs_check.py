"""`python -m refs check`: the summary, missing and unreadable images, boxes
outside their (EXIF-rotated) image, and the exit codes of the real command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from refs import read_refs
from refs.check import image_size, render, summarize

ROOT = Path(__file__).resolve().parent.parent
REFS = ROOT / "refs"
DATA = Path(__file__).resolve().parent / "data" / "refs"


def run_check(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "refs", "check", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, env=env, timeout=60)


def test_image_size_applies_exif_orientation():
    # stored 60x30 with orientation 6: shown 30 wide, 60 high
    assert image_size(str(DATA / "images" / "rotated.jpg")) == (30, 60)
    assert image_size(str(DATA / "images" / "with space.png")) == (48, 32)


def test_summary_of_the_example():
    s = summarize(read_refs(REFS / "EXAMPLE.txt"), verify_images=True)
    assert (s.boxes, s.whole, s.images) == (6, 2, 3)
    assert s.per_image == (2, 3, 4) and s.box_images == 2
    assert s.bad_files == [] and not s.problems
    assert [pos for pos, _ in s.partly_outside] == [9] and s.fully_outside == []
    text = render(s, verify_images=True)
    assert "items               8  (6 boxes, 2 whole images)" in text
    assert "min 2, median 3, max 4" in text
    assert "partly outside: line 9: (-0.4, 50, 20, 107.5) in 160x107" in text
    assert text.endswith("OK: 8 items ready")


def test_boxes_outside_use_the_displayed_orientation(tmp_path):
    shutil.copy(DATA / "images" / "rotated.jpg", tmp_path / "r.jpg")
    (tmp_path / "l.txt").write_text(
        "r.jpg 2 3 25 55.5\n"     # inside the displayed 30x60, outside the stored 60x30
        "r.jpg 0 0 50 20\n"       # inside the stored image, wider than the displayed one
        "r.jpg 40 70 50 80\n"     # entirely outside
        "r.jpg\n")
    s = summarize(read_refs(tmp_path / "l.txt"), verify_images=True)
    assert [p for p, _ in s.partly_outside] == [2]
    assert [p for p, _ in s.fully_outside] == [3]
    assert not s.problems  # outside is a warning: featurize clips
    unverified = summarize(read_refs(tmp_path / "l.txt"))
    assert unverified.partly_outside == [] and unverified.checked_sizes == 0


def test_missing_empty_folder_and_unreadable_images(tmp_path):
    shutil.copy(DATA / "images" / "with space.png", tmp_path / "good.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "dir.jpg").mkdir()
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "l.txt").write_text("good.png\nmissing.jpg 1 1 2 2\nempty.jpg\ndir.jpg\n"
                                    "text.jpg\nmissing.jpg\n")
    s = summarize(read_refs(tmp_path / "l.txt"))
    assert [(Path(p).name, why, pos) for p, why, pos in s.bad_files] == [
        ("missing.jpg", "missing", 2), ("empty.jpg", "empty file (0 bytes)", 3),
        ("dir.jpg", "not a file", 4)]
    assert s.problems
    s = summarize(read_refs(tmp_path / "l.txt"), verify_images=True)
    assert [Path(p).name for p, _, _ in s.bad_files][-1] == "text.jpg"
    assert "unreadable image" in s.bad_files[-1][1]
    text = render(s, verify_images=True)
    assert "PROBLEM: 4 of 5 image files cannot be used:" in text
    assert "line 2: " + str(tmp_path / "missing.jpg") + ": missing" in text
    assert "OK" not in text


def test_paths_with_control_characters_print_escaped(tmp_path):
    (tmp_path / "l.jsonl").write_text('{"path": "\\u001b[31mred\\n.jpg"}\n')
    text = render(summarize(read_refs(tmp_path / "l.jsonl")), verify_images=False)
    assert "\x1b" not in text and "\\x1b[31mred\\n.jpg" in text


def test_duplicates_in_the_report(tmp_path):
    (tmp_path / "l.txt").write_text("a.jpg\n" * 8)
    text = render(summarize(read_refs(tmp_path / "l.txt")), verify_images=False)
    assert ("7 dropped (first kept), e.g. line 2 = line 1; line 3 = line 1; "
            "line 4 = line 1 ...") in text
    (tmp_path / "l.txt").write_text("a.jpg\nb.jpg\na.jpg\n")
    text = render(summarize(read_refs(tmp_path / "l.txt")), verify_images=False)
    assert "1 dropped (first kept), e.g. line 3 = line 1\n" in text


@pytest.mark.slow
def test_cli_exit_codes_and_no_traceback(tmp_path):
    ok = run_check("refs/EXAMPLE.txt", "--verify-images")
    assert ok.returncode == 0, ok.stderr
    assert "OK: 8 items ready" in ok.stdout and "partly outside: line 9" in ok.stdout

    dets = run_check("refs/EXAMPLE_coco_dets.json", "--images", "refs/EXAMPLE_coco_gt.json")
    assert dets.returncode == 0 and "COCO detection results" in dets.stdout

    yx = run_check(DATA / "crlf_bom.txt", "--box-format", "yxyx")
    assert yx.returncode == 0 and "box format yxyx" in yx.stdout

    (tmp_path / "missing.txt").write_text("nowhere.jpg 1 1 2 2\n")
    missing = run_check(tmp_path / "missing.txt")
    assert missing.returncode == 1
    assert "PROBLEM: 1 of 1 image files cannot be used" in missing.stdout
    assert "nowhere.jpg: missing" in missing.stdout

    empty = tmp_path / "empty.csv"
    empty.write_text("path,x1,y1,x2,y2\n")
    r = run_check(empty)
    assert r.returncode == 1 and "no items" in r.stdout

    bad = tmp_path / "bad.txt"
    bad.write_text("a.jpg 1 1 2 2\na.jpg 5 1 2 2\n")
    err = run_check(bad)
    assert err.returncode == 2 and err.stdout == ""
    assert err.stderr.startswith(f"error: {bad}:2: box is empty or inverted: '5 1 2 2'")
    assert "Traceback" not in err.stderr

    for args in ([tmp_path / "nope.txt"], [tmp_path / "x.yaml"],
                 ["refs/EXAMPLE_coco_dets.json"],
                 ["refs/EXAMPLE_coco_dets.json", "--images", tmp_path / "nope.json"]):
        r = run_check(*args)
        assert r.returncode == 2 and r.stderr.startswith("error: "), r.stderr
        assert "Traceback" not in r.stderr
    usage = run_check("refs/EXAMPLE.txt", "--box-format", "cxcywh")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def help_paragraphs(text: str) -> list[str]:
    """The prose of an argparse help: its blocks between blank lines, less the usage
    and the argument tables (a heading line ending in ':' with indented lines)."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        if lines[0].startswith("usage:") or (lines[0].endswith(":") and all(ln.startswith("  ") for ln in lines[1:])):
            continue
        out.append(" ".join(ln.strip() for ln in lines))
    return out


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"]], ids=["refs", "refs check"])
def test_help_paragraphs_are_whole_sentences(args):
    env = dict(os.environ, COLUMNS="80", PYTHONIOENCODING="utf-8")
    r = subprocess.run([sys.executable, "-m", "refs", *args], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    prose = help_paragraphs(r.stdout)
    assert prose, r.stdout
    for p in prose:
        assert p[0].isupper() and p.endswith("."), f"not a whole sentence: {p!r}\n\n{r.stdout}"
        assert "``" not in p, p  # the docstring's markup is not help text
    assert any(p.startswith("Exit codes: 0 ") and " 2 when " in p for p in prose), r.stdout  # told in full


def test_help_paragraphs_finds_a_cut_sentence():
    cut = "usage: x [-h]\n\nRead a list and say whether it is\n\noptions:\n  -h, --help  show help\n"
    assert help_paragraphs(cut) == ["Read a list and say whether it is"]
