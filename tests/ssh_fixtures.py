"""A throwaway OpenSSH server on loopback for end-to-end tests: key-only login for the
current user, host key, authorized_keys, config, pid file and log all in one folder.

sshd runs in the foreground (`-D`) as our child, so it is stopped by its own pid; the
per-connection processes it forks end when their client goes away, and
`reap_marked()` ends any process left over that names a marker (a tmp path) by pid.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
# As root, sshd insists on its privilege separation directory (Debian's service creates it).
PRIVSEP_DIR = Path("/run/sshd")


def missing_binaries() -> str | None:
    """A reason to skip, or None when sshd, ssh and ssh-keygen are all there."""
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} not installed (Debian package openssh-server)"
    for tool in ("ssh", "ssh-keygen", "tmux"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackSSHD:
    """sshd -D -f CONFIG on 127.0.0.1:PORT; `client_args()` gives a matching ssh command."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.host_key, self.key = folder / "host_ed25519", folder / "id_ed25519"
        for path in (self.host_key, self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                           check=True, capture_output=True, timeout=30)
        self.authorized = folder / "authorized_keys"
        self.authorized.write_text((folder / "id_ed25519.pub").read_text())
        self.log = folder / "sshd.log"
        self.port = free_port()
        self.config = folder / "sshd_config"
        self.config.write_text("\n".join([
            "ListenAddress 127.0.0.1", f"Port {self.port}", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized}", f"PidFile {folder / 'sshd.pid'}",
            "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            "StrictModes no", "UsePAM no", "PrintMotd no", "PrintLastLog no", ""]))
        if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.proc = subprocess.Popen([SSHD, "-D", "-f", str(self.config), "-E", str(self.log)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self._wait_listening()

    def _wait_listening(self, timeout: float = 15.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"sshd exited with {self.proc.returncode}: "
                                     f"{self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"sshd not listening on port {self.port} after {timeout} s: "
                             f"{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"

    def client_args(self) -> list[str]:
        """ssh with a pty, no user config, no known_hosts, key only, never a prompt."""
        return ["ssh", "-t", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "LogLevel=ERROR", "-i", str(self.key), "-p", str(self.port),
                f"{self.user}@127.0.0.1"]

    def command(self, remote: str) -> str:
        """A shell line running `remote` on the server through `ssh -t`."""
        return shlex.join(self.client_args() + [remote])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def marked_pids(marker: str) -> list[int]:
    """Pids of live processes whose command line names `marker` (a unique tmp path)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            out.append(int(entry.name))
    return out


def reap_marked(marker: str, timeout: float = 5.0) -> list[int]:
    """Wait for the processes naming `marker` to end; SIGKILL those that do not, by pid.
    Returns the pids that had to be killed (a test may assert on it)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not marked_pids(marker):
            return []
        time.sleep(0.1)
    left = marked_pids(marker)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left
