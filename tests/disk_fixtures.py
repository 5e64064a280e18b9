"""A small real file system for full-disk tests: a tmpfs of a few MB, mounted for one test."""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest


@contextlib.contextmanager
def small_tmpfs(folder, size: str):
    """Mount a tmpfs of ``size`` (e.g. "6m") on ``folder`` (created) for the block; skip the
    test, saying why, where mounting is not allowed (not root, no mount permission)."""
    folder.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
