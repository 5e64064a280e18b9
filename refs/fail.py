"""The one way a binlabel command fails on a user's mistake: one line on stderr, exit 2.

Why here, in `refs`: every command needs it (`python -m refs`, `featurize`, `annotate`
and its subcommands), and `refs` is the one package all of them may import: it is
the bottom of the flow (DESIGN.md: refs knows nothing of the others, featurize
imports refs, tui reads files), imports only the standard library (no torch, no
Textual: `annotate --help` stays instant), and import-linter's
contracts for tui/ leave it open to every room. A module of its own, importing
nothing, so that using it pulls in nothing else of `refs` but its light __init__.

Exit codes shared by the commands: 0 done, 1 done with problems (failed rows, missing
images), 2 a mistake in what was asked (nothing done), 130 interrupted.
"""
from __future__ import annotations

import sys

EXIT_USAGE = 2


def fail(prog: str, message: str, code: int = EXIT_USAGE) -> int:
    """Print `PROG: MESSAGE` on stderr (flushed: a progress line may follow) and return
    `code` for the command's `main` to return; e.g. `return fail("annotate", "...")`."""
    print(f"{prog}: {message}", file=sys.stderr, flush=True)
    return code
