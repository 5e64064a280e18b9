"""`annotate`: the command line of the TUI (and, later, of its subcommands).

`annotate FEATURES [options]` opens the TUI. Subcommands (`annotate export ...`,
`annotate predict ...`) are added by naming a module in `SUBCOMMANDS`; each
module has its own `main(argv) -> int`. A features file literally named like a
subcommand is opened as `annotate ./export`.

A user mistake (a missing or invalid features file, a labels file of another
features file) prints one clear message and exits 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from refs.fail import fail
from tui.app.keys import epilog
from tui.argtypes import bounded_float, bounded_int

# name -> module with `main(argv) -> int`; other issues add theirs here.
SUBCOMMANDS: dict[str, str] = {"export": "tui.export.cli", "predict": "tui.export.predict",
                               "backup": "tui.export.backup"}

GRAPHICS = ("auto", "kitty", "sixel", "halfcell", "unicode")


def tui_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="annotate",
        description="Label the items of a features file with one key each; a model "
                    "learns from the answers and picks the next item.",
        epilog=epilog() + (f" Subcommands: {', '.join(sorted(SUBCOMMANDS))}."
                           if SUBCOMMANDS else ""))
    p.add_argument("features", metavar="FEATURES", help="the features.h5 file to label")
    p.add_argument("--question", metavar="TEXT",
                   help="what D (yes) and A (no) answer, e.g. 'Is this cell defective?': kept "
                        "in the labels file, shown to everyone who opens it, and written into "
                        "every export (default: the labels file's question, if any)")
    p.add_argument("--set-question", action="store_true",
                   help="change the labels file's question to --question TEXT (without it a "
                        "different question is refused)")
    p.add_argument("--show-meta", metavar="COL,...",
                   help="show only these metadata columns beside the image")
    p.add_argument("--hide-meta", metavar="COL,...",
                   help="hide these metadata columns (for one, columns that give the answer "
                        "away)")
    p.add_argument("--seed", action="append", metavar="PATH_OR_REFS",
                   help="known positives to start from (repeatable): an image, or a reference "
                        "list; items of the file are shown first (an answer only when you give "
                        "one), other images are embedded with the file's model; their nearest "
                        "neighbours come next, mixed with the strategy's picks")
    p.add_argument("--labels", metavar="PATH",
                   help="the labels file (default: NAME.labels.sqlite beside FEATURES.h5)")
    p.add_argument("--strategy", choices=("entropy", "maxprob", "random"), default="entropy",
                   help="how the next item is picked (default: entropy)")
    p.add_argument("--target", choices=("pos", "neg"), default="pos",
                   help="the class maxprob looks for first (default: pos)")
    p.add_argument("--prior", metavar="COLUMN",
                   help="a metadata column holding a score to start from, such as a detector's "
                        "score or a classifier's confidence: the first picks follow it (maxprob: "
                        "highest first) and the classifier takes it as an input; values outside "
                        "0..1 count by their rank, missing ones get the column's median")
    p.add_argument("--condition", metavar="COLUMN",
                   help="a metadata column holding a claimed label, when the question is "
                        "whether that label is right (checking a multi-class model's labels): "
                        "the classifier judges the image together with the label, and the "
                        "picks balance across labels")
    p.add_argument("--annotator", metavar="NAME",
                   help="who answers, stored with every answer (default: the login name)")
    p.add_argument("--session", metavar="NAME",
                   help="name this session: Backspace undoes only this session's answers, "
                        "and after a restart only when the same --session NAME is given "
                        "again (default: a new session each run)")
    p.add_argument("--graphics", choices=GRAPHICS, default=None,
                   help="how images are drawn (default: $BINLABEL_GRAPHICS or auto: ask the "
                        "terminal)")
    p.add_argument("--random-share", type=bounded_float(0.0, 1.0), default=0.1, metavar="SHARE",
                   help="share of random picks mixed in, 0 to 1 (default: 0.1)")
    p.add_argument("--attach", action="store_true",
                   help="use a labels file made for another features file (re-featurized "
                        "items keep their labels by key)")
    p.add_argument("--view", choices=("crop", "whole"), default="crop",
                   help="start with the crop around the box or the whole image")
    p.add_argument("--colors", type=bounded_int(2, 256), default=None, metavar="N",
                   help="palette size of the images sent, 2 to 256: fewer is smaller and "
                        "coarser, for slow links (default: kitty true colour, lossless; sixel "
                        "256, every grey level kept)")
    p.add_argument("--max-px", type=bounded_int(0), default=None, metavar="PX",
                   help="kitty: the longest side sent, the terminal scales it up (default 720; "
                        "0: the pane's full pixels)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return int(importlib.import_module(SUBCOMMANDS[argv[0]]).main(argv[1:]) or 0)
    args = tui_parser().parse_args(argv)
    return run_tui(args)


def run_tui(args) -> int:
    from tui.store.features import FeaturesError
    from tui.store.labels_schema import LabelsError

    path = Path(args.features)
    if not path.exists():
        return fail("annotate", f"{path}: no such file; pass the features.h5 that featurize wrote")
    if path.is_dir():
        return fail("annotate", f"{path}: is a folder; pass the features.h5 file inside it")
    from tui.learn.niceness import background_nice
    try:
        background_nice()
    except ValueError as exc:
        return fail("annotate", str(exc))
    from tui.learn.sampler import Sampler
    from tui.learn.side_inputs import SideInputError
    from tui.store.task import clean_question

    if args.question is not None:
        try:  # a mistake in the question is said before any file is opened
            args.question = clean_question(args.question)
        except ValueError as exc:
            return fail("annotate", str(exc))
    try:
        sampler = Sampler(str(path), labels=args.labels, strategy=args.strategy,
                          target=args.target, random_share=args.random_share,
                          annotator=args.annotator, attach=args.attach,
                          session=args.session, prior=args.prior, condition=args.condition,
                          keep_ahead=2)  # the app prepares the next picks: keep them
    except (FeaturesError, LabelsError, SideInputError) as exc:
        return fail("annotate", str(exc))
    except OSError as exc:
        return fail("annotate", f"{path}: cannot be read as a features file ({exc})")
    for note in sampler.side.notes if sampler.side is not None else ():
        print(f"annotate: {note}", file=sys.stderr)      # said once, left above the app
    try:
        from tui.app.meta_columns import meta_columns
        from tui.store.task import settle_question

        try:
            question = settle_question(sampler.store, args.question, args.set_question)
            columns = meta_columns(sampler.features, args.show_meta, args.hide_meta)
        except (ValueError, LabelsError) as exc:
            return fail("annotate", str(exc))
        from tui.seeds import SeedError, start_from_seeds, words_for  # issue 16: seeds, words
        try:
            if args.seed:
                start_from_seeds(sampler, args.seed)
        except SeedError as exc:
            return fail("annotate", str(exc))
        from tui.app.app import AnnotateApp
        from tui.image.graphics import choose_graphics

        try:  # before the app starts, so that no terminal reply is read as a key
            graphics = choose_graphics(requested=args.graphics or "auto")
        except ValueError as exc:
            return fail("annotate", str(exc))
        missing = no_terminal()
        if missing:
            return fail("annotate", missing)
        # The terminal's own size, not a copy in the environment: Textual asks shutil, which
        # prefers $COLUMNS/$LINES, and a shell or tmux that exported them at another size
        # (a pane started at 80x24, then resized) had the app draw at that size for ever.
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)
        _start_helpers(graphics)
        app = AnnotateApp(sampler, graphics, view=args.view, max_px=args.max_px,
                          colors=args.colors, question=question, meta_columns=columns,
                          words=words_for(sampler.features))
        app.run()
    finally:
        sampler.close()
        if sampler.unsaved_file is not None:
            print(f"annotate: the labels file stayed locked; the answers not yet saved are in "
                  f"{sampler.unsaved_file} and will be recorded the next time annotate opens "
                  f"{sampler.labels_path}", file=sys.stderr)
    # an error inside the app (Textual printed it) must not look like success to a script
    return app.return_code or 0


def no_terminal() -> str:
    """Why annotate cannot run here ("" when it can): it needs a terminal on both ends.

    Without one the app would draw escape codes into a file or a pipe until killed
    (`ssh host annotate` without -t), or draw screens that no key can reach."""
    ends = [name for name, stream in (("input", sys.stdin), ("output", sys.stdout))
            if stream is None or not _isatty(stream)]
    if not ends:
        return ""
    return (f"the standard {' and '.join(ends)} {'is' if len(ends) == 1 else 'are'} not a "
            f"terminal, and annotate is an interactive program. Over SSH use `ssh -t HOST "
            f"annotate ...`, or run it inside tmux or screen; to export labels without a "
            f"terminal use `annotate export`.")


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (ValueError, OSError, AttributeError):
        return False


def _start_helpers(graphics) -> None:
    """Start the sixel encoder's helper process now, while the app starts (spawning
    takes about a second), rather than when the first image is encoded. The encoder
    can also start it from inside the app by itself (tests/test_image_pane.py)."""
    if graphics.protocol != "sixel":
        return
    try:
        from PIL import Image

        from tui.image import encoders

        encoders.sixel_encode_away(Image.new("RGB", (6, 6)))
    except Exception:  # the encoder falls back to this process by itself
        pass


if __name__ == "__main__":
    sys.exit(main())
