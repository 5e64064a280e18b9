"""`annotate backup LABELS OUT`: a consistent, self-contained copy of a labels file.

Why not `cp`: a labels file in use keeps its newest answers in NAME.sqlite-wal, and a
copy of the main file alone (or one taken mid-write) misses them. SQLite's backup API
reads one consistent snapshot of both, while teammates keep answering; the copy is
written under a temporary name, switched out of WAL mode (one file, nothing beside
it), checked, and only then renamed to OUT.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

from refs.fail import fail
from tui.store.labels_schema import APPLICATION_ID, LabelsError, sqlite_error


@dataclass
class BackupResult:
    message: str
    notes: list[str] = field(default_factory=list)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="annotate backup",
        description="Copy a labels file safely, even while people are annotating: every "
                    "answer recorded so far, in one file with nothing beside it.")
    p.add_argument("labels", metavar="LABELS", help="the labels file (NAME.labels.sqlite)")
    p.add_argument("output", metavar="OUT", help="the copy to write (replaced atomically)")
    return p


def _open_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise LabelsError(f"{path}: no such labels file" if not path.exists()
                          else f"{path}: not a regular file; pass the labels file")
    uri = f"{path.as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=15.0)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    except sqlite3.Error as exc:
        raise sqlite_error(path, exc, "opening it for a backup") from exc
    if app_id != APPLICATION_ID:
        conn.close()
        raise LabelsError(f"{path}: not a binlabel labels file (application_id "
                          f"{app_id:#x}); nothing was copied")
    return conn


def backup_labels(source, out) -> BackupResult:
    """Copy `source` to `out` (a temporary name, checked, then renamed)."""
    from tui.export.atomic import atomic_file

    source = Path(os.fspath(source)).expanduser().absolute()
    src = _open_source(source)
    try:
        with atomic_file(out) as tmp:
            dst = sqlite3.connect(str(tmp))
            try:
                try:
                    src.backup(dst)
                except sqlite3.Error as exc:
                    raise sqlite_error(source, exc, "reading it for a backup") from exc
                dst.execute("PRAGMA journal_mode = DELETE")   # one file, nothing beside it
                problems = [r[0] for r in dst.execute("PRAGMA integrity_check") if r[0] != "ok"]
                if problems:
                    raise LabelsError(f"{source}: the copy fails SQLite's integrity check "
                                      f"({problems[0]}); the file is damaged. Nothing was "
                                      f"written to {out}.")
                answers, undone = dst.execute(
                    "SELECT COUNT(*), COUNT(undone_at) FROM answers").fetchone()
                labelled = dst.execute(
                    "SELECT COUNT(*) FROM current WHERE answer IS NOT NULL").fetchone()[0]
            finally:
                dst.close()
    finally:
        src.close()
    return BackupResult(f"backed up {answers} answers ({undone} undone; {labelled} items "
                        f"labelled) from {source} to {out}: one self-contained file")


def main(argv: list[str] | None = None) -> int:
    from tui.export.cli import guarded

    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.output == "-":
        return fail("annotate backup", "OUT must be a file name, not -")
    return guarded("annotate backup", args.output,
                   lambda path: backup_labels(args.labels, path), ".sqlite")
