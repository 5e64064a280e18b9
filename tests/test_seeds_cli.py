"""`annotate --seed PATH_OR_REFS` as a person runs it: in tmux (a real terminal), item
seeds come first and are recorded only when a key answers them; a new image's nearest
neighbours (embedded with the file's own model, as featurize would) come first; bad seeds
exit 2 with the file, the line and the value, no traceback. Features are made by the
real featurize with a tiny random-weight DINOv2 saved locally."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from app_fixtures import current_labels, query_labels
from seed_fixtures import MODELS, cosine_order, featurize, rows, tiny_features
from tmux_fixtures import Tmux, annotate_cmd

from tui.learn.sampler import default_labels_path

ROW = re.compile(r"row (\d+) of (\d+) in the file")


@pytest.fixture(scope="module")
def dino(tmp_path_factory):
    return tiny_features(tmp_path_factory.mktemp("seeds"), "dino", n_photos=8, boxes=2,
                         extra_photos=2)


def annotate(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "tui", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def shown_row(screen: str) -> int | None:
    """The row (from 0) of the item the panel shows."""
    m = ROW.search(screen.replace("▏", " "))
    return int(m.group(1)) - 1 if m else None


def panel(screen: str) -> str:
    """The side panel's text (right of its border on each line), lines joined."""
    return " ".join(" ".join(line.rpartition("▏")[2].split()) for line in screen.splitlines()
                    if "▏" in line)


def strategies(features) -> list[tuple[str, str, str]]:
    [out] = query_labels(default_labels_path(features),
                         "SELECT key, answer, strategy FROM answers ORDER BY id")
    return out


def fresh_copy(dino, tmp_path):
    """The features file alone in a new folder: a labels file of its own."""
    return shutil.copy(dino[0], tmp_path / "features.h5")


def answer(term: Tmux, key: str, row_now: int) -> int:
    """Press a key on the item shown; the row shown next."""
    term.keys(key)
    screen = term.wait_for(lambda s: shown_row(s) not in (None, row_now), timeout=60,
                           what=f"the item after {key}")
    return shown_row(screen)


needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


@pytest.mark.slow
@needs_tmux
def test_item_seeds_are_shown_first_and_recorded_only_after_a_key(dino, tmp_path):
    features = fresh_copy(dino, tmp_path)
    X, keys, paths, boxes = rows(features)
    whole = paths.index(str(dino[3][5]))                   # a plain image path: an item
    box = next(i for i, b in enumerate(boxes) if not np.isnan(b).any() and i > 10)
    seeds = tmp_path / "known.txt"                         # a refs file: one box of the file
    seeds.write_text(f'"{paths[box]}" ' + " ".join(f"{v:.1f}" for v in boxes[box]) + "\n")
    term = Tmux("seeds", annotate_cmd(features, "--graphics", "unicode", "--seed",
                                       str(dino[3][5]), "--seed", str(seeds)), 120, 40)
    try:
        screen = term.wait_for(lambda s: shown_row(s) is not None, timeout=120,
                               what="the first item")
        assert shown_row(screen) == whole
        term.wait_for(lambda s: "mixed in: 2 seed items first, then 20 neighbours of 2 seed "
                      "items" in panel(s), what="the panel's line")
        assert current_labels(default_labels_path(features)) == {}   # shown, not answered
        second = answer(term, "d", whole)
        assert second == box
        assert strategies(features) == [(keys[whole], "pos", "seed")]
        third = answer(term, "a", box)
        assert strategies(features) == [(keys[whole], "pos", "seed"), (keys[box], "neg", "seed")]
        # then the seeds' neighbours, turn about, the first being the first seed's nearest
        near = next(i for i in cosine_order(X, X[whole]) if i not in (whole, box))
        assert third == near
        answer(term, "d", third)
        assert strategies(features)[2] == (keys[near], "pos", "similar")
        term.keys("q")
        term.wait_for(lambda s: "EXIT=0" in s, timeout=60, what="a clean exit")
    finally:
        term.close()


@pytest.mark.slow
@needs_tmux
def test_a_new_images_neighbours_come_first(dino, tmp_path):
    features = fresh_copy(dino, tmp_path)
    X, keys, paths, _ = rows(features)
    new = dino[4][0]                                       # a photo that is not in the file
    assert str(new) not in paths
    # what featurize itself makes of that image, with the same model and options
    refs = tmp_path / "one.txt"
    refs.write_text(f'"{new}"\n')
    alone = featurize(refs, tmp_path / "alone.h5", dino[1], MODELS["dino"][1])
    q = rows(alone)[0][0]
    order = cosine_order(X, q)
    term = Tmux("newimage", annotate_cmd(features, "--graphics", "unicode", "--seed", str(new)),
                120, 40)
    try:
        screen = term.wait_for(lambda s: shown_row(s) is not None, timeout=120,
                               what="the first item")
        first = shown_row(screen)
        assert first == order[0]
        term.wait_for(lambda s: "mixed in: 20 neighbours of 1 seed image" in panel(s),
                      what="the panel's line")
        second = answer(term, "d", first)
        third = answer(term, "d", second)
        answer(term, "d", third)
        log = strategies(features)
        assert [s for _, _, s in log] == ["similar", log[1][2], "similar"] and log[1][2] != "similar"
        assert third == next(i for i in order if i not in (first, second))
        assert str(new) not in {paths[keys.index(k)] for k, _, _ in log}   # never an answer
        term.keys("q")
        term.wait_for(lambda s: "EXIT=0" in s, timeout=60, what="a clean exit")
    finally:
        term.close()


def assert_clean_failure(result, *words):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def test_bad_seeds_exit_2_naming_the_file_the_line_and_the_value(dino, tmp_path):
    features = fresh_copy(dino, tmp_path)
    photo = dino[3][0]
    missing = tmp_path / "nope.jpg"
    assert_clean_failure(annotate(features, "--seed", missing), f"--seed {missing}",
                         "no such file or folder")
    fake = tmp_path / "fake.jpg"
    fake.write_text("not a picture")
    assert_clean_failure(annotate(features, "--seed", fake), f"--seed {fake}",
                         repr(str(fake)), "not an image")
    bad_box = tmp_path / "bad_box.txt"
    bad_box.write_text(f'"{photo}"\n"{photo}" 10 20 x 40\n')
    assert_clean_failure(annotate(features, "--seed", bad_box), f"{bad_box}:2", "'x'")
    gone = tmp_path / "gone.txt"
    gone.write_text(f'"{photo}"\n# a comment\n"{missing}"\n')
    assert_clean_failure(annotate(features, "--seed", gone), f"{gone}:3", repr(str(missing)),
                         "no such image")
    undecodable = tmp_path / "undecodable.txt"
    undecodable.write_text(f'"{fake}" 1 1 5 5\n')
    assert_clean_failure(annotate(features, "--seed", undecodable), f"{undecodable}:1",
                         repr(str(fake)), "not an image")
    assert not default_labels_path(features).exists() or strategies(features) == []
