"""ImagePane in a real Textual app (App.run_test) for every protocol: what reaches the terminal."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from pathlib import Path
import threading

import numpy as np
import pytest
from PIL import Image
from textual.app import App
from textual.geometry import Region
from textual.strip import Strip

from app_fixtures import sync

from tui.image import encoders
from tui.image.graphics import Graphics
from tui.app.image_pane import ImagePane, _Prepared
from tui.image.render import render_item

IMAGES = os.path.join(os.path.dirname(__import__("sklearn.datasets").datasets.__file__), "images")
CHINA, FLOWER = os.path.join(IMAGES, "china.jpg"), os.path.join(IMAGES, "flower.jpg")
APC = re.compile(r"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\")


class PaneApp(App):
    CSS = "Screen { layout: horizontal; } #side { width: 30; }"

    def __init__(self, graphics, **pane_kw):
        super().__init__()
        self.graphics, self.pane_kw = graphics, pane_kw
        self.resized: list = []

    def compose(self):
        from textual.widgets import Static
        yield ImagePane(self.graphics, **self.pane_kw)
        yield Static("side", id="side")

    def on_image_pane_resized(self, message: ImagePane.Resized) -> None:
        self.resized.append(message.size_px)


def graphics(protocol, terminal="kitty(0.35.2)", passthrough=False):
    return Graphics(protocol, (10, 20), passthrough, passthrough, "", terminal)


def recorder(app):
    """Record what goes through the app's driver (the headless driver writes nowhere)."""
    written: list[str] = []
    app._driver.write = written.append
    return written


def prepare_in_thread(pane, token, path, box=(100, 50, 300, 250)):
    pic = render_item(path, box, view="whole", size_px=pane.pixel_size())
    t = threading.Thread(target=pane.prepare, args=(token, pic))
    t.start()
    t.join()


def commands(written):
    """The kitty graphics commands in the written text, as (keys dict, payload)."""
    out = []
    for ctl, payload in APC.findall("".join(written)):
        out.append((dict(kv.split("=", 1) for kv in ctl.split(",") if kv), payload))
    return out


def pane_text(pane):
    cols, rows = pane.content_size
    return [s for s in pane.render_lines(Region(0, 0, cols, rows))]


@sync
async def test_kitty_frames_transmit_ahead_and_switch_with_a_few_bytes():
    app = PaneApp(graphics("kitty"))
    async with app.run_test(size=(120, 40)) as pilot:
        written = recorder(app)
        pane = app.query_one(ImagePane)
        assert pane.frames and pane.pixel_size() == (900, 800)
        prepare_in_thread(pane, "a", CHINA)
        prepare_in_thread(pane, "b", FLOWER)
        cmds = commands(written)
        first = cmds[0][0]
        assert first["a"] == "t" and first["f"] == "100" and first["q"] == "2"
        assert (first["s"], first["v"]) == ("720", "640")   # default max_px 720: kitty scales it up
        root = first["i"]
        upload = []                   # the payload chunks of the first transmission (a=t, then m=... chunks)
        for keys, payload in cmds:
            if keys.get("a") not in (None, "t"):
                break
            upload.append(payload)
        data = base64.b64decode("".join(upload))
        sent = Image.open(io.BytesIO(data))
        assert sent.size == (720, 640)                 # a real PNG, the pane scaled to 720 px
        # lossless by default: exactly the picture that was prepared, every pixel
        pic = render_item(CHINA, (100, 50, 300, 250), view="whole", size_px=(900, 800))
        expected = encoders.letterbox(pic, (720, 640))
        assert np.array_equal(np.asarray(sent.convert("RGB")), np.asarray(expected))
        assert any(k.get("a") == "p" and k.get("U") == "1" and k["c"] == "90" and k["r"] == "40" for k, _ in cmds)
        assert any(k.get("a") == "f" and k.get("i") == root for k, _ in cmds)  # b: a frame of the same image
        assert all(k.get("q") == "2" for k, _ in cmds)                 # never a reply to be read as a key
        assert sum(map(len, written)) <= 600_000 * 2 * 4 / 3 + 10_000   # base64 of 2 x 600 KB

        written.clear()
        pane.show("a")
        await pilot.pause()
        cells_a = [s.text for s in pane_text(pane)]
        assert cells_a[0].startswith(encoders.PLACEHOLDER) and len(cells_a) == 40
        pane.show("b")
        await pilot.pause()
        at_key = "".join(written)
        assert pane.painted == "b"                                      # no repaint needed to show it
        assert len(at_key.encode()) <= 8192 and len(at_key) < 100, at_key
        assert commands(written)[-1][0] == {"a": "a", "i": root, "c": "2", "q": "2"}
        assert [s.text for s in pane_text(pane)] == cells_a            # the cells do not change at all


@sync
async def test_kitty_ids_mode_places_new_id_and_deletes_discarded():
    app = PaneApp(graphics("kitty", terminal="ghostty 1.1"))
    async with app.run_test(size=(120, 40)) as pilot:
        written = recorder(app)
        pane = app.query_one(ImagePane)
        assert not pane.frames
        prepare_in_thread(pane, "a", CHINA)
        prepare_in_thread(pane, "b", FLOWER)
        ids = [k["i"] for k, _ in commands(written) if k.get("a") == "t"]
        assert len(set(ids)) == 2
        written.clear()
        pane.show("b")
        await pilot.pause()
        assert written == []
        style = pane_text(pane)[3]._segments[0].style
        assert style.color == encoders.id_color(int(ids[1]), pane._truecolor())
        pane.discard("a")
        assert commands(written) == [({"a": "d", "d": "I", "i": ids[0], "q": "2"}, "")]


@sync
async def test_kitty_passthrough_wraps_every_command_for_tmux():
    app = PaneApp(graphics("kitty", passthrough=True))
    async with app.run_test(size=(120, 40)):
        written = recorder(app)
        pane = app.query_one(ImagePane)
        prepare_in_thread(pane, "a", CHINA)
        text = "".join(written)
        parts = re.findall(r"\x1bPtmux;(.*?)(?<!\x1b)\x1b\\", text, re.S)
        assert text.startswith("\x1bPtmux;\x1b\x1b_G") and len(parts) == text.count("\x1bPtmux;")
        inner = "".join(p.replace("\x1b\x1b", "\x1b") for p in parts)
        assert commands([inner])[0][0]["a"] == "t"


@sync
async def test_sixel_encoded_ahead_and_written_once_per_show():
    app = PaneApp(graphics("sixel", terminal="XTerm(390)"))
    async with app.run_test(size=(120, 40)) as pilot:
        written = recorder(app)
        pane = app.query_one(ImagePane)
        prepare_in_thread(pane, "a", CHINA)
        prepare_in_thread(pane, "b", FLOWER)
        assert written == [] and pane.writes == 0          # encoded, nothing sent yet
        item = pane._items["b"]
        assert item.sixel.startswith("\x1bP") and item.sixel.endswith("\x1b\\") and len(item.sixel) <= 300_000
        pane.show("a")
        await pilot.pause()
        before = pane.writes
        pane.show("b")
        await pilot.pause()
        await pilot.pause()
        assert pane.writes - before == len(item.sixel)     # once, not twice
        lines = pane_text(pane)
        # every cell blanked (a stale footer must not survive under an uncovered strip), the sixel
        # written last, over the blanks, from the pane's top-left corner
        width = pane.content_size.width
        assert all(s.text == " " * width and s.cell_length == width for s in lines[:-1])
        last = lines[-1].text
        assert last.startswith(" " * width) and item.sixel in last and lines[-1].cell_length == width


@pytest.mark.parametrize("protocol", ["halfcell", "unicode"])
@sync
async def test_text_renderers_draw_the_picture(protocol):
    app = PaneApp(graphics(protocol, terminal=""))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ImagePane)
        pic = Image.new("RGB", pane.pixel_size(), (255, 255, 255))
        pic.paste((0, 0, 255), (0, 0, pic.width // 2, pic.height))
        pane.prepare("x", pic)
        pane.show("x")
        await pilot.pause()
        row = pane_text(pane)[20]
        if protocol == "halfcell":
            segs = row._segments
            assert segs[0].text[0] == "▀" and segs[0].style.color.triplet == (0, 0, 255)
            assert segs[-1].style.bgcolor.triplet == (255, 255, 255)
        else:
            assert row.text[:44] == " " * 44 and row.text[-44:] == "█" * 44
        assert row.cell_length == 90


@sync
async def test_show_before_prepare_finishes_encodes_now_and_unknown_is_ignored():
    app = PaneApp(graphics("halfcell"))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ImagePane)
        pane.show("never-prepared")        # nothing to show: no crash, pane stays blank
        pic = render_item(CHINA, None, size_px=pane.pixel_size())
        with pane._lock:
            pane._items["late"] = _Prepared(pic)   # as prepare() leaves it before encoding
        pane.show("late")
        await pilot.pause()
        assert pane.current == "late" and pane._items["late"].grid == (90, 40)


@sync
async def test_resize_posts_pixel_size_and_forgets_old_encodings():
    app = PaneApp(graphics("kitty"))
    async with app.run_test(size=(120, 40)) as pilot:
        written = recorder(app)
        pane = app.query_one(ImagePane)
        prepare_in_thread(pane, "a", CHINA)
        pane.show("a")
        await pilot.pause()
        root = pane._root_id
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert app.resized[-1] == (700, 600) and pane.pixel_size() == (700, 600)
        assert ({"a": "d", "d": "I", "i": str(root), "q": "2"}, "") in commands(written)
        assert pane.current is None


# ---- the real path: a minimal app on a pseudo-terminal (bench/tui_latency.py's fake terminal) -------

@pytest.fixture(scope="module")
def small_pool(tmp_path_factory):
    from bench.tui_latency import build_pool
    return build_pool(n_images=0, n_photos=6, n_rows=1000, folder=tmp_path_factory.mktemp("pool"))


def run_pane(pool, protocol, keys=3, term="xterm-256color"):
    import sys
    from bench.pty_frames import drive
    cmd = [sys.executable, "-m", "bench.tui_latency", "--child", "pane", "--graphics", protocol,
           "--features", str(pool)]
    return drive(cmd, keys, term=term, keep=True, quiet=0.3, think=0.05, ready_quiet=1.0)


@pytest.mark.slow
def test_pty_sixel_written_once_per_key(small_pool):
    res = run_pane(small_pool, "sixel")
    assert res["n"] == 3
    for data, end in res["windows"]:
        assert data.count(b"\x1bP0;0;0q") == 1, data[:200]          # one sixel image per keypress
        assert data.index(b"\x1bP0;0;0q") < end


@pytest.mark.slow
def test_pty_kitty_key_writes_a_few_bytes_and_uploads_after(small_pool):
    res = run_pane(small_pool, "kitty", term="xterm-kitty")
    assert res["n"] == 3
    for data, end in res["windows"]:
        assert end <= 8192, data[:end]
        assert b"\x1b_Ga=a," in data[:end]                           # the frame switch
        assert b"a=f" in data[end:] or b"a=t" in data[end:]         # the next image goes up after


def test_kitty_ids_survive_textual_colour_filters_on_256_and_truecolor_terminals():
    from rich.console import Console
    from rich.terminal_theme import MONOKAI
    from textual.filter import ANSIToTruecolor
    from textual.color import Color as TColor

    flt = ANSIToTruecolor(MONOKAI)
    for truecolor, ids in ((False, encoders.EIGHT_BIT_IDS), (True, [0x012345, 0xFEDCBA, 5287761])):
        console = Console(color_system="truecolor" if truecolor else "256", force_terminal=True,
                          file=io.StringIO(), width=200)
        for image_id in ids:
            line = encoders.placeholder_lines(image_id, 3, 1, truecolor)[0]
            strip = Strip(line, 3).apply_filter(flt, TColor(0, 0, 0))
            text = "".join(console._render_buffer(list(strip)))
            m = re.search(r"\x1b\[38;(?:5;(\d+)|2;(\d+);(\d+);(\d+))m", text)
            got = int(m.group(1)) if m.group(1) else (int(m.group(2)) << 16 | int(m.group(3)) << 8 | int(m.group(4)))
            assert got == image_id, (truecolor, image_id, text[:40])


@sync
async def test_quitting_deletes_the_kitty_images():
    app = PaneApp(graphics("kitty", terminal="ghostty"))
    async with app.run_test(size=(120, 40)):
        written = recorder(app)
        pane = app.query_one(ImagePane)
        prepare_in_thread(pane, "a", CHINA)
        prepare_in_thread(pane, "b", FLOWER)
        ids = {k["i"] for k, _ in commands(written) if k.get("a") == "t"}
        await pane.remove()
        deleted = {k["i"] for k, _ in commands(written) if k.get("a") == "d"}
        assert deleted == ids and len(ids) == 2


@sync
async def test_kitty_frames_stay_bounded_and_an_evicted_image_still_shows():
    """Frames are never rewritten (real kitty 0.41 kept showing a rewritten frame's old
    picture, another item's). A full image lives while an item prepared in it may still
    be shown, and is deleted once the app has discarded them all."""
    from tui.app.image_pane import KITTY_MAX_FRAMES
    app = PaneApp(graphics("kitty"))
    async with app.run_test(size=(120, 40)) as pilot:
        written = recorder(app)
        pane = app.query_one(ImagePane)
        small = Image.new("RGB", (90, 80), (200, 30, 30))
        for n in range(2 * KITTY_MAX_FRAMES + 3):
            pane.prepare(f"t{n}", small)
        cmds = commands(written)
        assert not any(k.get("a") == "f" and "r" in k for k, _ in cmds)   # no frame rewritten
        made = [k["i"] for k, _ in cmds if k.get("a") == "t"]
        assert len(made) == 3 and not [k for k, _ in cmds if k.get("a") == "d"]  # all wanted
        pane.show(f"t{2 * KITTY_MAX_FRAMES}")
        for n in range(2 * KITTY_MAX_FRAMES):        # the app lets go of the first sixteen
            pane.discard(f"t{n}")
        written.clear()
        for n in range(KITTY_MAX_FRAMES):            # the third image fills; a fourth starts
            pane.prepare(f"u{n}", small)
        cmds = commands(written)
        deleted = [k["i"] for k, _ in cmds if k.get("a") == "d"]
        assert deleted == made[:2]                   # the two images nothing shows any more
        assert pane._frames_made <= KITTY_MAX_FRAMES
        written.clear()
        pane.show("u0")                              # prepared in the third: a frame switch
        await pilot.pause()
        cmds = commands(written)
        assert cmds and all(k.get("a") == "a" for k, _ in cmds)      # no upload at the key
        await pilot.pause()
        assert pane.painted == "u0"


@pytest.mark.slow
def test_sixel_helper_starts_where_stderr_has_no_file_descriptor():
    """Inside a Textual app sys.stderr has no real fd, and fd 2 may even be closed: the helper
    process must still start (multiprocessing used to fail with "bad value(s) in fds_to_keep")."""
    code = (
        "import io, os, sys\n"
        "from PIL import Image\n"
        "from tui.image import encoders\n"
        "class NoFd(io.StringIO):\n"
        "    def fileno(self): return -1\n"
        "os.close(2); sys.stderr = NoFd(); sys.__stderr__ = NoFd()\n"
        "s = encoders.sixel_encode_away(Image.new('RGB', (12, 12), 'red'), 4)\n"
        "print(type(encoders._POOL).__name__, s.startswith('\\x1bP'))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent)
    assert res.stdout.split() == ["ProcessPoolExecutor", "True"], res.stdout + res.stderr
