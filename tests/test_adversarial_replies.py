"""Late terminal replies never become answers (issue 12, case 2).

A terminal (or tmux) behind a slow SSH link answers the start-up queries after the
query window has closed; the reply bytes then reach the app's input like keys. Before
the fix, `ESC P >|tmux 3.3a ESC \\` recorded `skip` (its space) and `neg` (its `a`)
with no key pressed. Here the far end of a real pty answers 1.4 s late, then again
after the first frame, split across writes; the labels file must stay empty until a
real key is typed, and that key must still answer.
"""

from __future__ import annotations

import time

import pytest
from app_fixtures import make_pool, query_labels
from pty_fixtures import PtyApp

DA1_QUERY = b"\x1b[c"
# What tmux 3.3a answers to XTVERSION, then DA1: the reproduction from the issue.
TMUX_REPLY = b"\x1bP>|tmux 3.3a\x1b\\" + b"\x1b[?1;2c"
# Every other kind of reply a terminal sends: kitty graphics (APC), a colour (OSC), the
# cell size, DA2, DECRQSS (DCS), and one split in the middle of its body.
LATER_PARTS = (b"\x1bP>|tmux 3.3a",
               b"\x1b\\\x1b[?62;4;22c\x1b_Gi=31;OK\x1b\\",
               b"\x1b]11;rgb:0000/0000/0000\x1b\\\x1b[6;20;10t\x1b[>41;380;0c"
               b"\x1bP1$r0;1m\x1b\\\x1b]10;rgb:ffff/ffff/ffff\x07")


def answers(labels) -> list[tuple]:
    [rows] = query_labels(labels, "SELECT key, answer FROM answers ORDER BY id")
    return rows


def wait_answers(labels, n: int, timeout: float = 15.0) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        rows = answers(labels)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


@pytest.mark.slow
def test_late_and_split_replies_record_nothing_and_keys_still_answer(tmp_path):
    features, keys = make_pool(tmp_path / "pool")
    labels = tmp_path / "labels.sqlite"
    app = PtyApp([str(features), "--labels", str(labels)])
    try:
        app.wait_output(DA1_QUERY)
        app.write_later(1.4, TMUX_REPLY)                   # after the 1 s query window
        app.wait_output(f"of {len(keys)}".encode())        # an item on screen
        app.write_later(0.3, *LATER_PARTS, gap=0.05)       # after the first frame, split
        time.sleep(3.0)
        assert answers(labels) == [], "a terminal reply was recorded as an answer"
        app.write(b"d")                                    # a real key still answers
        rows = wait_answers(labels, 1)
        assert [a for _, a in rows] == ["pos"] and rows[0][0] in keys
        time.sleep(1.0)
        assert len(answers(labels)) == 1
    finally:
        rc = app.close()
    assert rc == 0, app.output()[-2000:]
