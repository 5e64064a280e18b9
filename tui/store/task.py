"""The task's question, kept in the labels file so that everyone answers the same one.

Without it nothing on screen said what D and A mean. Teammates and later sessions
open the same labels file, so the question lives there (the `meta` table), not in
each person's command line; a different `--question` on a file that has one is
refused unless `--set-question` says the change is meant, because answers given to
the old question would silently count as answers to the new one.
"""

from __future__ import annotations

from tui.store.labels_schema import LabelsError

QUESTION = "question"
MAX_CHARS = 300


def clean_question(text: str) -> str:
    """One line, no control characters, not empty, not a paragraph."""
    words = " ".join(str(text).split())
    if not words:
        raise ValueError("--question: give the question the answers answer, e.g. "
                         "--question 'Is this cell defective?'")
    if any(ord(c) < 32 or ord(c) == 127 for c in words):
        raise ValueError(f"--question: {words!r} holds control characters")
    if len(words) > MAX_CHARS:
        raise ValueError(f"--question: {len(words)} characters; keep it under {MAX_CHARS}")
    return words


def settle_question(store, asked: str | None, replace: bool = False) -> str | None:
    """The question of this labels file after this start: the stored one, or `asked`
    stored when the file has none (or `replace` says to change it)."""
    stored = store.setting(QUESTION)
    if asked is None:
        if replace:
            raise LabelsError("--set-question needs --question TEXT: the new question")
        return stored
    asked = clean_question(asked)
    if stored is None or stored == asked:
        if stored is None:
            store.set_setting(QUESTION, asked)
        return asked
    if not replace:
        raise LabelsError(
            f"{store.path}: its answers answer {stored!r}, not {asked!r}. Leave out --question "
            f"to keep that one, or add --set-question to change it for everyone who opens this "
            f"labels file (the answers given so far stay, as answers to the old question).")
    store.set_setting(QUESTION, asked)
    return asked
