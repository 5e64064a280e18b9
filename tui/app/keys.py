"""The one table of keys: the app's bindings, the help screen, `annotate --help` and
the README's key table are all made from it (tests/test_keys.py checks the last two).

Before it, the keys were written out in three places that disagreed (`--help` left
out E). No Textual here: `annotate --help` must not import the app to list them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    keys: str        # Textual key names, comma-separated
    action: str      # the app's action
    shown: str       # how people write the key(s): "A ←"
    footer: str      # the footer's word ("" keeps it out: the footer must fit 100 columns)
    short: str       # a few words, for `annotate --help`
    help: str        # a line, for the help screen and the README
    footer_asked: str = ""  # the footer's word when a question is set (D → yes, A → no)
    footer_key: str = ""    # the footer's form of the key, if not the first word of `shown`


KEYS: tuple[Key, ...] = (
    Key("a,left", "answer('neg')", "A ←", "Negative", "negative",
        "negative: no, the item is not what you look for", "No"),
    Key("d,right", "answer('pos')", "D →", "Positive", "positive",
        "positive: yes, the item is what you look for", "Yes"),
    Key("s,space", "answer('skip')", "S Space", "Skip", "skip",
        "skip: no answer, shown again later"),
    Key("backspace", "undo", "Backspace", "Undo", "undo",
        "undo this session's latest answer (many levels)", footer_key="⌫"),
    Key("h", "history", "H", "History", "history",
        "history: recent answers; Enter shows one, D/A change it"),
    Key("r", "review", "R", "Review", "review disagreements",
        "review: answers the model doubts; D/A confirm or change"),
    Key("escape", "leave_review", "Escape", "", "leave a review",
        "leave a review or history: the usual picks come back"),
    Key("p", "toggle_proba", "P", "", "probability",
        "show or hide the model's probability for this item"),
    Key("z", "toggle_view", "Z", "", "whole/crop",
        "whole image with the box, or the crop around the box"),
    Key("m", "next_strategy", "M", "", "strategy",
        "next strategy: entropy → maxprob → random"),
    Key("n", "more_like", "N", "", "more like this",
        "more like this: its neighbours, mixed into the next picks"),
    Key("slash", "words", "/", "", "words",
        "words: the items most like them, mixed into the next picks"),
    Key("e", "export", "E", "Export", "export",
        "export: labels, scores, COCO boxes, crops, the model"),
    Key("question_mark", "help", "?", "Help", "help", "this help"),
    Key("q,ctrl+c", "quit", "Q Ctrl-C", "Quit", "quit",
        "quit (every answer is already saved)"),
)


def key_display(key: Key) -> str:
    """The footer's short form of the keys: the first word and any arrow ("A ←", "?")."""
    if key.footer_key:
        return key.footer_key
    parts = key.shown.split()
    return " ".join(p for i, p in enumerate(parts) if i == 0 or p in "←→")


def epilog() -> str:
    """The keys for `annotate --help`: one clause each."""
    return "Keys: " + ", ".join(f"{k.shown.replace(' ', '/')} {k.short}" for k in KEYS) + "."


def markdown_table() -> str:
    """The README's key table, exactly (tests/test_keys.py compares it)."""
    rows = ["| Key | What it does |", "|---|---|"]
    rows += [f"| {' '.join(f'`{p}`' for p in k.shown.split())} | {k.help} |" for k in KEYS]
    return "\n".join(rows)
