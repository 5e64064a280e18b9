"""Real terminals for end-to-end tests, all behind one interface, so that one scripted test can
run in every terminal: `open_terminal(name, command)` starts `command` (a shell command line)
in that terminal; `keys`, `text`, `screenshot`, `cell_px`, `resize`, `close`.

`missing(name)` says why a terminal cannot start here (None if it can): tests skip with it.
The terminals come from `.ci/terminals-trixie.sh` (kitty 0.41, foot 1.21 from a Debian 13 root)
and `.ci/terminals-tmux35.sh` (tmux 3.5a); see NOTES.md, "Real terminals".
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

KEYS = ("Escape", "BackSpace", "Left", "Right", "space", "Return", "ctrl+l")
TRIXIE_ROOT = Path(os.environ.get("BINLABEL_TRIXIE_ROOT", "/var/cache/binlabel/trixie-root"))
TMUX35_DIR = Path(os.environ.get("BINLABEL_TMUX35", "/var/cache/binlabel/tmux35"))
# name -> (module, class name); the last two are fixtures of the same interface kept elsewhere
TERMINALS = {
    "kitty": ("term_kitty", "Kitty"),
    "foot": ("term_foot", "Foot"),
    "tmux35-xterm": ("term_tmux35", "Tmux35Xterm"),
    "tmux35-kitty": ("term_tmux35", "Tmux35Kitty"),
    "xterm": ("term_xterm", "Terminal"),
    "xtermjs": ("term_xtermjs", "Terminal"),
    "tmux33": ("term_tmux33", "Tmux33"),
}


class Terminal:
    """One real terminal running one command. Subclasses set `name` and implement the rest."""

    name: str = "?"

    def __init__(self, command: str, cols: int = 120, rows: int = 40):
        self.command, self.cols, self.rows = command, cols, rows

    def keys(self, *keys: str) -> None:
        """Single characters ("d", "?", "q") and the names in KEYS, sent one after another."""
        raise NotImplementedError

    def text(self) -> list[str]:
        """The visible screen, one str per row (trailing blanks stripped), from the terminal."""
        raise NotImplementedError

    def screenshot(self, path) -> np.ndarray:
        """RGB pixels of the terminal's window only; also written to `path` (PNG)."""
        raise NotImplementedError

    def cell_px(self) -> tuple[int, int]:
        """(width, height) of one cell in pixels."""
        raise NotImplementedError

    def resize(self, cols: int, rows: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """End every process this terminal started; leave no mount behind."""
        raise NotImplementedError

    # ---- shared helpers ----
    def wait_text(self, predicate, timeout: float = 60.0, what: str = "") -> list[str]:
        """Poll `text()` until `predicate(lines)` is true; the lines, or AssertionError with
        the last screen."""
        if isinstance(predicate, str):
            needle = predicate
            predicate = lambda lines: any(needle in line for line in lines)  # noqa: E731
            what = what or repr(needle)
        t0, lines = time.monotonic(), []
        while time.monotonic() - t0 < timeout:
            try:
                lines = self.text()
            except (subprocess.SubprocessError, OSError):
                lines = []
            if predicate(lines):
                return lines
            time.sleep(0.2)
        raise AssertionError(f"{self.name}: timed out after {timeout} s waiting for {what}; "
                             "screen:\n" + "\n".join(lines))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _module(name: str):
    if name not in TERMINALS:
        raise KeyError(f"unknown terminal {name!r}; known: {sorted(TERMINALS)}")
    return importlib.import_module(TERMINALS[name][0])


def missing(name: str) -> str | None:
    """Why terminal `name` cannot start here, or None if it can."""
    try:
        module = _module(name)
        takes_name = bool(inspect.signature(module.missing).parameters)
        return module.missing(name) if takes_name else module.missing()
    except ImportError as e:
        return f"{name}: cannot import its fixture: {e}"


def open_terminal(name: str, command: str, cols: int = 120, rows: int = 40) -> Terminal:
    return getattr(_module(name), TERMINALS[name][1])(command, cols, rows)


# ---- helpers for the fixtures ----
def missing_tools(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def root_missing() -> str | None:
    """Why the Debian 13 root cannot be used, or None."""
    if os.geteuid() != 0:
        return "the Debian 13 root needs root (chroot, mount namespaces)"
    if not (TRIXIE_ROOT / ".binlabel-complete").exists():
        return f"no Debian 13 root at {TRIXIE_ROOT} (.ci/terminals-trixie.sh builds it)"
    if shutil.which("unshare") is None:
        return "no unshare (util-linux)"
    return None


def free_display() -> int:
    start = 300 + os.getpid() % 400
    for n in range(start, start + 300):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number")


def start_xvfb(screen=(1600, 1000)) -> tuple[subprocess.Popen, str]:
    """A private Xvfb; (process, ":N")."""
    n = free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{screen[0]}x{screen[1]}x24",
                             "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=lambda: die_with_parent(15))
    sock, t0 = Path(f"/tmp/.X11-unix/X{n}"), time.monotonic()
    while not sock.exists():
        if time.monotonic() - t0 > 20 or proc.poll() is not None:
            stop(proc)
            raise RuntimeError(f"Xvfb :{n} did not start")
        time.sleep(0.05)
    return proc, f":{n}"


def stop(*procs) -> None:
    """Terminate, then kill, each of `procs` (Popen objects we started)."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.terminate()
    for proc in procs:
        if proc is not None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def pids_in(ns: str) -> list[int]:
    """Every process in mount namespace `ns`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "mnt") == ns:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def namespace_pids(pid: int) -> tuple[str, list[int]]:
    """(mount namespace of `pid`, every pid in it): the processes a private namespace holds."""
    ns = os.readlink(f"/proc/{pid}/ns/mnt")
    return ns, pids_in(ns)


def die_with_parent(sig: int = 9) -> None:
    """preexec_fn: send `sig` to this child when the test process dies, so that a killed pytest
    leaves no terminal (and so no namespace's mounts) behind. SIGKILL by default: `unshare
    --fork` ignores SIGTERM, and its --kill-child passes SIGTERM on to the terminal."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, int(sig))  # PR_SET_PDEATHSIG


def children(pid: int) -> list[int]:
    try:
        return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    except OSError:
        return []


def end_namespace(ns: str, timeout: float = 10.0) -> None:
    """End the processes left in private mount namespace `ns` (ours: started by a fixture), so
    that the namespace and its mounts go away."""
    if ns == os.readlink("/proc/self/ns/mnt"):
        raise ValueError("not a private namespace: refusing to end its processes")
    t0, sig = time.monotonic(), 15
    while pids := pids_in(ns):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        if time.monotonic() - t0 > timeout / 2:
            sig = 9
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"processes left in namespace {ns}: {pids}")


def crop_png(shot_path: Path, box: tuple[int, int, int, int], out) -> np.ndarray:
    """Crop the PNG at `shot_path` to box (x, y, w, h), write it to `out`, return RGB pixels."""
    from PIL import Image

    x, y, w, h = box
    img = Image.open(shot_path).convert("RGB").crop((x, y, x + w, y + h))
    img.save(out)
    return np.asarray(img)


XDOTOOL_NAMES = {"?": "question", " ": "space", "/": "slash", ".": "period", ",": "comma",
                 "-": "minus", "+": "plus", "=": "equal", ":": "colon", ";": "semicolon"}


def xdotool_key(env: dict, key: str, x: int = 200, y: int = 200) -> None:
    """One key of the KEYS vocabulary to whatever window is under (x, y): no window manager,
    so focus follows the pointer (NOTES.md)."""
    name = key if (len(key) > 1 or key.isalnum()) else XDOTOOL_NAMES.get(key)
    subprocess.run(["xdotool", "mousemove", str(x), str(y)], env=env, check=True, timeout=10,
                   capture_output=True)
    if name is None:
        args = ["type", "--delay", "0", key]
    else:
        args = ["key", name]
    subprocess.run(["xdotool", *args], env=env, check=True, timeout=10, capture_output=True)


def plain(lines: list[str], mark: str = "#") -> list[str]:
    """`lines` with each kitty Unicode placeholder cell (U+10EEEE and its diacritics) shown as
    `mark`: readable dumps of a screen with an image on it."""
    import unicodedata

    out = []
    for line in lines:
        chars = []
        for ch in line:
            if ch == "\U0010EEEE":
                chars.append(mark)
            elif chars and chars[-1] == mark and unicodedata.combining(ch):
                continue
            else:
                chars.append(ch)
        out.append("".join(chars))
    return out
