"""`annotate` as a person runs it: user mistakes give one clear line and exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import h5py
import pytest
from app_fixtures import make_pool

from tui.cli import main, tui_parser
from tui.store.labels import LabelStore
from tui.learn.sampler import default_labels_path


def annotate(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "tui", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def assert_clean_failure(result, *words):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in result.stderr, result.stderr


def test_missing_features_file(tmp_path):
    missing = tmp_path / "nope.h5"
    assert_clean_failure(annotate(missing), str(missing), "no such file")


def test_a_folder_instead_of_a_file(tmp_path):
    assert_clean_failure(annotate(tmp_path), str(tmp_path), "folder")


def test_a_text_file_named_h5(tmp_path):
    bad = tmp_path / "features.h5"
    bad.write_text("path,label\nimg.jpg,1\n")
    result = annotate(bad)
    assert_clean_failure(result, str(bad))


def test_an_hdf5_file_of_another_program(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=[1, 2, 3])
    assert_clean_failure(annotate(other), str(other))


def test_labels_of_another_features_file(tmp_path):
    a, keys_a = make_pool(tmp_path / "a", n_files=4, n_boxes=0)
    b, _ = make_pool(tmp_path / "b", n_files=4, n_boxes=0, seed=1)
    from tui.store.features import FeatureFile

    fa = FeatureFile(a)
    with LabelStore(default_labels_path(a), features_id=fa.id, has_key=fa.__contains__) as store:
        store.record(keys_a[0], "pos")
    fa.close()
    labels = default_labels_path(a)
    result = annotate(b, "--labels", labels)
    assert_clean_failure(result, str(labels), "--attach")
    assert "belong to features file" in result.stderr


def test_bad_graphics_from_the_environment(tmp_path):
    features, _ = make_pool(tmp_path / "p", n_files=2, n_boxes=0)
    import os

    env = dict(os.environ, BINLABEL_GRAPHICS="hologram")
    assert_clean_failure(annotate(features, env=env), "BINLABEL_GRAPHICS", "hologram")


@pytest.mark.parametrize("args, word", [(["--random-share", "2"], "between 0 and 1"),
                                        (["--strategy", "best"], "invalid choice"),
                                        (["--graphics", "x"], "invalid choice"),
                                        (["--colors", "1"], "between 2 and 256"),
                                        (["--max-px", "-3"], "0 or more")])
def test_bad_options(tmp_path, capsys, args, word):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "f.h5"), *args])
    assert exc.value.code == 2
    assert word in capsys.readouterr().err


def test_help_names_every_option():
    text = tui_parser().format_help()
    for opt in ("--labels", "--strategy", "--target", "--annotator", "--graphics",
                "--random-share", "--attach"):
        assert opt in text


def test_subcommands_are_dispatched_by_name(monkeypatch, tmp_path):
    """`annotate export ...` and `annotate predict ...` plug in through SUBCOMMANDS."""
    import types

    from tui import cli

    calls = []
    module = types.ModuleType("fake_export_cli")
    module.main = lambda argv: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "fake_export_cli", module)
    monkeypatch.setitem(cli.SUBCOMMANDS, "export", "fake_export_cli")
    assert main(["export", "features.h5", "--format", "coco"]) == 0
    assert calls == [["features.h5", "--format", "coco"]]
    # a features file that happens to be named like a subcommand is opened with ./
    result = annotate(tmp_path / "export")
    assert_clean_failure(result, "no such file")


@pytest.mark.parametrize("value", ["high", "-3", "25", "1.5"])
def test_a_bad_background_nice_is_refused_by_name(tmp_path, value):
    import os
    features, _ = make_pool(tmp_path / "pool", n_files=2, n_boxes=0)
    env = dict(os.environ, BINLABEL_BACKGROUND_NICE=value)
    assert_clean_failure(annotate(features, "--graphics", "unicode", env=env),
                         "BINLABEL_BACKGROUND_NICE", repr(value))


@pytest.mark.parametrize("stdin_tty, stdout_tty", [(False, False), (False, True), (True, False)])
def test_no_terminal_is_refused_at_once(tmp_path, stdin_tty, stdout_tty):
    """`ssh host annotate` without -t: no escape codes into a file for ever, no dead keys."""
    import os
    import time

    features, _ = make_pool(tmp_path / "p", n_files=2, n_boxes=0)
    master, slave = os.openpty()
    out = tmp_path / "out.txt"
    try:
        with open(out, "wb") as sink:
            t0 = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "tui", str(features)], timeout=60,
                stdin=slave if stdin_tty else subprocess.DEVNULL,
                stdout=slave if stdout_tty else sink, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(master)
        os.close(slave)
    took = time.monotonic() - t0
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "not a terminal" in result.stderr and "ssh -t" in result.stderr
    assert "\x1b" not in out.read_text(errors="replace")
    assert took < 30
    [rows] = _labels_rows(features)
    assert rows == []


def _labels_rows(features):
    from app_fixtures import query_labels

    labels = default_labels_path(features)
    return query_labels(labels, "SELECT * FROM answers") if labels.exists() else [[]]
