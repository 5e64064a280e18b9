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

from tui.app.keys import KEYS



class HelpScreen(ModalScreen[None]):
    """Keys and their meaning; any of Escape, ? or Q closes it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, question: str | None = None) -> None:
        super().__init__()
        self.question = question  # D answers it with yes, A with no

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 1), expand=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key in KEYS:
            table.add_row(key.shown, key.help)
        with VerticalScroll(id="help-box"):
            yield Static(self.question or "binlabel: answer with one key; the model learns "
                         "as you go", id="help-title", markup=False)
            yield Static(table, id="help-keys")
            yield Static("Escape, ? or Q closes this help.", id="help-close")

    def action_close(self) -> None:
        self.dismiss(None)
