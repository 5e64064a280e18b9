"""choose_graphics against fake terminals on a real pty, and inside a real tmux."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tui.image.graphics import Graphics, choose_graphics
from tui.image.termquery import parse_replies

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The child: choose, then report whether any byte is still waiting on its tty (a reply left behind
# would be read by the app as a keypress).
CHILD = textwrap.dedent("""
    import json, os, select, sys, time
    sys.path.insert(0, %r)
    from tui.image.graphics import choose_graphics
    t0 = time.monotonic()
    g = choose_graphics(%r)
    took = time.monotonic() - t0
    time.sleep(%r)
    left = b""
    while select.select([0], [], [], 0.2)[0]:
        chunk = os.read(0, 4096)
        if not chunk:
            break
        left += chunk
    sys.stdout.write("RESULT " + json.dumps(dict(g.__dict__, took=took, left=left.decode("latin-1"))) + "\\n")
    sys.stdout.flush()
""")

KITTY_OK = b"\x1b_Gi=4242;OK\x1b\\"
DA1_PLAIN = b"\x1b[?62;22c"
DA1_SIXEL = b"\x1b[?63;1;2;4;6;9;15;22c"


def run_fake_terminal(answer, *, delay=0.0, requested="auto", env=None, settle=0.0, timeout=20):
    """Run the child on a pty whose far end answers queries with ``answer(queries) -> bytes``."""
    pid, master = pty.fork()
    if pid == 0:  # child
        os.environ.update(env or {})
        os.environ.pop("TMUX", None)
        os.execv(sys.executable, [sys.executable, "-c", CHILD % (ROOT, requested, settle)])
    # 80x24 cells and no pixels, as node-pty (VS Code) reports
    import fcntl
    import struct
    import termios

    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    out, seen, answered = bytearray(), bytearray(), False
    deadline = time.monotonic() + timeout
    try:
        while b"RESULT" not in out or not out.endswith(b"\n"):
            assert time.monotonic() < deadline, f"child hung; output so far {bytes(out)!r}"
            if not select.select([master], [], [], 0.05)[0]:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            out += chunk
            seen += chunk
            if not answered and b"\x1b[c" in seen:
                answered = True
                reply = answer(bytes(seen))
                if reply:
                    threading.Timer(delay, os.write, (master, reply)).start()
    finally:
        os.waitpid(pid, 0)
        os.close(master)
    line = bytes(out).split(b"RESULT ", 1)[1].split(b"\n", 1)[0]
    return json.loads(line.decode()), bytes(seen)


def kitty_terminal(queries):
    assert b"\x1b_G" in queries and b"a=q" in queries
    return KITTY_OK + b"\x1b[6;20;10t" + b"\x1bP>|kitty(0.35.2)\x1b\\" + DA1_PLAIN


@pytest.mark.slow
def test_kitty_terminal_chooses_kitty_and_reads_every_reply_byte():
    res, _ = run_fake_terminal(kitty_terminal)
    assert res["protocol"] == "kitty" and res["terminal"] == "kitty(0.35.2)"
    assert tuple(res["cell_px"]) == (10, 20) and res["notice"] == ""
    assert res["left"] == ""


@pytest.mark.slow
def test_sixel_terminal_slow_reply_still_chosen_and_consumed():
    res, _ = run_fake_terminal(lambda q: b"\x1b[6;18;9t" + DA1_SIXEL, delay=0.5)
    assert res["protocol"] == "sixel" and tuple(res["cell_px"]) == (9, 18)
    assert 0.45 < res["took"] < 1.0
    assert res["left"] == ""


@pytest.mark.slow
def test_silent_terminal_falls_back_without_hanging():
    res, _ = run_fake_terminal(lambda q: b"")
    assert res["protocol"] == "halfcell" and "did not answer" in res["notice"]
    assert res["took"] < 1.5 and tuple(res["cell_px"]) == (10, 20)
    assert res["left"] == ""


@pytest.mark.slow
def test_stray_bytes_around_the_replies_are_drained():
    # unknown replies before, an unsolicited DA2 just after DA1: none of it may reach the app
    res, _ = run_fake_terminal(lambda q: b"\x1b[?1;2$y" + KITTY_OK + DA1_PLAIN + b"\x1b[>1;10;0c", delay=0.3)
    assert res["protocol"] == "kitty" and res["left"] == ""


@pytest.mark.slow
def test_forced_choice_skips_the_protocol_query():
    # a forced text renderer asks nothing; a forced image protocol with cells of a known
    # size (TEXTUAL_CELL_*) asks nothing either
    res, seen = run_fake_terminal(lambda q: b"", env={"BINLABEL_GRAPHICS": "unicode"})
    assert res["protocol"] == "unicode" and b"\x1b[c" not in seen
    res, seen = run_fake_terminal(lambda q: b"", requested="sixel",
                                  env={"TEXTUAL_CELL_WIDTH": "9", "TEXTUAL_CELL_HEIGHT": "18"})
    assert res["protocol"] == "sixel" and b"\x1b[c" not in seen and res["took"] < 0.5
    assert tuple(res["cell_px"]) == (9, 18)


def test_forced_sixel_on_a_pty_without_pixels_asks_the_cell_size():
    """VS Code's pty reports 0 pixels: with --graphics sixel the 10x20 guess overflowed
    xterm.js's 9x18 cells and scrolled the screen. Ask CSI 16 t, then CSI 14 t."""
    res, seen = run_fake_terminal(lambda q: b"\x1b[6;18;9t" + DA1_SIXEL, requested="sixel")
    assert res["protocol"] == "sixel" and tuple(res["cell_px"]) == (9, 18)
    assert b"\x1b[16t" in seen and b"\x1b_G" not in seen and res["left"] == ""
    # only the text area's pixels (a pty of 80x24 cells): divided by the grid
    res, _ = run_fake_terminal(lambda q: b"\x1b[4;432;720t" + DA1_SIXEL, requested="sixel")
    assert tuple(res["cell_px"]) == (9, 18)
    res, _ = run_fake_terminal(lambda q: b"", requested="sixel")      # silent: the guess
    assert res["protocol"] == "sixel" and tuple(res["cell_px"]) == (10, 20)


def test_not_a_tty_is_unicode(tmp_path):
    with open(tmp_path / "in", "w+") as f:
        g = choose_graphics(fd_in=f.fileno(), fd_out=f.fileno())
    assert g == Graphics("unicode", g.cell_px, False, False, g.notice, "")
    assert g.cell_px == (10, 20)


def test_bad_request_names_the_value(monkeypatch):
    with pytest.raises(ValueError, match=r"--graphics: unknown graphics 'sixels'"):
        choose_graphics("sixels")
    monkeypatch.setenv("BINLABEL_GRAPHICS", "kity")
    with pytest.raises(ValueError, match=r"\$BINLABEL_GRAPHICS: unknown graphics 'kity'"):
        choose_graphics()


def test_parse_replies_ignores_noise():
    r = parse_replies(b"x\x1b_Gi=4242;ENOTSUPPORTED:no\x1b\\" + DA1_SIXEL)
    assert r.answered and r.sixel and not r.kitty and r.drained == 1
    assert parse_replies(b"").answered is False


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_inside_real_tmux_chooses_halfcell_and_says_why(tmp_path):
    sock = f"binlabel-test-{os.getpid()}"
    out = tmp_path / "out.json"
    script = tmp_path / "child.py"
    script.write_text(
        f"import json, sys\nsys.path.insert(0, {ROOT!r})\nfrom tui.image.graphics import choose_graphics\n"
        f"g = choose_graphics()\nopen({str(out)!r}, 'w').write(json.dumps(g.__dict__))\n")
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    subprocess.run(tmux + ["new-session", "-d", "-x", "120", "-y", "40", sys.executable, str(script)],
                   check=True, env={k: v for k, v in os.environ.items() if k != "TMUX"})
    try:
        deadline = time.monotonic() + 15
        while not out.exists() or not out.read_text():
            assert time.monotonic() < deadline, "child in tmux never finished"
            time.sleep(0.1)
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
    res = json.loads(out.read_text())
    assert res["protocol"] == "halfcell" and res["in_tmux"] is True and res["passthrough"] is False
    assert "tmux 3" in res["notice"] and "sixel" in res["notice"], res["notice"]


def run_in_attached_tmux(tmp_path, outer_version: bytes, passthrough: bool) -> dict:
    """choose_graphics in a tmux session that a fake outer terminal (a pty answering tmux's own
    queries, XTVERSION included) is attached to; returns the child's Graphics as a dict."""
    sock = f"binlabel-test-{os.getpid()}-{int(passthrough)}"
    out = tmp_path / f"out{int(passthrough)}.json"
    script = tmp_path / "child.py"
    script.write_text(
        "import json, subprocess, sys, time\n"
        f"sys.path.insert(0, {ROOT!r})\n"
        "while not subprocess.run(['tmux', 'list-clients'], capture_output=True, text=True).stdout.strip():\n"
        "    time.sleep(0.05)\n"
        "time.sleep(0.3)\n"
        "from tui.image.graphics import choose_graphics\n"
        f"open({str(out)!r}, 'w').write(json.dumps(choose_graphics().__dict__))\n")
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    subprocess.run(tmux + ["new-session", "-d", "-s", "s", "-x", "120", "-y", "40", sys.executable, str(script)],
                   check=True, env=env)
    subprocess.run(tmux + ["set", "-g", "allow-passthrough", "on" if passthrough else "off"], check=True, env=env)
    pid, master = pty.fork()
    if pid == 0:
        os.environ.pop("TMUX", None)
        os.environ["TERM"] = "xterm-256color"
        os.execvp("tmux", tmux + ["attach", "-t", "s"])
    seen, answered = b"", set()
    try:
        deadline = time.monotonic() + 20
        while not (out.exists() and out.read_text()):
            assert time.monotonic() < deadline, "child in tmux never finished"
            if select.select([master], [], [], 0.05)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
            for query, reply in ((b"\x1b[>q", b"\x1bP>|" + outer_version + b"\x1b\\"),
                                 (b"\x1b[>c", b"\x1b[>1;4000;29c"), (b"\x1b[c", DA1_PLAIN)):
                if query in seen and query not in answered:
                    answered.add(query)
                    os.write(master, reply)
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
        os.waitpid(pid, 0)
        os.close(master)
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_tmux_under_kitty_uses_passthrough_only_when_allowed(tmp_path):
    off = run_in_attached_tmux(tmp_path, b"kitty(0.35.2)", passthrough=False)
    assert off["protocol"] == "halfcell" and off["terminal"] == "kitty(0.35.2)"
    assert "allow-passthrough on" in off["notice"]
    on = run_in_attached_tmux(tmp_path, b"kitty(0.35.2)", passthrough=True)
    assert on["protocol"] == "kitty" and on["passthrough"] is True and on["in_tmux"] is True
    assert on["notice"] == ""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_tmux_under_plain_terminal_says_what_it_lacks(tmp_path):
    res = run_in_attached_tmux(tmp_path, b"XTerm(379)", passthrough=False)
    assert res["protocol"] == "halfcell" and res["terminal"] == "XTerm(379)"
    assert "no sixel or kitty graphics for XTerm(379)" in res["notice"]
