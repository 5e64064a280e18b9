"""foot 1.21 (sixel, Wayland) from the Debian 13 root, under a headless sway, for end-to-end
tests.

As for kitty (term_kitty.py), a private mount namespace binds / at ROOT/host, and the command
runs on this machine through `chroot /host`. sway refuses to run as root, so it runs as the
root's unprivileged user `binlabel` (made by .ci/terminals-trixie.sh) with its runtime dir in a
private folder under ROOT/tmp; foot itself is started by us as root, a client of that sway, so
that the command (the app) runs as root and reads the test's files (pytest's tmp is 0700).
A floating rule gives foot its own size in cells at (0, 0) instead of the whole output.

Text: foot has no remote control; a key binding `pipe-visible` (Ctrl+Shift+F12, never sent to
the app) pipes the visible screen to a file, and `text()` types that key with wtype.
Keys with wtype (virtual keyboard), screenshots with grim, size with swaymsg.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from term_base import (TRIXIE_ROOT, Terminal, die_with_parent, end_namespace, namespace_pids,
                       root_missing, stop)

FONT, FONT_SIZE = "DejaVu Sans Mono", 11
USER_UID = 1000  # `binlabel` inside the root: sway refuses root
# wtype uploads its own keymap first: a key typed at once after it was dropped 1 time in 3
# here, so each wtype call sleeps 60 ms (`-s 60`) before its keys
TEXT_KEY = ("Control+Shift+F12",
            ["-s", "60", "-M", "ctrl", "-M", "shift", "-k", "F12", "-m", "shift", "-m", "ctrl"])
WTYPE = {"Escape": ["-k", "Escape"], "BackSpace": ["-k", "BackSpace"], "Left": ["-k", "Left"],
         "Right": ["-k", "Right"], "space": ["-k", "space"], "Return": ["-k", "Return"],
         "ctrl+l": ["-M", "ctrl", "-k", "l", "-m", "ctrl"]}


def missing(name: str = "foot") -> str | None:
    if reason := root_missing():
        return reason
    for tool in ("foot", "sway", "swaymsg", "grim", "wtype"):
        if not (TRIXIE_ROOT / "usr/bin" / tool).exists():
            return f"no {tool} in {TRIXIE_ROOT} (.ci/terminals-trixie.sh installs it)"
    if shutil.which("nsenter") is None:
        return "no nsenter (util-linux)"
    return None


def available() -> bool:
    return missing() is None


# Runs inside `unshare --mount`: $1 root, $2 dir (inside the root), $3 cols, $4 rows, $5 command.
LAUNCH = r"""
ROOT=$1 D=$2
mount --make-rprivate / && mount --rbind / "$ROOT/host" && mount -t proc proc "$ROOT/proc" &&
  mount --rbind /dev "$ROOT/dev" || exit 1
chroot "$ROOT" env -i XDG_RUNTIME_DIR="$D/run" HOME=/home/binlabel PATH=/usr/bin:/bin \
  WLR_BACKENDS=headless WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1 LANG=C.UTF-8 \
  setpriv --reuid "$USER_UID" --regid "$USER_UID" --clear-groups \
  sway -c "$D/sway.conf" > "$ROOT$D/sway.log" 2>&1 &
SWAY=$!
for _ in $(seq 200); do [ -S "$ROOT$D/run/wayland-1" ] && break; sleep 0.05; done
chroot "$ROOT" env -i XDG_RUNTIME_DIR="$D/run" WAYLAND_DISPLAY=wayland-1 HOME=/root \
  LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  foot -c "$D/foot.ini" --app-id binlabel --window-size-chars "$3x$4" \
  chroot /host env TERMINFO="$ROOT/usr/share/terminfo" LANG=C.UTF-8 PATH="$HOSTPATH" \
  bash -c "$5" &
FOOT=$!
trap 'kill $FOOT $SWAY 2>/dev/null' TERM HUP
wait $FOOT
kill $SWAY 2>/dev/null; wait
"""


class Foot(Terminal):
    name = "foot"

    def __init__(self, command: str, cols: int = 120, rows: int = 40):
        super().__init__(command, cols, rows)
        if reason := missing():
            raise RuntimeError(reason)
        self.proc = self.ns = None
        self.host_dir = Path(tempfile.mkdtemp(prefix="binlabel-foot-", dir=TRIXIE_ROOT / "tmp"))
        self.dir = "/tmp/" + self.host_dir.name  # the same folder, as the root sees it
        (self.host_dir / "run").mkdir(mode=0o700)
        os.chown(self.host_dir / "run", USER_UID, USER_UID)
        self.host_dir.chmod(0o755)
        (self.host_dir / "sway.conf").write_text(
            "output HEADLESS-1 resolution 1600x1000 position 0 0 bg #000000 solid_color\n"
            "xwayland disable\ndefault_border none\ndefault_floating_border none\n"
            'for_window [app_id="^binlabel$"] floating enable, move position 0 0\n')
        screen = f"{self.dir}/screen"
        (self.host_dir / "foot.ini").write_text(
            f"font={FONT}:size={FONT_SIZE}\ndpi-aware=no\npad=0x0\n"
            "[key-bindings]\n"
            f'pipe-visible=[sh -c "cat > {screen}.tmp && mv {screen}.tmp {screen}.txt"] '
            f"{TEXT_KEY[0]}\n")
        env = dict(os.environ, USER_UID=str(USER_UID),
                   HOSTPATH=os.environ.get("PATH", "/usr/bin:/bin"))
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--kill-child=SIGTERM", "bash", "-c", LAUNCH, "launch",
             str(TRIXIE_ROOT), self.dir, str(cols), str(rows), command],
            env=env, stdout=open(self.host_dir / "launch.log", "wb"), stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent)
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def _log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-1500:] for p in
                         (self.host_dir / "launch.log", self.host_dir / "sway.log") if p.exists())

    def _wait_ready(self, timeout: float = 30.0) -> None:
        """sway up, foot's window mapped, and a text() round trip done (the first frame is
        drawn and keys get through)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("foot ended:\n" + self._log())
            try:
                if self.ns is None:
                    ns = namespace_pids(self.proc.pid)[0]
                    if ns == os.readlink("/proc/self/ns/mnt"):
                        raise ValueError("unshare has not made its namespace yet")
                    self.ns = ns
                self.window()
                self.text(timeout=3)
                return
            except (subprocess.SubprocessError, OSError, ValueError, LookupError):
                time.sleep(0.2)
        raise RuntimeError(f"foot did not come up in {timeout} s:\n" + self._log())

    def inside(self, *args: str, timeout: float = 15) -> subprocess.CompletedProcess:
        """Run a program of the root in foot's namespace, as a client of its sway."""
        sock = next((self.host_dir / "run").glob("sway-ipc.*.sock"), None)
        env = ["XDG_RUNTIME_DIR=" + f"{self.dir}/run", "WAYLAND_DISPLAY=wayland-1",
               "PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
        if sock is not None:
            env.append(f"SWAYSOCK={self.dir}/run/{sock.name}")
        out = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "chroot",
                              str(TRIXIE_ROOT), "env", "-i", *env, *args],
                             capture_output=True, timeout=timeout)
        if out.returncode:
            raise subprocess.SubprocessError(f"{args[0]}: {out.stderr.decode()[-500:]}")
        return out

    def window(self) -> dict:
        """foot's node in sway's tree (its `rect` is the window in output pixels)."""
        tree = json.loads(self.inside("swaymsg", "-t", "get_tree").stdout)
        stack = [tree]
        while stack:
            node = stack.pop()
            if node.get("app_id") == "binlabel":
                return node
            stack += node.get("nodes", []) + node.get("floating_nodes", [])
        raise LookupError("no foot window in sway's tree")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.inside("wtype", "-s", "60", *(WTYPE[key] if key in WTYPE else ["--", key]))

    def text(self, timeout: float = 10.0) -> list[str]:
        out = self.host_dir / "screen.txt"
        out.unlink(missing_ok=True)
        t0, sent = time.monotonic(), 0.0
        while time.monotonic() - t0 < timeout:
            if time.monotonic() - sent > 2:  # a key typed before the surface has focus is lost
                self.inside("wtype", *TEXT_KEY[1])
                sent = time.monotonic()
            if out.exists():
                lines = [line.rstrip() for line in out.read_text(errors="replace").split("\n")]
                lines = lines[: self.rows]
                return lines + [""] * (self.rows - len(lines))
            time.sleep(0.05)
        raise subprocess.TimeoutExpired("foot pipe-visible", timeout)

    def cell_px(self) -> tuple[int, int]:
        rect = self.window()["rect"]  # cols x rows cells, no padding
        return rect["width"] // self.cols, rect["height"] // self.rows

    def screenshot(self, path) -> np.ndarray:
        from PIL import Image

        r = self.window()["rect"]
        self.inside("grim", "-g", f"{r['x']},{r['y']} {r['width']}x{r['height']}",
                    f"{self.dir}/shot.png", timeout=30)
        img = Image.open(self.host_dir / "shot.png").convert("RGB")
        img.save(path)
        return np.asarray(img)

    def resize(self, cols: int, rows: int) -> None:
        cw, ch = self.cell_px()
        self.inside("swaymsg", '[app_id="^binlabel$"]', "resize", "set", "width",
                    f"{cols * cw}px", "height", f"{rows * ch}px", ",", "move", "position", "0",
                    "0")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            r = self.window()["rect"]
            if (r["width"], r["height"]) == (cols * cw, rows * ch):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"foot did not resize to {cols}x{rows} cells: {r}")
        self.cols, self.rows = cols, rows

    def close(self) -> None:
        if self.ns is not None and self.proc.poll() is None:
            # foot first: it hangs up the app's pty, and the launcher then ends sway and exits
            for pid in namespace_pids(self.proc.pid)[1]:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "foot":
                    os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self.ns is not None:
            end_namespace(self.ns)
            self.ns = None
        stop(self.proc)
        shutil.rmtree(self.host_dir, ignore_errors=True)
