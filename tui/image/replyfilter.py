"""Recognise terminal replies in the input and drop them, however late they come.

Why: a terminal answers queries (DA1, XTVERSION, the cell size, kitty graphics,
colours) on the same stream as the keys. One that answers after our query window
(a slow SSH link) would have its reply read as keys: `ESC P >|tmux 3.3a ESC \\`
recorded `skip` for its space and `neg` for its `a`. Every reply has a shape no
key has, so this filter removes whole replies from the text before Textual's key
parser sees it, holding a partial one until the rest arrives (a reply split in
transit). A string reply (DCS, OSC, APC, PM, SOS) that never ends is dropped
after `STRING_HOLD_S`, never released as keys: losing a keypress is safe,
inventing one is not. Sequences Textual asks for and parses itself (mode reports
`CSI ? n $ y`, cursor positions) and every key sequence pass through.
"""

from __future__ import annotations

import re

ESC = "\x1b"
# A string sequence: DCS (P), OSC (]), APC (_), PM (^), SOS (X), ended by ST (ESC \) or,
# for OSC, BEL. The 8-bit introducers and ST are accepted too.
_STRING_START = {"P", "]", "_", "^", "X"}
_STRING_8BIT = {"\x90", "\x9d", "\x9f", "\x9e", "\x98"}
_CSI = re.compile(r"\x1b\[([0-?]*)([ -/]*)([@-~])")
_CSI_PREFIX = re.compile(r"\x1b\[[0-?]*[ -/]*\Z")
# CSI prefixes that only replies start with: DA1/DA2 (? or > then digits), the size reports
# (4; 6; 8; then digits). Held as long as a string reply when cut short.
_REPLY_PREFIX = re.compile(r"\x1b\[(?:[?>][\d;]*|[468];[\d;]*)\Z")
STRING_HOLD_S = 1.0   # a split reply's parts arrive within this of each other
KEY_HOLD_S = 0.03     # a lone ESC or a partial key sequence: released to the parser after this
MAX_HELD = 8192


def is_reply_csi(params: str, intermediates: str, final: str) -> bool:
    """True for the CSI sequences that are answers to queries, never keys."""
    if intermediates:
        return False                        # e.g. DECRPM `? 2026 $ y`: Textual's own query
    if final == "c" and params[:1] in ("?", ">"):
        return True                         # DA1, DA2
    if final == "t" and re.fullmatch(r"[468];\d+;\d+", params):
        return True                         # window / cell size in pixels, size in cells
    if final == "n" and params in ("0", "3"):
        return True                         # device status report
    if final == "u" and params[:1] == "?":
        return True                         # kitty keyboard flags reply
    return False


class ReplyFilter:
    """Feed the input text as it is read; get back the text with every reply removed."""

    def __init__(self) -> None:
        self._held = ""
        self._deadline = 0.0
        self.dropped = 0          # replies removed, for tests and the debug log

    @property
    def holding(self) -> bool:
        return bool(self._held)

    @property
    def deadline(self) -> float:
        """When the held text is released (keys) or dropped (a reply cut short)."""
        return self._deadline

    def feed(self, data: str, now: float) -> str:
        """Filter `data` (read at monotonic time `now`); a partial sequence at the end is
        held back until the next feed, or until `tick()` after its deadline."""
        s, self._held = self._held + data, ""
        out = []
        i, n = 0, len(s)
        while i < n:
            j = _next_start(s, i)
            if j < 0:
                out.append(s[i:])
                break
            out.append(s[i:j])
            kind, end = self._classify(s, j)
            if kind == "partial":
                self._held = s[j:]
                self._deadline = now + (STRING_HOLD_S if end else KEY_HOLD_S)
                if len(self._held) > MAX_HELD:  # no reply is this long: a runaway, drop it
                    self._held, self.dropped = "", self.dropped + 1
                break
            if kind == "drop":
                self.dropped += 1
            else:
                out.append(s[j:end])
            i = end
        return "".join(out)

    def tick(self, now: float) -> str:
        """After the deadline: release a held key sequence, drop a held reply."""
        if not self._held or now < self._deadline:
            return ""
        held, self._held = self._held, ""
        if _is_string_start(held) or _REPLY_PREFIX.match(held):
            self.dropped += 1
            return ""
        return held

    @staticmethod
    def _classify(s: str, j: int) -> tuple[str, int]:
        """('drop' | 'pass', end) for a whole sequence at j, or ('partial', is_reply_like)."""
        if s[j] in _STRING_8BIT or (s[j] == ESC and j + 1 < len(s) and s[j + 1] in _STRING_START):
            body = j + (1 if s[j] in _STRING_8BIT else 2)
            end = _string_end(s, body, osc=s[j] == "\x9d" or s[j + 1:j + 2] == "]")
            return ("drop", end) if end > 0 else ("partial", 1)
        if j + 1 >= len(s):
            return ("partial", 0)               # a lone ESC: a key, or the start of a reply
        if s[j + 1] == "[":
            m = _CSI.match(s, j)
            if m is None:
                tail = s[j:]
                if _CSI_PREFIX.match(tail):
                    return ("partial", 1 if _REPLY_PREFIX.match(tail) else 0)
                return ("pass", j + 2)          # not a CSI after all: let the parser decide
            if is_reply_csi(*m.groups()):
                return ("drop", m.end())
            return ("pass", m.end())
        return ("pass", j + 1)                  # ESC + a key (alt), SS3 keys: the parser's


def _next_start(s: str, i: int) -> int:
    """Index of the next ESC or 8-bit string introducer at or after i, or -1."""
    best = s.find(ESC, i)
    for c in _STRING_8BIT:
        k = s.find(c, i)
        if k >= 0 and (best < 0 or k < best):
            best = k
    return best


def _string_end(s: str, start: int, osc: bool) -> int:
    """End (exclusive) of a string sequence whose body starts at `start`, or -1 if unended."""
    for k in range(start, len(s)):
        c = s[k]
        if c == "\x9c" or (osc and c == "\x07"):
            return k + 1
        if c == ESC and k + 1 < len(s) and s[k + 1] == "\\":
            return k + 2
    return -1


def _is_string_start(s: str) -> bool:
    return bool(s) and (s[0] in _STRING_8BIT or (s[0] == ESC and s[1:2] in _STRING_START))
