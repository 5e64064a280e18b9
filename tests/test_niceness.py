"""The sampler's refit thread and the image worker run at a lower CPU priority than the
thread that draws the screen (Linux), and the caller's own thread is never touched."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from tests.h5fixtures import write_features
from tui.learn.niceness import BACKGROUND_NICE, lower_this_thread
from tui.app.prefetch import Job, Prefetcher
from tui.learn.sampler import Sampler

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


def nice_of(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def expected() -> int:
    return min(19, nice_of(threading.main_thread().native_id) + BACKGROUND_NICE)


def lower_in_a_new_thread() -> tuple[bool, int, int]:
    """lower_this_thread() in a fresh thread: (its result, the nice before, the nice after)."""
    seen = []

    def body():
        before = nice_of(threading.get_native_id())
        done = lower_this_thread()
        seen.extend([done, before, nice_of(threading.get_native_id())])

    t = threading.Thread(target=body)
    t.start()
    t.join()
    return tuple(seen)


def test_a_thread_lowers_itself_and_nothing_else():
    main_before = nice_of(threading.get_native_id())
    done, _, nice = lower_in_a_new_thread()
    assert {"done": done, "nice": nice} == {"done": True, "nice": expected()}
    assert not lower_this_thread(), "the main thread draws the screen: never lowered"
    assert nice_of(threading.get_native_id()) == main_before


@pytest.mark.parametrize("value, want", [("3", 3), ("0", 0), ("", BACKGROUND_NICE)])
def test_the_environment_sets_how_far_background_threads_yield(monkeypatch, value, want):
    """0 for a box shared with CPU-bound jobs (featurize): there a lowered refit gets a
    small share of a core against them and the model falls many answers behind."""
    monkeypatch.setenv("BINLABEL_BACKGROUND_NICE", value)
    done, before, after = lower_in_a_new_thread()
    base = nice_of(threading.main_thread().native_id)
    assert {"done": done, "raised": after - before} == {"done": want > 0,
                                                        "raised": min(19, base + want) - base}


def test_the_sampler_and_the_prefetch_worker_run_lowered(tmp_path):
    import numpy as np
    feats = np.eye(8, dtype=np.float32)[np.arange(40) % 8]
    path = tmp_path / "f.h5"
    write_features(path, feats)
    main_before = nice_of(threading.get_native_id())
    s = Sampler(path, labels=tmp_path / "l.sqlite")
    try:
        s.wait_idle()
        loop = s._loop._thread
        assert loop.is_alive() and nice_of(loop.native_id) == expected()
    finally:
        s.close()
    ran = threading.Event()
    nice = {}

    def render(job):
        nice["worker"] = nice_of(threading.get_native_id())
        return job

    p = Prefetcher(lambda token, image: ran.set(), render)
    worker = threading.Thread(target=p.run, args=(lambda job, error: None,))
    worker.start()
    p.want([Job("k", "x.png", None, "crop", (10, 10))])
    assert ran.wait(10)
    p.close()
    worker.join(10)
    assert nice["worker"] == expected() and nice_of(threading.get_native_id()) == main_before
