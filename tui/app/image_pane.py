"""The image pane: shows one item's picture, prepared ahead so that a keypress only swaps it.

Why not textual-image's widget: it encodes on render (the keypress pays), sends kitty PNGs again on
every change and sixel twice. Here a worker thread calls ``prepare`` for the next items; it encodes
them, and with kitty transmits them to the terminal at once without displaying them. ``show`` then
only switches: with kitty itself, one animation-frame command of a few dozen bytes (the placeholder
cells never change); with other kitty-protocol terminals, the placeholder cells of another image id;
with sixel, the ready sixel written once in the next frame; halfcell/unicode swap ready strips.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field

from PIL import Image
from rich.control import Control
from rich.segment import ControlType, Segment
from rich.style import Style
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from tui.image import encoders
from tui.image.graphics import Graphics

# Defaults for fidelity (bench/fidelity.py, README): kitty sends the picture losslessly (a true
# colour PNG of at most 720 px, which the terminal scales: a 640x427 photo in a 1000x700 px pane
# is 577 KB); sixel uses a 256-entry palette that keeps every grey level (tui.image.quantize; a photo
# at 33-35 dB, at most 1 MB). --colors and --max-px trade sharpness for bytes on slow links.
DEFAULT_COLORS = {"kitty": 0, "sixel": 256}
DEFAULT_MAX_PX = {"kitty": 720}
KITTY_MAX_FRAMES = 8          # frames kept in the terminal (kitty frames mode): memory stays bounded
_NULL = Style()


@dataclass
class _Prepared:
    image: Image.Image
    grid: tuple[int, int] = (0, 0)      # (cols, rows) the encoding was made for
    image_id: int = 0                   # kitty: the terminal's image id
    frame: int = 0                      # kitty frames mode: the frame number
    sixel: str = ""
    lines: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ImagePane(Widget):
    """Shows one item's picture in the protocol that ``graphics`` names."""

    DEFAULT_CSS = """
    ImagePane { width: 1fr; height: 1fr; background: rgb(24,24,24); color: rgb(230,230,230); }
    """

    class Resized(Message):
        """The pane's size in pixels changed: render and prepare again at ``size_px``."""

        def __init__(self, pane: "ImagePane", size_px: tuple[int, int]) -> None:
            super().__init__()
            self.pane = pane
            self.size_px = size_px

    def __init__(self, graphics: Graphics, *, max_px: int | None = None, colors: int | None = None,
                 kitty_format: str = "png",
                 frames: bool | None = None, **kw) -> None:
        """The size/sharpness trade: ``max_px``, kitty only, the longest side sent (the terminal scales it
        up; None: 720, 0: the pane's full pixels); ``colors``, the palette size (None: true colour for
        kitty, 256 for sixel; 0 for kitty: true colour). ``kitty_format``: "png" or "zlib" (raw RGB, o=z: measured
        larger than PNG on photos and on solar cells). ``frames``: kitty,
        switch by animation frames (default: when the terminal is kitty itself)."""
        super().__init__(**kw)
        self.graphics = graphics
        if colors is None:
            colors = DEFAULT_COLORS.get(graphics.protocol, 0)
        if max_px is None:
            max_px = DEFAULT_MAX_PX.get(graphics.protocol, 0)
        self.max_px, self.palette, self.kitty_format = max_px, colors, kitty_format
        self.frames = graphics.kitty_frames if frames is None else frames
        self._lock = threading.RLock()
        self._items: dict[str, _Prepared] = {}
        self._current: str | None = None
        self.painted: str | None = None   # the token the latest composed frame (or kitty frame switch) shows
        self._shown_grid = (0, 0)
        self._shown_image = 0          # kitty: the image id the placeholder cells name
        self._last_px = (0, 0)
        self._ids = itertools.count(random.randrange(1 << 16, 1 << 23))
        self._root_grid = (0, 0)
        self._root_id = 0             # frames mode: the one image id the placeholders name
        self._frames_made = 0
        self._old_roots: list[int] = []   # full images whose frames prepared items may show
        self.writes = 0               # bytes this pane wrote outside the frame (for tests and benchmarks)

    # ---- sizes -----------------------------------------------------------------------------------

    def _grid(self) -> tuple[int, int]:
        return (max(1, self.content_size.width), max(1, self.content_size.height))

    def pixel_size(self) -> tuple[int, int]:
        """The pane's size in pixels now: cells times the cell size."""
        cols, rows = self._grid()
        return (cols * self.graphics.cell_px[0], rows * self.graphics.cell_px[1])

    def on_resize(self, event) -> None:
        size = self.pixel_size()
        if size != self._last_px:
            first = self._last_px == (0, 0)
            self._last_px = size
            if not first:
                self._forget_all()
            self.post_message(self.Resized(self, size))

    # ---- the API the app calls ------------------------------------------------------------------

    def prepare(self, token: str, image: Image.Image) -> None:
        """Encode ``image`` for the terminal now (any thread); kitty: transmit it, not displayed yet."""
        with self._lock:
            old = self._items.get(token)
            if old is not None:
                self._release(old)
            item = self._items[token] = _Prepared(image)
        self._encode(item)

    def show(self, token: str) -> None:
        """Display a prepared image at once (UI thread); encode it now if it is not ready."""
        with self._lock:
            item = self._items.get(token)
            if item is None:
                return
            # current before encoding: the worker evicts frames of items not current, and
            # evicting this one between its encoding and the switch showed another item's
            # picture (a prefetched one uploaded into its frame) in real kitty
            self._current = token
        self._encode(item)
        if self.graphics.protocol == "kitty" and self.frames:
            with self._lock:   # ordered with the uploads, which are written under the lock
                if self._current != token:
                    return
                self._write(encoders.kitty_frame(item.image_id, item.frame,
                                                 passthrough=self.graphics.passthrough))
            if self._shown_grid != item.grid or self._shown_image != item.image_id:
                self.refresh()
            else:   # the cells stay; the switch is queued before the next frame: nothing to repaint
                self.painted = token
        else:
            self.refresh()

    def discard(self, token: str) -> None:
        """Forget a prepared image; kitty: free it in the terminal."""
        with self._lock:
            item = self._items.pop(token, None)
            if token == self._current:
                self._current = None
        if item is not None:
            self._release(item)

    @property
    def current(self) -> str | None:
        return self._current

    # ---- encoding ----------------------------------------------------------------------------------

    def _encode(self, item: _Prepared) -> None:
        """Encode once for the current grid; a second caller waits for the first."""
        with item.lock:
            grid = self._grid()
            if item.grid == grid:
                return
            if item.grid != (0, 0):
                self._release(item)
            cw, ch = self.graphics.cell_px
            cols, rows = grid
            canvas_px = (cols * cw, rows * ch)
            proto = self.graphics.protocol
            if proto == "kitty":
                self._encode_kitty(item, canvas_px, grid)
            elif proto == "sixel":
                canvas = encoders.letterbox(item.image, (canvas_px[0], max(6, canvas_px[1] // 6 * 6)))
                item.sixel = encoders.sixel_encode_away(canvas, self.palette or 256)
            elif proto == "halfcell":
                item.lines = encoders.halfcell_lines(encoders.letterbox(item.image, canvas_px), cols, rows)
            else:
                item.lines = encoders.unicode_lines(encoders.letterbox(item.image, canvas_px), cols, rows)
            item.grid = grid

    def _encode_kitty(self, item: _Prepared, canvas_px, grid) -> None:
        scale = min(1.0, self.max_px / max(canvas_px)) if self.max_px else 1.0
        size = (max(1, round(canvas_px[0] * scale)), max(1, round(canvas_px[1] * scale)))
        canvas = encoders.letterbox(item.image, size)
        pt = self.graphics.passthrough
        opts = dict(passthrough=pt, fmt=self.kitty_format, colors=self.palette)
        if not self.frames:
            item.image_id = self._new_id()
            self._write(encoders.kitty_upload(item.image_id, canvas, **opts)
                        + encoders.kitty_place(item.image_id, *grid, passthrough=pt))
            return
        with self._lock:
            if self._root_id and self._root_grid == grid and self._frames_made < KITTY_MAX_FRAMES:
                self._frames_made += 1                 # a new frame of the current image
                item.image_id, item.frame = self._root_id, self._frames_made
                seq = encoders.kitty_upload(self._root_id, canvas, new_frame=True, **opts)
            else:                                      # a new image: first use, new size, full
                seq = self._retire_root(grid, pt)
                self._root_id, self._root_grid, self._frames_made = self._new_id(), grid, 1
                item.image_id, item.frame = self._root_id, 1
                seq += (encoders.kitty_upload(self._root_id, canvas, **opts)
                        + encoders.kitty_place(self._root_id, *grid, passthrough=pt)
                        + encoders.kitty_frame(self._root_id, 1, passthrough=pt, stop=True))
            self._write(seq)   # under the lock: frame numbers reach the terminal in the order given

    def _retire_root(self, grid, pt) -> str:
        """Frames are never rewritten (kitty 0.41 went on showing a rewritten frame's old
        picture: another item's, on screen). A full image is kept while an item prepared in
        it may still be shown (the app discards the items it no longer wants), so a key
        never waits for an upload; at another size none is usable. Returns the commands."""
        if self._root_id:
            self._old_roots.append(self._root_id)
        same = self._root_grid == grid
        live = {item.image_id for item in self._items.values()} if same else set()
        seq = "".join(self._delete_root(r, pt) for r in self._old_roots if r not in live)
        self._old_roots = [r for r in self._old_roots if r in live]
        return seq

    def _delete_root(self, root: int, pt) -> str:
        current = self._items.get(self._current) if self._current else None
        for other in self._items.values():
            if other.image_id == root and other is not current:
                other.image_id, other.frame, other.grid = 0, 0, (0, 0)
        return encoders.kitty_delete(root, passthrough=pt)

    def _new_id(self) -> int:
        truecolor = self._truecolor()
        if truecolor:
            return next(self._ids) & 0xFFFFFF or 1
        # an 8-bit colour that survives Textual's RGB conversion and a 256-colour terminal unchanged
        return encoders.EIGHT_BIT_IDS[next(self._ids) % len(encoders.EIGHT_BIT_IDS)]

    def _truecolor(self) -> bool:
        try:
            return (self.app.console.color_system or "truecolor") == "truecolor"
        except Exception:  # noqa: BLE001 - no app yet: assume the common case
            return True

    def _release(self, item: _Prepared) -> None:
        if self.graphics.protocol != "kitty" or not item.image_id:
            return
        if self.frames:
            pass                       # frames are never reused; an image goes as a whole
        else:
            self._write(encoders.kitty_delete(item.image_id, passthrough=self.graphics.passthrough))
        item.image_id, item.frame, item.grid = 0, 0, (0, 0)

    def on_unmount(self) -> None:
        """Leave nothing behind in the terminal's memory (kitty keeps images until told)."""
        self._forget_all(repaint=False)

    def _forget_all(self, repaint: bool = True) -> None:
        with self._lock:
            items, self._items = list(self._items.values()), {}
            self._current = None
        for item in items:
            self._release(item)
        for root in self._old_roots + ([self._root_id] if self._root_id else []):
            self._write(encoders.kitty_delete(root, passthrough=self.graphics.passthrough))
        self._root_id, self._old_roots = 0, []
        if repaint:
            self.refresh()

    def _write(self, data: str) -> None:
        """Straight to the terminal, outside the frame, through the driver's writer (thread-safe queue)."""
        if not data:
            return
        self.writes += len(data.encode("utf-8"))
        try:
            driver = self.app._driver
        except Exception:  # noqa: BLE001 - not mounted: nothing to write to
            return
        if driver is not None:
            driver.write(data)

    # ---- rendering ---------------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        cols, rows = self._grid()
        with self._lock:
            item = self._items.get(self._current) if self._current else None
        proto = self.graphics.protocol
        self.painted = self._current if item is not None and item.grid == (cols, rows) else None
        if item is None or item.grid != (cols, rows):
            blank = Strip([Segment(" " * cols, self.rich_style)], cols)
            return [blank.crop(crop.x, crop.right)] * crop.height
        if proto == "sixel":
            return self._sixel_lines(item, crop)
        if proto == "kitty":
            image_id = item.image_id
            lines = encoders.placeholder_lines(image_id, cols, rows, self._truecolor())
            self._shown_grid = (cols, rows)
            self._shown_image = image_id
        else:
            lines = item.lines
        out = []
        for y in range(crop.y, crop.bottom):
            segs = lines[y] if y < len(lines) else [Segment(" " * cols)]
            out.append(Strip(segs, cols).crop(crop.x, crop.right))
        return out

    def _sixel_lines(self, item: _Prepared, crop: Region) -> list[Strip]:
        """Blank lines, then the sixel written over them at the end of the last one. Blank, not
        empty: cells the sixel does not cover (its height is a multiple of 6 px) would otherwise keep
        whatever was drawn there before, such as a footer from before a layout change."""
        blank = Segment(" " * crop.width, self.rich_style)
        try:
            if not self.screen.is_active:
                return [Strip([blank], crop.width)] * crop.height
            region = self.screen.find_widget(self).visible_region
        except Exception:  # noqa: BLE001 - not on screen
            return [Strip([blank], crop.width)] * crop.height
        self.writes += len(item.sixel)
        # control segments: zero width for Textual's cropping, written as they are
        ctl = ((ControlType.CURSOR_FORWARD, 0),)
        # After the sixel the cursor goes back to where this line's text ended: a full
        # repaint (a dialog closed) writes the rows one after another, so a cursor left
        # below the pane put the next row on the footer and scrolled the screen.
        back = Control.move_to(region.x + crop.right, region.y + crop.bottom - 1)
        segs = [blank,
                Segment(Control.move_to(region.x, region.y).segment.text, _NULL),
                Segment(item.sixel, _NULL, ctl),
                Segment(back.segment.text, _NULL)]
        return [Strip([blank], crop.width)] * (crop.height - 1) + [Strip(segs, crop.width)]
