"""The export dialog under `App.run_test()`: a tiny app pushes it over a real Sampler,
Pilot picks a format, exports, and the file appears where the dialog says."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
from app_fixtures import make_pool
from textual.app import App
from textual.widgets import Input, Select, Static

from tui.app.export_dialog import ExportDialog, sampler_model
from tui.export.model_file import load_model
from tui.learn.sampler import Sampler


class Host(App[None]):
    """Pushes the dialog at start and keeps what it returns; binds letters as the annotate
    app does, so typing a path must not trigger them."""

    BINDINGS = [("q", "quit"), ("d", "answered('pos')"), ("a", "answered('neg')")]

    def __init__(self, sampler):
        super().__init__()
        self.sampler = sampler
        self.returned = "not closed"

    def on_mount(self) -> None:
        self.push_screen(ExportDialog(self.sampler), callback=self.keep_result)

    def keep_result(self, result) -> None:
        self.returned = result

    def action_answered(self, what: str) -> None:
        raise AssertionError(f"a key typed into the dialog answered {what}")


async def wait_for(pilot, cond, timeout=30.0, what=""):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def result_text(screen) -> str:
    return str(screen.query_one("#export-result", Static).render())


def test_dialog_exports_and_names_the_file(tmp_path):
    fp, keys = make_pool(tmp_path, n_files=10, n_boxes=6)
    s = Sampler(fp, seed=0, poll=0.2)
    try:
        for i, k in enumerate(keys[:10]):
            s.record(k, i % 2 == 0)
        s.wait_idle(60)
        app = Host(s)

        async def go():
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.pause()
                dlg = app.screen
                assert isinstance(dlg, ExportDialog)
                # the format list: from csv, one down is jsonl
                await pilot.click("#export-format")
                await pilot.press("down", "enter")
                await wait_for(pilot, lambda: dlg.query_one(Select).value == "jsonl", 5, "jsonl")
                path = dlg.query_one("#export-path", Input)
                want = tmp_path / "features.labels.jsonl"
                assert path.value == str(want)          # the default path followed the format
                await pilot.click("#export-go")
                await wait_for(pilot, lambda: not dlg.running and want.exists(), 30, "jsonl file")
                assert str(want) in result_text(dlg) and "10 labelled items" in result_text(dlg)
                recs = [json.loads(x) for x in want.read_text().splitlines()]
                assert [r["key"] for r in recs] == keys[:10]

                # a typed path, submitted with Enter: the sampler's own model is written
                dlg.query_one(Select).value = "model"
                await pilot.pause()
                path.value = str(tmp_path) + "/"
                path.focus()
                await pilot.pause()
                await pilot.press("end", *"quad.json", "enter")     # q, a, d: letters, not keys
                await wait_for(pilot, lambda: not dlg.running and
                               (tmp_path / "quad.npz").exists(), 30, "model files")
                text = result_text(dlg)
                assert str(tmp_path / "quad.json") in text and str(tmp_path / "quad.npz") in text
                m = load_model(tmp_path / "quad.json")
                assert m.doc["source"] == "sampler"
                assert m.doc["model_version"] == s.model_version
                np.testing.assert_array_equal(m.w, sampler_model(s).w)

                # a folder that does not exist: the error, in the dialog, names it
                path.value = str(tmp_path / "nodir" / "x.json")
                await pilot.click("#export-go")
                await wait_for(pilot, lambda: dlg.error is not None, 30, "the error")
                assert "nodir" in result_text(dlg) and "does not exist" in result_text(dlg)
                assert dlg.query_one("#export-result").has_class("error")
                await pilot.click("#export-close")
                await pilot.pause()
                assert not isinstance(app.screen, ExportDialog)
            return app.returned

        returned = asyncio.run(go())
        assert returned is not None and returned.paths[0] == tmp_path / "quad.json"
    finally:
        s.close()


def test_dialog_coco_leaves_out_partly_judged_images_and_says_so(tmp_path):
    # make_pool: 10 crops (whole images), then 6 boxes alternating on photo_0 and photo_1
    fp, keys = make_pool(tmp_path, n_files=10, n_boxes=6)
    s = Sampler(fp, seed=0, poll=0.2)
    try:
        for i, k in enumerate(keys[:10]):
            s.record(k, i % 2 == 0)
        boxes = keys[10:]
        for k in boxes[0::2]:           # every box of photo_0: accepted
            s.record(k, True)
        s.record(boxes[1], True)        # one of photo_1's three
        s.wait_idle(60)
        app = Host(s)
        want = tmp_path / "features.coco.json"

        async def go():
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.pause()
                dlg = app.screen
                dlg.query_one(Select).value = "coco"
                await pilot.pause()
                assert dlg.query_one("#export-path", Input).value == str(want)
                await pilot.click("#export-go")
                await wait_for(pilot, lambda: not dlg.running and want.exists(), 30, "coco")
                return result_text(dlg)

        text = asyncio.run(go())
        assert "wrote 3 accepted boxes on 1 images" in text
        assert "left out 1 image with 2 boxes nobody judged" in text
        assert "(and the 1 accepted box on them)" in text
        doc = json.loads(want.read_text())
        assert [im["file_name"] for im in doc["images"]] == [str(tmp_path / "photo_0.jpg")]
    finally:
        s.close()
