"""The history (H in the app): the latest answers, newest first; Enter shows one.

A modal screen, so no labelling key reaches the app while the list is open. The
rows come from the sampler's answers in memory (this session's, teammates' as
last read, and any still queued behind a locked file), not from a SQLite read
on the UI thread. An answer given again later is shown with what the item is
now. Enter closes the list and hands the chosen item to the app, which shows it
in the main pane for D or A (tui.app.review); Escape, H or Q closes it.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.app.literal import literal_text
from tui.app.review import when

ROWS = 200


class HistoryScreen(ModalScreen[str | None]):
    """Recent answers: when, answer, who, item; dismissed with the chosen item's key."""

    DEFAULT_CSS = """
    HistoryScreen { align: center middle; }
    #history-box { width: 110; max-width: 96%; height: 90%; border: round $primary;
                   background: $surface; padding: 0 1; }
    #history-title { text-style: bold; height: auto; }
    #history-table { height: 1fr; }
    #history-close { color: $text-muted; height: auto; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("h", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, sampler, rows: int = ROWS) -> None:
        super().__init__()
        self.sampler = sampler
        self.answers = sampler.recent(rows)
        self.row_keys: dict[str, str] = {}    # table row -> item key

    def compose(self) -> ComposeResult:
        n = len(self.answers)
        title = (f"History: the latest {n} answer{'s' if n != 1 else ''}, newest first"
                 if n else "History: no answers yet")
        with Vertical(id="history-box"):
            yield Static(title, id="history-title")
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
            yield Static("↑ ↓ choose · Enter shows the item, then D or A changes its answer · "
                         "Escape closes", id="history-close")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("when", "answer", "by", "item")
        now = self.sampler.current_answers()
        for i, a in enumerate(self.answers):
            answer = Text(a.answer, "bold green" if a.answer == "pos" else
                          "bold red" if a.answer == "neg" else "")
            cur = now.get(a.key)
            if cur is not a:
                answer = Text(f"{a.answer} (now {cur.answer if cur else 'none'})", "dim")
            row = str(i)
            self.row_keys[row] = a.key
            table.add_row(when(a.time), answer, literal_text(a.annotator), self._item(a.key),
                          key=row)
        table.focus()

    def _item(self, key: str) -> Text:
        """Its path (from the features file's folder when inside it) and its box."""
        f = self.sampler.features
        i = f.get_index(key)
        if i is None:
            return literal_text(f"{key} (not in this features file)", "dim")
        box, path = f.box(i), Path(f.path(i))
        if path.is_relative_to(f.filename.parent):
            path = path.relative_to(f.filename.parent)
        text = literal_text(path)
        if box is not None:
            text.append(" [" + " ".join(f"{v:g}" for v in box) + "]", "dim")
        return text

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        self.dismiss(self.row_keys.get(event.row_key.value))

    def action_close(self) -> None:
        self.dismiss(None)
