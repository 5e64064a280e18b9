"""`annotate` killed with SIGKILL at random moments, N times, while keys arrive (issue 7).

Each round starts the TUI in tmux on the same labels file, checks that it resumes with the
counts of the file, sends keys at random intervals, reads the screen and kills the process
at a random moment; then checks that every answer the screen acknowledged is in the file and
that `PRAGMA integrity_check` is ok. A final start checks that Backspace undoes the latest
answer (the undo history survives). Prints the figures and writes bench/out/annotate_kill.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from app_fixtures import make_pool  # noqa: E402
from kill_fixtures import run_rounds, undo_after_restart  # noqa: E402

from tui.learn.sampler import default_labels_path  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.annotate_kill")
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--quick", action="store_true", help="20 rounds")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rounds = 20 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        # about 10 answers a round: enough items that the pool never runs out
        features, keys = make_pool(Path(tmp) / "pool", n_files=40, n_boxes=15 * rounds)
        labels = default_labels_path(features)
        t0 = time.perf_counter()
        out = run_rounds(features, labels, len(keys), rounds, seed=args.seed)
        undo_after_restart(features, labels, len(keys))
        out["seconds"] = round(time.perf_counter() - t0, 1)
    summary = {k: v for k, v in out.items() if k != "results"}
    summary["kills_mid_answer"] = sum(1 for r in out["results"]
                                      if r["shown"] and sum(r["after"][:3]) > sum(r["shown"][:3]))
    print(f"annotate_kill: {rounds} SIGKILLs, {summary['answers_in_file']} answers in the file, "
          f"every acknowledged answer kept, integrity ok, resume and undo ok "
          f"({summary['kills_mid_answer']} kills caught an answer written but not yet shown; "
          f"{summary['seconds']} s)")
    Path("bench/out").mkdir(parents=True, exist_ok=True)
    Path("bench/out/annotate_kill.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
