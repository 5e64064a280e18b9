"""Words to start from (`/`), and how the app names what is mixed into the queue.

`/` opens a small modal screen with one Input: Enter runs the words, Escape cancels.
The words are embedded by the text tower of the features file's model (an encoder the
cli injects: featurize.query.Words, which knows at once whether the model has one),
loaded on the first query in a worker thread ("loading the text model…" meanwhile, a
few seconds and about 1.1 GB for SigLIP2 B/16's), then the sampler puts the items most
like them next, mixed one for one with the strategy's picks (tui/learn/seeding.py), as
N does for the item on screen. A model without a text tower (DINOv2, EfficientNet)
says so on screen instead of opening the box.

Why a module of its own: the modal, the worker and the messages are one feature; the
app only binds the key and hands itself over.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.learn.seeding import Query


class WordsScreen(ModalScreen[str | None]):
    """One line of words; Enter runs them, Escape cancels."""

    DEFAULT_CSS = """
    WordsScreen { align: center middle; }
    #words-box { width: 70; max-width: 95%; height: auto; border: round $primary;
                 background: $surface; padding: 0 1; }
    #words-title { text-style: bold; }
    #words-box Input { width: 100%; }
    #words-help { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="words-box"):
            yield Static("Words to start from: the items most like them come next",
                         id="words-title", markup=False)
            yield Input(placeholder="e.g. a cracked solar cell", id="words-input")
            yield Static("Enter runs them, Escape cancels.", id="words-help", markup=False)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def ask_words(app) -> None:
    """The `/` key: the box, or why there is none."""
    words = app.words
    why = "no text model was given to this session" if words is None else words.why_not
    if why:
        app.side.note = f"/ (words) is not available: {why}"
        return
    app.push_screen(WordsScreen(), callback=lambda text: run_words(app, text) if text else None)


def run_words(app, text: str) -> None:
    app.side.note = f"words {text!r}: " + ("embedding…" if app.words.loaded
                                           else "loading the text model…")
    app.run_worker(lambda: _embed(app, text), thread=True, group="words", exit_on_error=False)


def _embed(app, text: str) -> None:
    """In a worker thread: the text tower (loaded on first use), then back to the UI."""
    try:
        vector = app.words.encode(text)
    except Exception as exc:  # no hub, weights changed: say so, keep working
        app.call_from_thread(_failed, app, text, exc)
        return
    app.call_from_thread(_embedded, app, text, vector)


def _embedded(app, text: str, vector) -> None:
    try:
        app.sampler.start_from(Query(f"the words {text!r}", vectors=vector, tag="words"))
    except ValueError as exc:  # a text tower of another dimension than the rows
        _failed(app, text, exc)
        return
    app.side.note = (f"words {text!r}: the most similar items come next, mixed with "
                     f"{app.sampler.strategy}'s picks")


def _failed(app, text: str, exc: Exception) -> None:
    app.side.note = ""
    app.side.status = f"words {text!r}: {exc}"


def more_like_note(strategy: str) -> str:
    """What N says."""
    return f"more like this: its nearest neighbours come next, mixed with {strategy}'s picks"


def mixed_in_text(mix: dict) -> str:
    """The panel's line while a query's picks are mixed in (Sampler.stats()['mixed_in'])."""
    first = mix.get("first") or 0
    head = f"{first} seed item{'s' * (first != 1)} first, then " if first else ""
    kind = "items like" if mix.get("tag") == "words" else "neighbours of"
    return f"mixed in: {head}{mix.get('left')} {kind} {mix.get('what')}"
