"""The side panel: the item on screen and how the work is going.

Everything read from files (the path, the metadata) goes through `literal_text`,
so markup or escape sequences in a file name are shown, never obeyed. The
model's probability for the item is hidden unless asked for (it anchors people).

Drawn line by line: after a key most of its 40 lines (blank ones, strategy,
model) are unchanged, so only the lines that differ are marked dirty. The
frame after a key then composes and writes a quarter of the panel (measured in
bench/tui_latency.py: the panel was half of the frame's compositing time).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

from tui.app.item_info import ItemInfo
from tui.app.literal import literal, literal_text
from tui.app.meta_columns import MetaColumns
from tui.app.queries import mixed_in_text

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values, width: int = 24) -> str:
    """Recent agreement (1 agreed, 0 not) as block characters, oldest first."""
    vals = [float(v) for v in (values or []) if v is not None]
    if not vals:
        return ""
    if len(vals) > width:  # bucket means, so the line keeps its width
        edges = [round(i * len(vals) / width) for i in range(width + 1)]
        vals = [sum(vals[a:b]) / (b - a) for a, b in zip(edges, edges[1:]) if b > a]
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[max(0, min(top, round(v * top)))] for v in vals)


def inputs_text(names: dict) -> str:
    """The model's inputs when side inputs are on: "inputs: image + score (prior) + claim
    (per label)", so the person sees what the picks and probabilities rest on."""
    parts = ["image"]
    if names.get("prior"):
        parts.append(f"{names['prior']} (prior)")
    if names.get("condition"):
        parts.append(f"{names['condition']} (per label)")
    return "inputs: " + " + ".join(parts)


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "–"
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return literal(value)


def agreement_text(w100: dict, w500: dict) -> Text:
    """How often the model's guess matched the person's answer, in words: each answer
    is compared with the guess made before it was given (tui/learn/quality.py)."""
    t = Text()
    acc100, acc500 = w100.get("accuracy"), w500.get("accuracy")
    t.append("model agreed with your\n", "dim")
    if acc100 is None:
        t.append("answers: – (no guesses yet)\n")
        return t
    t.append(f"last {w100.get('n') or 100} answers: {acc100:.0%}")
    if acc500 is not None and (w500.get("n") or 0) > (w100.get("n") or 0):
        t.append(f", last {w500.get('n')}: {acc500:.0%}")
    t.append("\n")
    if w100.get("ap") is not None:
        t.append("its ranking of them: AP ", "dim")
        t.append(_fmt(w100.get("ap"), ".2f") + "\n")
    return t


class SidePanel(Widget):
    """Item, counts, strategy, model and live quality; reactive, only changed lines redrawn."""

    # repaint=False: a change marks only the lines that differ dirty (`_update_lines`)
    info: reactive[ItemInfo | None] = reactive(None, always_update=True, repaint=False)
    stats: reactive[dict] = reactive(dict, always_update=True, repaint=False)
    show_proba: reactive[bool] = reactive(False, repaint=False)
    proba: reactive[float | None] = reactive(None, repaint=False)
    view: reactive[str] = reactive("crop", repaint=False)
    status: reactive[str] = reactive("", repaint=False)   # a warning or an error (yellow)
    note: reactive[str] = reactive("", repaint=False)     # news, not a warning ("more like this")
    pace: reactive[str] = reactive("", repaint=False)     # answers a minute and the ETA
    # The key of the item in the latest frame drawn: the app answers only painted items.
    painted_key: str | None = None

    def __init__(self, *args, question: str | None = None,
                 meta_columns: MetaColumns | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.question = question
        self.meta_columns = meta_columns or MetaColumns()
        self._strips: list[Strip] | None = None   # the lines drawn, None: redraw them all
        self._strips_size = Size(0, 0)
        self._strips_key: str | None = None       # the item those lines show
        self._painted_strips: list[Strip] | None = None
        self._pending = False

    @property
    def drawn_key(self) -> str | None:
        """The item of the lines built: painted in the next frame if not yet."""
        return self._strips_key

    def on_mount(self) -> None:
        # Any change: one update after the handler that made it (a key sets several at once).
        for name in ("info", "stats", "show_proba", "proba", "view", "status", "note", "pace"):
            self.watch(self, name, self._schedule, init=False)

    def _schedule(self) -> None:
        # The app's queue, not ours: the app runs it right after the handler that set the
        # values (a key's), before the screen composes the frame that shows the new item.
        if not self._pending and self.is_mounted:
            self._pending = True
            self.app.call_next(self._update_lines)

    def _build(self) -> list[Strip]:
        width, height = self.size
        visual = visualize(self, self.render(), markup=False)
        strips = Visual.to_strips(self, visual, width, height, self.visual_style)
        self._strips_size = self.size
        self._strips_key = self.info.key if self.info is not None else None
        return strips

    def _stale(self) -> bool:
        """No lines yet, or lines built for another size: all must be drawn anew."""
        return self._strips is None or self._strips_size != self.size

    def _update_lines(self) -> None:
        """Rebuild the lines; mark dirty only those that changed."""
        self._pending = False
        if self._stale():
            self.refresh()                        # everything is redrawn anyway
            return
        old, new = self._strips, self._build()
        self._strips = new
        width = self.size.width
        changed = [y for y, line in enumerate(new) if y >= len(old) or line != old[y]]
        # Fewer lines than before (a status line gone): the rows below the new last line
        # still show the old lines until they are repainted blank.
        changed += range(len(new), len(old))
        for y in changed:
            super().refresh(Region(0, y, width, 1))
        if not changed and old is self._painted_strips:  # the screen already shows these lines
            self._painted_strips, self.painted_key = new, self._strips_key

    def refresh(self, *regions, **kwargs):
        if not regions:                           # a full repaint (resize, theme, explicit)
            self._strips = None
        return super().refresh(*regions, **kwargs)

    def render_line(self, y: int) -> Strip:
        if self._stale():
            self._strips = self._build()
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def render_lines(self, crop: Region) -> list[Strip]:
        lines = super().render_lines(crop)
        self.painted_key = self._strips_key       # this frame shows these lines' item
        self._painted_strips = self._strips
        return lines

    def render(self) -> Text:
        """The whole panel as one text (what `render_line` draws, line by line)."""
        t = Text(no_wrap=False, overflow="fold")
        info, s = self.info, self.stats or {}
        if self.question:
            t.append_text(literal_text(self.question, "bold"))
            t.append("\n")
        if info is not None:
            t.append("row ", "dim")
            t.append(f"{info.index + 1} of {info.n}")
            t.append(" in the file\n", "dim")
            t.append_text(literal_text(info.path, "cyan"))
            t.append("\n")
            t.append("box ", "dim")
            t.append(info.box_text())
            if info.box is not None:
                t.append(f" ({self.view})", "dim")
            t.append("\n")
            for k, v in self.meta_columns.select(info.meta):
                t.append_text(literal_text(k, "dim"))
                t.append(" ")
                t.append_text(literal_text(v))
                t.append("\n")
        if self.status:
            t.append_text(literal_text(self.status, "yellow"))
            t.append("\n")
        if self.note:
            t.append_text(literal_text(self.note, "italic"))
            t.append("\n")
        t.append("\n")
        t.append("pos ", "bold green")
        t.append(_fmt(s.get("pos")))
        t.append("  neg ", "bold red")
        t.append(_fmt(s.get("neg")))
        t.append("\nskip ", "bold")
        t.append(_fmt(s.get("skip")))
        t.append("  left ", "bold")
        t.append(_fmt(s.get("left")))
        t.append("\n")
        n = self.info.n if self.info is not None else None
        if n and s.get("featurized") is not None and s["featurized"] < n:
            t.append("featurized ", "dim")
            t.append(f"{s['featurized']} of {n} so far\n")
        answered = sum(int(s.get(k) or 0) for k in ("pos", "neg", "skip"))
        t.append("answered ", "dim")
        t.append(str(answered))
        t.append("\n")
        if self.pace:
            t.append("pace ", "dim")
            t.append_text(literal_text(self.pace))
            t.append("\n")
        t.append("strategy ", "dim")
        t.append_text(literal_text(f"{_fmt(s.get('strategy'))} ({_fmt(s.get('target'))})"))
        t.append("\n")
        if s.get("mixed_in"):  # examples or words to start from (tui/app/queries.py)
            t.append_text(literal_text(mixed_in_text(s["mixed_in"]), "dim"))
            t.append("\n")
        version, training = s.get("model_version"), s.get("training")
        t.append("model ", "dim")
        t.append("none yet" if version is None else f"v{_fmt(version)}")
        if training:
            t.append(" training…", "yellow")
        t.append("\n")
        if s.get("side_inputs"):  # --prior, --condition: what the model takes besides the image
            t.append_text(literal_text(inputs_text(s["side_inputs"]), "dim"))
            t.append("\n")
        if s.get("unsaved"):
            n = s["unsaved"]
            t.append_text(literal_text(
                f"{n} answer{'s' if n != 1 else ''} not saved yet "
                f"({s.get('unsaved_why') or 'writing'}); retrying in the background, "
                f"in order", "bold yellow"))
            t.append("\n")
        if s.get("features_notice"):
            t.append_text(literal_text(s["features_notice"], "yellow"))
            t.append("\n")
        if s.get("error"):
            t.append_text(literal_text(f"training failed: {s['error']}", "red"))
            t.append("\n")
        t.append_text(agreement_text(s.get("last100") or {}, s.get("last500") or {}))
        line = sparkline(s.get("agreement_recent"), width=max(4, self.size.width - 2))
        if line:
            t.append(line + "\n", "green")
        t.append("positives left ≈ ", "dim")
        t.append(_fmt(s.get("positives_left"), ".0f") + "\n")
        if s.get("stop_hint"):
            t.append_text(literal_text(s.get("stop_text") or "you may stop", "bold green"))
            t.append("\n")
        if self.show_proba:
            t.append("p(target) ", "dim")
            t.append(_fmt(self.proba, ".3f"), "bold")
            t.append("\n")
        return t
