"""Text from files (paths, metadata) made safe to show: never markup, never escapes.

A file name may hold Rich markup (``[red]``) or terminal control sequences
(``\\x1b]0;...``). Shown through `Text` objects it is never parsed as markup; the
control characters are replaced here by visible escapes so that none reaches
the terminal and the person sees exactly which bytes the name holds.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def literal(value: object) -> str:
    """`value` as a string with every control or format character shown as an escape.

    Covers C0, DEL, C1 (which includes the 8-bit CSI, 0x9b) and the Unicode format
    characters (bidirectional overrides, zero-width joiners) that could disguise a name.
    """
    s = str(value)
    out = []
    for ch in s:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Zl", "Zp"):
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


def literal_text(value: object, style: str = "") -> Text:
    """A Rich `Text` of `literal(value)`: never parsed as markup."""
    return Text(literal(value), style=style, no_wrap=False)
