"""The help screen: every key and what it does, over the annotation screen.

A modal screen, so that while it is open no labelling key reaches the app (the
app also refuses labelling actions while any screen is stacked over it).
"""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("A  ←", "negative: the item is not what you look for"),
    ("D  →", "positive: the item is what you look for"),
    ("S  Space", "skip: no answer, shown again later"),
    ("Backspace", "undo this session's latest answer (many levels)"),
    ("P", "show or hide the model's probability for this item"),
    ("Z", "whole image with the box, or the crop around the box"),
    ("M", "next strategy: entropy → maxprob → random"),
    ("N", "more like this: nearest neighbours of this item next"),
    ("E", "export: labels, scores, COCO boxes, crops, the model"),
    ("H", "history: the latest answers; Enter shows one, D or A changes it"),
    ("R", "review the answers a model trained without them disagrees with"),
    ("?", "this help"),
    ("Q", "quit (every answer is already saved)"),
]


class HelpScreen(ModalScreen[None]):
    """Keys and their meaning; any of Escape, ? or Q closes it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 1), expand=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with VerticalScroll(id="help-box"):
            yield Static("binlabel: answer with one key; the model learns as you go",
                         id="help-title")
            yield Static(table, id="help-keys")
            yield Static("Escape, ? or Q closes this help.", id="help-close")

    def action_close(self) -> None:
        self.dismiss(None)
