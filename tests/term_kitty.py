"""kitty 0.41 (kitty graphics with Unicode placeholders) from the Debian 13 root, on a private
headless X server, for end-to-end tests.

kitty 0.41 needs glibc >= 2.38, so it runs from the root (`.ci/terminals-trixie.sh`) while the
command runs on this machine: a private mount namespace (`unshare --mount`) binds / at
ROOT/host, mounts /proc and /dev into ROOT, and kitty runs `chroot /host bash -c COMMAND`;
nothing stays mounted once its processes end. Text comes from kitty itself through remote
control (`kitten @ get-text` on an abstract socket), keys from xdotool (no window manager:
focus follows the pointer), screenshots from `import -window root` cropped to the window.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from term_base import (TRIXIE_ROOT, Terminal, children, crop_png, die_with_parent,
                       end_namespace, missing_tools, namespace_pids, root_missing, start_xvfb,
                       stop, xdotool_key)

FONT, FONT_SIZE = "DejaVu Sans Mono", 11
KITTY = TRIXIE_ROOT / "usr/bin/kitty"
KITTEN = TRIXIE_ROOT / "usr/bin/kitten"  # the remote-control client (a plain Go binary)


def missing(name: str = "kitty") -> str | None:
    if reason := root_missing():
        return reason
    if not KITTY.exists() or not KITTEN.exists():
        return f"no kitty in {TRIXIE_ROOT} (.ci/terminals-trixie.sh installs it)"
    if tools := missing_tools("Xvfb", "xdotool", "import"):
        return f"missing {tools} (apt-get install xvfb xdotool imagemagick)"
    return None


def available() -> bool:
    return missing() is None


# Runs inside `unshare --mount`: $1 root, $2 display, $3 socket, $4 cols, $5 rows, $6 command.
LAUNCH = r"""
set -e
ROOT=$1
mount --make-rprivate /
mount --rbind / "$ROOT/host"
mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
exec chroot "$ROOT" env -i DISPLAY="$2" LIBGL_ALWAYS_SOFTWARE=1 HOME=/root LANG=C.UTF-8 \
  PATH=/usr/bin:/bin kitty --config NONE -o allow_remote_control=yes \
  -o remember_window_size=no -o initial_window_width="$4c" -o initial_window_height="$5c" \
  -o font_family="$FONT" -o font_size="$FONT_SIZE" -o window_padding_width=0 \
  -o confirm_os_window_close=0 -o enable_audio_bell=no -o update_check_interval=0 \
  --listen-on "unix:@$3" \
  chroot /host env TERMINFO="$ROOT/usr/share/terminfo" LANG=C.UTF-8 PATH="$HOSTPATH" \
  bash -c "$6"
"""


class Kitty(Terminal):
    name = "kitty"

    def __init__(self, command: str, cols: int = 120, rows: int = 40):
        super().__init__(command, cols, rows)
        if reason := missing():
            raise RuntimeError(reason)
        self.ns = None
        self.kitty = None
        self.tmp = Path(tempfile.mkdtemp(prefix="binlabel-kitty-"))
        self.socket = f"binlabel-kitty-{os.getpid()}-{id(self)}"
        self.xvfb, self.display = start_xvfb()
        self.env = dict(os.environ, DISPLAY=self.display)
        env = dict(os.environ, FONT=FONT, FONT_SIZE=str(FONT_SIZE),
                   HOSTPATH=os.environ.get("PATH", "/usr/bin:/bin"))
        self.kitty = subprocess.Popen(
            ["unshare", "--mount", "--kill-child=SIGTERM", "bash", "-c", LAUNCH, "launch",
             str(TRIXIE_ROOT), self.display, self.socket, str(cols), str(rows), command],
            env=env, stdout=open(self.tmp / "kitty.log", "wb"), stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent)
        try:
            self._wait_window()
        except BaseException:
            self.close()
            raise

    def _wait_window(self, timeout: float = 30.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.kitty.poll() is not None:
                raise RuntimeError("kitty ended: " + (self.tmp / "kitty.log").read_text()[-2000:])
            try:
                info = self.ls()
                self.window_id = info["platform_window_id"]
                if self.ns is None:  # kitty's namespace: to end whatever it leaves there
                    self.ns = namespace_pids(info["tabs"][0]["windows"][0]["pid"])[0]
                return
            except (subprocess.SubprocessError, OSError, ValueError, LookupError):
                time.sleep(0.2)
        raise RuntimeError(f"kitty's window did not come up in {timeout} s: "
                           + (self.tmp / "kitty.log").read_text()[-2000:])

    def kitten(self, *args: str, timeout: float = 10) -> str:
        out = subprocess.run([str(KITTEN), "@", "--to", f"unix:@{self.socket}", *args],
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode:
            raise subprocess.SubprocessError(f"kitten @ {args[0]}: {out.stderr.strip()}")
        return out.stdout

    def ls(self) -> dict:
        return json.loads(self.kitten("ls"))[0]

    def keys(self, *keys: str) -> None:
        for key in keys:
            xdotool_key(self.env, key, 20, 20)

    def text(self) -> list[str]:
        lines = self.kitten("get-text", "--extent", "screen").split("\n")
        lines = [line.rstrip() for line in lines][: self.rows]
        return lines + [""] * (self.rows - len(lines))

    def geometry(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of kitty's X window."""
        out = subprocess.run(["xdotool", "getwindowgeometry", "--shell", str(self.window_id)],
                             env=self.env, capture_output=True, text=True, timeout=10,
                             check=True).stdout
        g = dict(line.split("=", 1) for line in out.split())
        return int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"])

    def cell_px(self) -> tuple[int, int]:
        _, _, w, h = self.geometry()  # the window is cols x rows cells, no padding
        return w // self.cols, h // self.rows

    def screenshot(self, path) -> np.ndarray:
        full = self.tmp / "root.png"
        subprocess.run(["import", "-window", "root", str(full)], env=self.env, check=True,
                       timeout=30, capture_output=True)
        return crop_png(full, self.geometry(), path)

    def resize(self, cols: int, rows: int) -> None:
        self.kitten("resize-os-window", "--action", "resize", "--unit", "cells",
                    "--width", str(cols), "--height", str(rows))
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            win = self.ls()["tabs"][0]["windows"][0]
            if (win["columns"], win["lines"]) == (cols, rows):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"kitty did not resize to {cols}x{rows}: {win['columns']}x"
                               f"{win['lines']}")
        self.cols, self.rows = cols, rows

    def close(self) -> None:
        if self.kitty is not None and self.kitty.poll() is None:
            # kitty first (it hangs up the command's pty), while unshare waits to reap it
            for pid in children(self.kitty.pid):
                os.kill(pid, signal.SIGTERM)
            try:
                self.kitty.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self.ns is not None:
            end_namespace(self.ns)
            self.ns = None
        stop(self.kitty)
        stop(self.xvfb)
        subprocess.run(["rm", "-rf", str(self.tmp)], check=False)

