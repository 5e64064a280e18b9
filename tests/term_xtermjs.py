"""xterm.js (the terminal inside VS Code) as a real terminal for end-to-end tests.

xterm.js 6 with @xterm/addon-image (sixel) runs in Debian's chromium, headless, driven by
Playwright for Python (no browser download: `executable_path=/usr/bin/chromium`). The
command runs on a stdlib pty whose size is set with TIOCSWINSZ with 0 pixels, as node-pty
does for VS Code; a pump on an asyncio loop in a background thread copies the pty's output
to `term.write` and the terminal's replies (`term.onData`, `onBinary`) back to the pty.
Keys go through xterm.js's own key handling (`page.keyboard.press` on the focused
terminal), the screen is read back from `term.buffer.active`, screenshots are of the
`.xterm-screen` element (text and image layers, nothing around them). The renderer is
WebGL (SwiftShader here), as VS Code's default `gpuAcceleration: auto`, with whole-pixel cells
(9x18 px at 15 px DejaVu Sans Mono); `renderer="dom"` is VS Code's fallback, whose cells are
fractional (9.025 px wide: xterm.js answers CSI 16 t with the rounded 9).

`.ci/terminals-xtermjs.sh` installs chromium and the npm packages (outside the repository,
in $BINLABEL_XTERMJS, default /var/cache/binlabel/xtermjs); playwright is a pip package.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import importlib.util
import os
import shutil
import signal
import struct
import subprocess
import termios
import threading
from pathlib import Path

import numpy as np
from term_base import Terminal as BaseTerminal

CHROMIUM = os.environ.get("BINLABEL_CHROMIUM", "/usr/bin/chromium")
XTERMJS = Path(os.environ.get("BINLABEL_XTERMJS", "/var/cache/binlabel/xtermjs")) / "node_modules"
FILES = {"css": XTERMJS / "@xterm/xterm/css/xterm.css",
         "xterm": XTERMJS / "@xterm/xterm/lib/xterm.js",
         "image": XTERMJS / "@xterm/addon-image/lib/addon-image.js",
         "webgl": XTERMJS / "@xterm/addon-webgl/lib/addon-webgl.js"}
FONT = "DejaVu Sans Mono"
FONT_SIZE = 15  # DejaVu Sans Mono at 15 px: 9x18 px cells (the measurement)
# What VS Code's integrated terminal puts in the environment of the shell it starts.
ENV = {"TERM": "xterm-256color", "COLORTERM": "truecolor", "TERM_PROGRAM": "vscode"}
KEYS = {"Escape": "Escape", "BackSpace": "Backspace", "Left": "ArrowLeft", "Right": "ArrowRight",
        "Up": "ArrowUp", "Down": "ArrowDown", "space": "Space", "Return": "Enter", "Tab": "Tab"}
MODS = {"ctrl": "Control", "shift": "Shift", "alt": "Alt"}

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<style>html, body { margin: 0; padding: 0; background: #000; }
#terminal { display: inline-block; }</style></head><body><div id="terminal"></div></body></html>"""

START = """([cols, rows, font, size, renderer]) => {
  const Addon = window.ImageAddon.ImageAddon || window.ImageAddon;
  const term = new Terminal({cols, rows, fontFamily: font, fontSize: size,
      allowProposedApi: true, windowOptions: {getWinSizePixels: true, getCellSizePixels: true}});
  const images = new Addon({sixelSupport: true});
  term.loadAddon(images);
  term.open(document.getElementById('terminal'));
  let used = 'dom';
  if (renderer === 'webgl') {  // VS Code's default (gpuAcceleration auto), DOM when it fails
    try { term.loadAddon(new window.WebglAddon.WebglAddon()); used = 'webgl'; } catch (e) {}
  }
  term.onData(d => window.ptyData(d));
  term.onBinary(d => window.ptyBinary(d));
  term.focus();
  window.term = term; window.images = images;
  window.feed = b64 => new Promise(done => {
    const s = atob(b64), a = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    term.write(a, done);
  });
  return used;
}"""

TEXT = """() => { const b = term.buffer.active, out = [];
  for (let i = 0; i < term.rows; i++) {
    const line = b.getLine(b.viewportY + i);  // a line keeps cells beyond a shrunk width
    out.push(line ? line.translateToString(true, 0, term.cols) : '');
  }
  return out; }"""

CELL = """() => { const r = document.querySelector('.xterm-screen').getBoundingClientRect();
  let w = r.width / term.cols, h = r.height / term.rows;
  try { const c = term._core._renderService.dimensions.css.cell; w = c.width; h = c.height; }
  catch (e) {}  // a private field: the element's size per cell is the fallback
  return [w, h]; }"""


def missing(name: str | None = None) -> str | None:
    """Why xterm.js cannot start here, or None (`name`: term_base.missing passes it)."""
    if not Path(CHROMIUM).exists():
        return f"no {CHROMIUM} (.ci/terminals-xtermjs.sh installs Debian's chromium)"
    absent = [str(p) for p in FILES.values() if not p.exists()]
    if absent:
        return f"missing {', '.join(absent)} (.ci/terminals-xtermjs.sh installs them from npm)"
    if importlib.util.find_spec("playwright") is None:
        return "no Python package playwright (pip install playwright; the test extra has it)"
    if shutil.which("fc-list") and FONT not in subprocess.run(
            ["fc-list", ":family"], capture_output=True, text=True).stdout:
        return f"font {FONT} is not installed (fonts-dejavu-core)"
    return None


class XtermJs(BaseTerminal):
    """The command (bash -c) on a pty, shown by xterm.js in headless chromium. If the test
    process is killed, Playwright's driver closes chromium and the pty's hangup ends the app."""

    name = "xterm.js"

    def __init__(self, command: str, cols: int = 120, rows: int = 40, font_size: int = FONT_SIZE,
                 renderer: str = "webgl"):
        self.command, self.cols, self.rows = command, cols, rows
        self.proc = None
        self.master = self._pw = self._browser = None
        self._pending = bytearray()
        self._flushing = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="xtermjs", daemon=True)
        self._thread.start()
        try:
            self.renderer = self._call(self._open_page(font_size, renderer))
            self.master, slave = os.openpty()
            self._set_size(cols, rows)
            env = dict(os.environ, **ENV)
            # setsid --ctty: a new session with the pty as its controlling terminal (SIGWINCH)
            self.proc = subprocess.Popen(["setsid", "--ctty", "bash", "-c", command], stdin=slave,
                                         stdout=slave, stderr=slave, env=env, close_fds=True)
            os.close(slave)
            os.set_blocking(self.master, False)
            self._loop.call_soon_threadsafe(self._loop.add_reader, self.master, self._on_output)
        except BaseException:
            self.close()
            raise

    # ---- the page ----------------------------------------------------------------------------
    def _call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _open_page(self, font_size: int, renderer: str) -> str:
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        self._browser = await self._pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        self.page = await self._browser.new_page(viewport={"width": 2400, "height": 1600},
                                                 device_scale_factor=1)
        await self.page.expose_function("ptyData", lambda d: self._to_pty(d.encode()))
        await self.page.expose_function("ptyBinary", lambda d: self._to_pty(d.encode("latin-1")))
        await self.page.set_content(PAGE)
        await self.page.add_style_tag(path=str(FILES["css"]))
        await self.page.add_script_tag(path=str(FILES["xterm"]))
        await self.page.add_script_tag(path=str(FILES["image"]))
        await self.page.add_script_tag(path=str(FILES["webgl"]))
        return await self.page.evaluate(START, [self.cols, self.rows, FONT, font_size, renderer])

    def _to_pty(self, data: bytes) -> None:
        if self.master is not None:
            try:
                os.write(self.master, data)
            except OSError:
                pass

    # ---- the pump: pty output to term.write --------------------------------------------------
    def _on_output(self) -> None:
        try:
            data = os.read(self.master, 1 << 20)
        except BlockingIOError:
            return
        except OSError:  # EIO: every process on the pty has gone
            data = b""
        if not data:
            self._loop.remove_reader(self.master)
            return
        self._pending += data
        if len(self._pending) > 8 << 20:  # back pressure: let xterm.js catch up
            self._loop.remove_reader(self.master)
        if not self._flushing:
            self._flushing = True
            self._loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                chunk, self._pending = bytes(self._pending), bytearray()
                await self.page.evaluate("b => feed(b)", base64.b64encode(chunk).decode())
                if self.master is not None and self.proc is not None and self.proc.poll() is None:
                    self._loop.add_reader(self.master, self._on_output)
        except Exception:  # the page closed under us
            pass
        finally:
            self._flushing = False

    def _set_size(self, cols: int, rows: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # ---- the protocol ------------------------------------------------------------------------
    def keys(self, *keys: str) -> None:
        for key in keys:
            if len(key) > 1:
                *mods, last = key.split("+") if "+" in key[1:] else [key]
                key = "+".join([MODS.get(m.lower(), m) for m in mods] + [KEYS.get(last, last)])
            self._call(self.page.keyboard.press(key))

    def text(self) -> list[str]:
        return self._call(self.page.evaluate(TEXT))

    def screenshot(self, path) -> np.ndarray:
        from PIL import Image

        self._call(self.page.locator(".xterm-screen").screenshot(path=str(path)))
        return np.asarray(Image.open(path).convert("RGB"))

    def cell_px(self) -> tuple[int, int]:
        w, h = self._call(self.page.evaluate(CELL))
        return round(w), round(h)  # as xterm.js answers CSI 16 t (whole pixels with WebGL)

    def resize(self, cols: int, rows: int) -> None:
        self._call(self.page.evaluate("([c, r]) => term.resize(c, r)", [cols, rows]))
        self.cols, self.rows = cols, rows
        self._set_size(cols, rows)  # the kernel sends SIGWINCH to the pty's foreground group

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        if self.proc is not None:
            for sig in (signal.SIGHUP, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(3)
                    break
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # anything left in its group
            except ProcessLookupError:
                pass
        if self._loop.is_running():
            try:
                self._call(self._shutdown(), timeout=30)
            except Exception:
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self.master is not None:
            os.close(self.master)
            self.master = None

    async def _shutdown(self) -> None:
        if self.master is not None:
            self._loop.remove_reader(self.master)
        if self._browser is not None:
            await self._browser.close()
        if self._pw is not None:
            await self._pw.stop()


Terminal = XtermJs  # the name every fixture module offers
