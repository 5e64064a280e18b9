"""What the person is asked and how the work goes: the question (kept in the labels file),
the metadata shown beside the image, the pace and the ETA, and counts that follow
featurize without a key. Each checked on the real app's screen and in the labels file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

from app_fixtures import annotating, make_pool, panel_text, screen_text, sync, wait_displayed
from tui.app.meta_columns import MetaColumns, meta_columns
from tui.app.pace import Pace, duration
from tui.store.features import FeatureFile

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Is this a flower petal?"


def annotate(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "tui", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
                          stdin=subprocess.DEVNULL)


def stored_question(labels):
    con = sqlite3.connect(str(labels))
    try:
        row = con.execute("SELECT value FROM meta WHERE name = 'question'").fetchone()
    finally:
        con.close()
    return row[0] if row else None


# ---- the question ---------------------------------------------------------------------

def test_the_question_is_kept_in_the_labels_file_and_a_different_one_refused(tmp_path):
    features, _ = make_pool(tmp_path / "pool")
    labels = tmp_path / "labels.sqlite"
    # no terminal here: the question is settled (and stored) before that refusal
    first = annotate(features, "--labels", labels, "--question", f"  {QUESTION}  ")
    assert first.returncode == 2 and "not a terminal" in first.stderr
    assert stored_question(labels) == QUESTION

    other = annotate(features, "--labels", labels, "--question", "Is it a leaf?")
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert QUESTION in other.stderr and "Is it a leaf?" in other.stderr
    assert "--set-question" in other.stderr and str(labels) in other.stderr
    assert stored_question(labels) == QUESTION               # refused: nothing changed

    same = annotate(features, "--labels", labels, "--question", QUESTION)
    assert "not a terminal" in same.stderr                   # the same question is fine

    changed = annotate(features, "--labels", labels, "--question", "Is it a leaf?",
                       "--set-question")
    assert "not a terminal" in changed.stderr
    assert stored_question(labels) == "Is it a leaf?"


def test_an_empty_question_is_refused_before_any_file_is_written(tmp_path):
    features, _ = make_pool(tmp_path / "pool")
    labels = tmp_path / "labels.sqlite"
    out = annotate(features, "--labels", labels, "--question", "   ")
    assert out.returncode == 2 and "--question" in out.stderr and "Traceback" not in out.stderr
    assert not labels.exists()
    out = annotate(features, "--labels", labels, "--set-question")
    assert out.returncode == 2 and "--set-question needs --question" in out.stderr


@sync
async def test_the_question_heads_the_panel_and_names_the_answer_keys(tmp_path):
    features, _ = make_pool(tmp_path / "pool")
    async with annotating(features, size=(140, 30),
                          app_kw={"question": QUESTION}) as (sampler, app, pilot):
        await wait_displayed(app, pilot)
        screen = screen_text(app)
        side = [line.split("▏", 1)[-1].strip() for line in screen]
        assert side[0] == QUESTION, screen[:3]
        footer = screen[-1]
        assert "A ← No" in footer and "D → Yes" in footer, footer
        assert "Negative" not in footer and "Positive" not in footer
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        assert any(QUESTION in line for line in screen_text(app))


@sync
async def test_without_a_question_the_keys_say_positive_and_negative(tmp_path):
    features, _ = make_pool(tmp_path / "pool")
    async with annotating(features, size=(140, 30)) as (sampler, app, pilot):
        await wait_displayed(app, pilot)
        footer = screen_text(app)[-1]
        assert "A ← Negative" in footer and "D → Positive" in footer, footer


# ---- metadata shown ---------------------------------------------------------------------

@sync
async def test_hidden_metadata_is_not_on_screen(tmp_path):
    features, _ = make_pool(tmp_path / "pool", n_boxes=0)      # meta: source, photo
    with FeatureFile(str(features)) as f:
        hide = meta_columns(f, None, "photo")
    async with annotating(features, app_kw={"meta_columns": hide}) as (sampler, app, pilot):
        await wait_displayed(app, pilot)
        text = "\n".join(screen_text(app))
        assert "source sklearn" in text
        assert "photo " not in text and "china" not in text and "flower" not in text


def test_meta_options_name_unknown_columns_and_the_columns_there_are(tmp_path):
    features, _ = make_pool(tmp_path / "pool", n_boxes=0)
    out = annotate(features, "--hide-meta", "defective,photo")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "'defective'" in out.stderr and "source, photo" in out.stderr
    assert str(features) in out.stderr
    out = annotate(features, "--show-meta", "photo", "--hide-meta", "source")
    assert out.returncode == 2 and "exclude each other" in out.stderr
    out = annotate(features, "--show-meta", "photo,,source")
    assert out.returncode == 2 and "separated by commas" in out.stderr


def test_show_meta_keeps_the_order_given():
    cols = MetaColumns(show=("b", "a"))
    assert cols.select({"a": 1, "b": 2, "c": 3}) == [("b", 2), ("a", 1)]
    assert MetaColumns(hide=frozenset({"a"})).select({"a": 1, "b": 2}) == [("b", 2)]


# ---- pace and progress --------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_pace_is_answers_a_minute_over_the_recent_window():
    clock = Clock()
    pace = Pace(window=300, clock=clock)
    assert pace.describe(100) == "known after 3 answers"
    for _ in range(10):           # one answer every 6 s: 10 a minute
        clock.t += 6
        pace.answered()
    assert 9.0 <= pace.per_minute() <= 11.0
    rate = pace.per_minute()
    assert pace.describe(100) == f"{rate:.1f}/min · ETA {duration(100 / rate * 60)}"
    assert duration(100 / rate * 60) in ("10 min", "11 min")
    clock.t += 600                # a break longer than the window: no recent answers
    assert pace.per_minute() is None
    assert duration(7000) == "1 h 57 min" and duration(20) == "< 1 min"
    assert duration(3 * 86400) == "72 h"


@sync
async def test_the_panel_says_answered_pace_and_agreement_in_words(tmp_path):
    features, _ = make_pool(tmp_path / "pool")
    async with annotating(features, size=(140, 40)) as (sampler, app, pilot):
        for i in range(5):
            shown = await wait_displayed(app, pilot)
            await pilot.press("d" if i % 2 else "a")
            await wait_displayed(app, pilot, not_key=shown)
        await pilot.pause(0.7)                                # the stats tick
        text = "\n".join(screen_text(app))
        assert "answered 5" in text and "/min · ETA " in text, text
        assert "model agreed with your" in text


def _finish_rows(path, rows):
    """What featurize does to a row, from another process as featurize is: the status
    set, then flushed."""
    script = ("import sys, h5py, numpy as np\n"
              "with h5py.File(sys.argv[1], 'r+', locking=False) as f:\n"
              "    st = f['status'][:]\n"
              "    st[np.array(sys.argv[2:], int)] = 1\n"
              "    f['status'][:] = st\n"
              "    f.flush()\n")
    subprocess.run([sys.executable, "-c", script, str(path), *map(str, rows)], check=True,
                   timeout=60)


@sync
async def test_counts_follow_featurize_without_a_key(tmp_path, monkeypatch):
    """In a trial "left 64" stayed on screen for 40 s while featurize reached 320 of 500:
    the sampler re-reads the file in its refit thread, at nice +15, which featurize itself
    starves. Here that thread never re-reads it (REFRESH_S an hour): the counts on screen
    must follow the file anyway."""
    import tui.learn.queue_builder as queue_mod
    from h5fixtures import write_features

    monkeypatch.setattr(queue_mod, "REFRESH_S", 3600.0)
    src, _ = make_pool(tmp_path / "pool", n_files=24, n_boxes=0)
    with h5py.File(src, "r") as f:
        X, paths = f["features"][:].astype(np.float32), [p.decode() for p in f["items/path"][:]]
    n = len(paths)
    features = tmp_path / "features.h5"
    status = np.r_[np.ones(8, np.int8), np.zeros(n - 8, np.int8)]
    write_features(features, X, paths=paths, status=status, complete=False)
    async with annotating(features, size=(140, 40)) as (sampler, app, pilot):
        await wait_displayed(app, pilot)
        assert "left 8" in panel_text(app) and "featurized 8 of 24 so far" in panel_text(app)
        _finish_rows(features, np.arange(8, 20))
        t0 = time.monotonic()
        while "left 20" not in panel_text(app) and time.monotonic() - t0 < 30:
            await pilot.pause(0.2)
        lag = time.monotonic() - t0
        text = "\n".join(screen_text(app))
        assert "left 20" in text and "featurized 20 of 24 so far" in text, text
        print(f"the panel followed featurize after {lag:.1f} s")


@sync
async def test_a_count_that_fails_is_said_on_screen_not_frozen(tmp_path, monkeypatch):
    """The count of featurized rows runs in a worker that drops errors: one that failed
    left the counts frozen on screen with nothing said. Now the panel says it, and the
    counts follow the file again once a count succeeds."""
    import tui.learn.queue_builder as queue_mod
    from h5fixtures import write_features

    from tui.store.features import FeatureFile

    monkeypatch.setattr(queue_mod, "REFRESH_S", 3600.0)
    src, _ = make_pool(tmp_path / "pool", n_files=12, n_boxes=0)
    with h5py.File(src, "r") as f:
        X, paths = f["features"][:].astype(np.float32), [p.decode() for p in f["items/path"][:]]
    features = tmp_path / "features.h5"
    write_features(features, X, paths=paths, status=np.r_[np.ones(4, np.int8), np.zeros(8, np.int8)],
                   complete=False)
    works = FeatureFile.featurized_now

    def broken(self):
        raise RuntimeError("the status dataset is being rewritten")
    monkeypatch.setattr(FeatureFile, "featurized_now", broken)
    async with annotating(features, size=(140, 40)) as (sampler, app, pilot):
        await wait_displayed(app, pilot)
        _finish_rows(features, np.arange(4, 9))
        said = "featurize's progress could not be read (RuntimeError: the status dataset"
        t0 = time.monotonic()
        while said not in " ".join(panel_text(app).split()) and time.monotonic() - t0 < 20:
            await pilot.pause(0.2)
        await pilot.pause(0.3)
        screen = "\n".join(screen_text(app))             # what the person sees, row by row
        assert said in " ".join(panel_text(app).split()), panel_text(app)
        assert "featurize's progress" in screen and "left 4" in screen, screen
        monkeypatch.setattr(FeatureFile, "featurized_now", works)
        t0 = time.monotonic()
        while "left 9" not in panel_text(app) and time.monotonic() - t0 < 20:
            await pilot.pause(0.2)
        await pilot.pause(0.3)
        screen = "\n".join(screen_text(app))
        assert "left 9" in screen and "featurize's progress" not in screen, screen
