"""tui.image.replyfilter on its own: every reply removed at any split, every key kept."""

from __future__ import annotations

import pytest

from tui.image.replyfilter import STRING_HOLD_S, ReplyFilter

REPLIES = [
    "\x1bP>|tmux 3.3a\x1b\\",             # XTVERSION via tmux (DCS)
    "\x1bP>|kitty(0.41.1)\x1b\\",
    "\x1b[?62;4;9;22c",                    # DA1 (xterm.js)
    "\x1b[?1;2c",
    "\x1b[>41;380;0c",                     # DA2
    "\x1b[6;18;9t",                        # cell size
    "\x1b[4;720;1280t",                    # window size in pixels
    "\x1b_Gi=4242;OK\x1b\\",               # kitty graphics (APC)
    "\x1b_Gi=31;ENOENT:no such image\x1b\\",
    "\x1b]11;rgb:0000/0000/0000\x1b\\",    # OSC colour, ST
    "\x1b]10;rgb:ffff/ffff/ffff\x07",      # OSC colour, BEL
    "\x1bP1$r0;1m\x1b\\",                  # DECRQSS
    "\x1b[0n",                             # device status
    "\x1b[?1u",                            # kitty keyboard flags
]
KEYS = ["d", "a", " ", "s", "\x7f", "\x1b[D", "\x1b[C", "\x1b[1;5D", "?", "q", "\x1b[100u",
        "\x1b[<0;10;5M", "\x1b[200~pasted\x1b[201~"]
# Textual's own replies, which it parses itself: they must reach it unchanged.
TEXTUAL_OWN = ["\x1b[?2026;2$y", "\x1b[?2048;1$y", "\x1b[12;40R"]


def run(parts: list[str], gap: float = 0.0) -> str:
    f, out, t = ReplyFilter(), [], 0.0
    for p in parts:
        out.append(f.feed(p, t))
        t += gap
        out.append(f.tick(t))
    out.append(f.tick(t + 10))
    return "".join(out)


@pytest.mark.parametrize("reply", REPLIES)
def test_each_reply_is_dropped_at_every_split(reply):
    text = "d" + reply + "a"
    for cut in range(len(text) + 1):
        assert run([text[:cut], text[cut:]]) == "da", (reply, cut)


@pytest.mark.parametrize("key", KEYS + TEXTUAL_OWN)
def test_keys_and_textuals_own_replies_pass_unchanged(key):
    assert run([key]) == key
    assert run(["x" + key + "y"]) == "x" + key + "y"


def test_replies_among_keys_leave_exactly_the_keys():
    text = "".join(k + r for k, r in zip(KEYS, REPLIES))
    assert run([text]) == "".join(KEYS[:len(REPLIES)])
    assert run(list(text)) == "".join(KEYS[:len(REPLIES)])   # one character a read


def test_a_lone_escape_is_released_soon_and_a_cut_reply_is_never_released():
    f = ReplyFilter()
    assert f.feed("\x1b", 0.0) == "" and f.holding
    assert f.tick(0.01) == ""
    assert f.tick(0.5) == "\x1b"                      # the Escape key, a moment later
    assert f.feed("\x1bP>|tmux 3.3a", 1.0) == ""      # a reply whose end never comes
    assert f.tick(1.0 + STRING_HOLD_S / 2) == ""
    assert f.tick(1.0 + STRING_HOLD_S + 0.01) == ""   # dropped, not turned into keys
    assert not f.holding and f.feed("d", 3.0) == "d"


def test_a_cut_da1_is_dropped_and_the_rest_of_it_never_becomes_keys():
    f = ReplyFilter()
    assert f.feed("\x1b[?62;4", 0.0) == ""
    assert f.feed(";22c" + "d", 0.5) == "d"


def test_a_runaway_string_is_dropped_not_kept_forever():
    f = ReplyFilter()
    f.feed("\x1b]" + "x" * 10000, 0.0)
    assert not f.holding and f.feed("d", 0.1) == "d"
