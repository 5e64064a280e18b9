"""SIGKILL `annotate` at random moments while keys arrive, and check what survived.

Used by tests/test_e2e_kill.py (a few rounds) and bench/annotate_kill.py (200).
An answer is acknowledged when the side panel counts it (the count is updated only
after the sampler's durable write returns); the screen is read just before the kill,
so every answer it shows must be in the labels file afterwards.
"""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

import numpy as np
from app_fixtures import current_labels
from tmux_fixtures import ROOT, Tmux, counts


def exec_cmd(features: Path) -> str:
    # one named session for every round: the restart after the kills may undo their answers
    args = shlex.join([sys.executable, "-m", "tui", str(features), "--graphics", "unicode",
                       "--session", "kill-rounds"])
    return f"cd {shlex.quote(str(ROOT))} && exec env HF_HUB_OFFLINE=1 {args}"


def file_counts(labels_path: Path, n: int) -> tuple[int, int, int, int]:
    labels = list(current_labels(labels_path).values())
    pos, neg, skip = (labels.count(a) for a in ("pos", "neg", "skip"))
    return pos, neg, skip, n - len(labels)


def integrity(labels_path: Path) -> str:
    con = sqlite3.connect(str(labels_path))
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def kill_round(features: Path, labels_path: Path, n: int, rng, index: int,
               max_wait: float = 1.5) -> dict:
    """One start, keys at random intervals, a SIGKILL at a random moment; the checks."""
    before = file_counts(labels_path, n) if labels_path.exists() else (0, 0, 0, n)
    term = Tmux(f"kill{index}", exec_cmd(features), 100, 30)
    stop = threading.Event()
    try:
        start = term.wait_for(lambda s: ready(s, n) and counts(s) is not None, timeout=90,
                              what="the first item")
        resumed = counts(start)
        now = file_counts(labels_path, n)  # nothing is written before a key
        assert resumed == now, f"restart shows {resumed}, the labels file holds {now}"
        assert all(b >= a for a, b in zip(before[:3], now[:3]))

        def press():
            while not stop.is_set():
                term.keys(str(rng.choice(["d", "a", "s", "Right", "Left"])))
                time.sleep(float(rng.uniform(0.01, 0.08)))

        sender = threading.Thread(target=press, daemon=True)
        sender.start()
        time.sleep(float(rng.uniform(0.0, max_wait)))
        shown = counts(term.screen())
        pid = term.pane_pid()
        os.kill(pid, signal.SIGKILL)
        stop.set()
        sender.join(5)
    finally:
        stop.set()
        term.close()
    after = file_counts(labels_path, n)
    assert integrity(labels_path) == "ok"
    if shown is not None:  # every acknowledged answer is in the file (answers only add here)
        assert all(a >= s for a, s in zip(after[:3], shown[:3])), (shown, after)
    return {"before": before, "shown": shown, "after": after}


def ready(screen: str, n: int) -> bool:
    """The app has started: it shows an item ("row i of n in the file"), or says that every item of
    the pool has an answer (the kill rounds can answer all of a small pool)."""
    return f"of {n}" in screen or "Every item has an answer" in screen


def undo_after_restart(features: Path, labels_path: Path, n: int) -> None:
    """A restart resumes the undo history: Backspace undoes the latest answer in the file."""
    con = sqlite3.connect(str(labels_path))
    try:
        key, answer = con.execute("SELECT key, answer FROM answers WHERE undone_at IS NULL "
                                  "ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        con.close()
    before = file_counts(labels_path, n)
    want = list(before)
    want[("pos", "neg", "skip").index(answer)] -= 1
    want[3] += 1
    term = Tmux("undo", exec_cmd(features), 100, 30)
    try:
        term.wait_for(lambda s: ready(s, n) and counts(s) == before, timeout=90,
                      what=f"the counts {before}")
        term.keys("BSpace")
        term.wait_for(lambda s: counts(s) == tuple(want), timeout=30, what=f"the undo {want}")
        assert key not in current_labels(labels_path)
        term.keys("q")
    finally:
        term.close()


def run_rounds(features: Path, labels_path: Path, n: int, rounds: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    results = [kill_round(features, labels_path, n, rng, i) for i in range(rounds)]
    acknowledged = sum(sum(r["shown"][:3]) for r in results if r["shown"]) if results else 0
    return {"rounds": rounds, "answers_in_file": sum(file_counts(labels_path, n)[:3]),
            "acknowledged_at_kill": acknowledged, "results": results}
