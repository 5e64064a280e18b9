"""The side panel: the item on screen and how the work is going.

Everything read from files (the path, the metadata) goes through `literal_text`,
so markup or escape sequences in a file name are shown, never obeyed. The
model's probability for the item is hidden unless asked for (it anchors people).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.item_info import ItemInfo
from tui.literal import literal, literal_text

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


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "–"
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return literal(value)


class SidePanel(Widget):
    """Item, counts, strategy, model and live quality; reactive, redrawn on change."""

    info: reactive[ItemInfo | None] = reactive(None, always_update=True)
    stats: reactive[dict] = reactive(dict, always_update=True)
    show_proba: reactive[bool] = reactive(False)
    proba: reactive[float | None] = reactive(None)
    view: reactive[str] = reactive("crop")
    status: reactive[str] = reactive("")
    # The key of the item in the latest frame drawn: the app answers only painted items.
    painted_key: str | None = None

    def render(self) -> Text:
        t = Text(no_wrap=False, overflow="fold")
        info, s = self.info, self.stats or {}
        self.painted_key = info.key if info is not None else None
        if info is not None:
            t.append("item ", "bold")
            t.append(f"{info.index + 1} of {info.n}\n")
            t.append_text(literal_text(info.path, "cyan"))
            t.append("\n")
            t.append("box ", "dim")
            t.append(info.box_text())
            if info.box is not None:
                t.append(f" ({self.view})", "dim")
            t.append("\n")
            for k, v in list(info.meta.items())[:6]:
                t.append_text(literal_text(k, "dim"))
                t.append(" ")
                t.append_text(literal_text(v))
                t.append("\n")
        if self.status:
            t.append_text(literal_text(self.status, "yellow"))
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
        t.append("strategy ", "dim")
        t.append_text(literal_text(f"{_fmt(s.get('strategy'))} ({_fmt(s.get('target'))})"))
        t.append("\n")
        version, training = s.get("model_version"), s.get("training")
        t.append("model ", "dim")
        t.append("none yet" if version is None else f"v{_fmt(version)}")
        if training:
            t.append(" training…", "yellow")
        t.append("\n")
        if s.get("error"):
            t.append_text(literal_text(f"training failed: {s['error']}", "red"))
            t.append("\n")
        w100, w500 = s.get("last100") or {}, s.get("last500") or {}
        t.append("last 100/500 answers\n", "dim")
        t.append("acc ", "dim")
        t.append(f"{_fmt(w100.get('accuracy'), '.2f')}/{_fmt(w500.get('accuracy'), '.2f')}")
        t.append("  AP ", "dim")
        t.append(f"{_fmt(w100.get('ap'), '.2f')}/{_fmt(w500.get('ap'), '.2f')}\n")
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
