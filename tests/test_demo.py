"""`make demo` says what it asks and keeps the truth off screen: its TUI, on a real ELPV
sample featurized with the offline model, read back from tmux. The demo once showed the
ground-truth columns `defective` and `defect_probability` beside each cell."""

from __future__ import annotations

import os
import subprocess

import pytest

from bench import demo
from tmux_fixtures import Tmux, annotate_cmd

pytestmark = pytest.mark.slow


def test_the_demo_shows_its_question_and_no_truth_columns(tmp_path):
    refs = demo.write_sample(tmp_path, n=24)
    features = tmp_path / "features.h5"
    subprocess.run(demo.featurize_cmd(refs, features), check=True, timeout=600,
                   env=dict(os.environ, HF_HUB_OFFLINE="1"), capture_output=True)
    term = Tmux("demo", annotate_cmd(features, *demo.TUI_ARGS), width=150, height=40)
    try:
        screen = term.wait_for(lambda s: "of 24 in the file" in s and "loading" not in s,
                               120, "the first cell")
        side = [line.split("▏", 1)[-1].strip() for line in screen.splitlines()]
        assert side[0] == demo.QUESTION, screen
        assert "cell_type" in screen                          # the other metadata stays
        assert "defective " not in screen.replace(demo.QUESTION, "")
        assert "defect_probability" not in screen
        assert "D → Yes" in screen and "A ← No" in screen
        term.keys("C-c")                                      # Ctrl-C quits, as Q does
        term.wait_for(lambda s: "EXIT=0" in s, 30, "annotate to exit 0 after Ctrl-C")
    finally:
        term.close()
