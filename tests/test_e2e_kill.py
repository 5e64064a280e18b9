"""`annotate` killed with SIGKILL at random moments while keys arrive (issue 7): every
acknowledged answer is in the labels file, the file passes integrity_check, and the next
start resumes with the right counts and the undo history. A few rounds here;
`python -m bench.annotate_kill` runs 200."""

from __future__ import annotations

import shutil

import pytest
from app_fixtures import make_pool
from kill_fixtures import run_rounds, undo_after_restart

from tui.learn.sampler import default_labels_path

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")]


def test_sigkill_loses_no_acknowledged_answer_and_resumes(tmp_path):
    features, keys = make_pool(tmp_path / "pool", n_files=30, n_boxes=10)
    labels_path = default_labels_path(features)
    out = run_rounds(features, labels_path, len(keys), rounds=4, seed=0)
    assert out["answers_in_file"] >= 1  # the keys did answer items
    undo_after_restart(features, labels_path, len(keys))
