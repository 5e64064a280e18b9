"""`annotate export FEATURES --format FORMAT -o PATH`: the exports from the command line.

A user mistake (no labels yet, no positives for COCO, an unknown format, a folder
that cannot be written) prints one clear message and exits 2, without a traceback;
nothing already written is touched (`tui.export.atomic`).
"""

from __future__ import annotations

import argparse
import os
import sys

from refs.fail import fail
from tui.argtypes import bounded_float
from tui.export.dispatch import FORMATS, default_output


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="annotate export",
        description="Export the labels, the model's scores, the accepted boxes (COCO), "
                    "crops or the model itself. The model is the sampler's classifier, "
                    "refit on the current labels.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="formats:\n" + "\n".join(f"  {k:12} {v}" for k, v in FORMATS.items()))
    p.add_argument("features", metavar="FEATURES", help="the features.h5 file that was labelled")
    p.add_argument("--format", "-f", required=True, metavar="FORMAT",
                   help="one of: " + ", ".join(FORMATS))
    p.add_argument("-o", "--output", metavar="PATH",
                   help="where to write (default: beside FEATURES, e.g. NAME.labels.csv; "
                        "-: standard output)")
    p.add_argument("--labels", metavar="PATH",
                   help="the labels file (default: NAME.labels.sqlite beside FEATURES)")
    p.add_argument("--include-predicted", action="store_true",
                   help="coco: add the boxes nobody judged that the model accepts")
    p.add_argument("--partial-images", action="store_true",
                   help="coco: keep images where some boxes were judged and others not "
                        "(default: only images whose every box is judged, or predicted with "
                        "--include-predicted; a detector learns the rest as background)")
    p.add_argument("--images-root", metavar="DIR",
                   help="coco: file names relative to DIR (default: the refs file's folder, "
                        "as featurize recorded it; paths outside it stay absolute)")
    p.add_argument("--threshold", default="auto", metavar="auto|P",
                   help="coco --include-predicted: accept P(pos) >= P, or auto: the lowest "
                        "threshold reaching --precision by cross-validation (default: auto)")
    p.add_argument("--precision", type=bounded_float(0.0, 1.0, lo_open=True), default=0.95, metavar="P",
                   help="target precision for --threshold auto (default: 0.95)")
    p.add_argument("--category", metavar="NAME",
                   help="coco: the category of every box (default: from the refs metadata)")
    p.add_argument("--context", type=bounded_float(0.0, 10.0), default=0.15, metavar="C",
                   help="imagefolder: share of the box size added on each side, as shown "
                        "while annotating (default: 0.15; 0: the box alone)")
    return p


def _named(exc: OSError, out) -> str:
    """The file an OSError is about: the export's own name rather than its temporary one."""
    name = exc.filename
    if name is None or ".part-" in os.path.basename(os.fspath(name)):
        return str(out)
    return os.fspath(name)


def user_errors() -> tuple[type, ...]:
    from tui.export.atomic import ExportError
    from tui.store.features import FeaturesError
    from tui.store.labels_schema import LabelsError

    return (ExportError, FeaturesError, LabelsError)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    prog = "annotate export"
    if args.format not in FORMATS:
        return fail(prog, f"unknown format {args.format!r}; choose one of {', '.join(FORMATS)}")
    for flag, given in (("--include-predicted", args.include_predicted),
                        ("--partial-images", args.partial_images),
                        ("--images-root", args.images_root is not None)):
        if given and args.format != "coco":
            return fail(prog, f"{flag} is for --format coco, not {args.format}")
    if args.threshold != "auto":
        try:
            t = float(args.threshold)
        except ValueError:
            t = float("nan")
        if not 0.0 <= t <= 1.0:
            return fail(prog, f"--threshold must be auto or a probability in 0..1, "
                              f"got {args.threshold!r}")
    if args.output == "-" and args.format in ("model", "imagefolder"):
        what = "two files (JSON and .npz)" if args.format == "model" else "a folder"
        return fail(prog, f"-o -: format {args.format} writes {what}, which cannot go to "
                          f"standard output; pass a name to write to")
    from tui.export.dispatch import DEFAULT_SUFFIX, run_export

    out = args.output or default_output(args.features, args.format)
    return guarded(prog, out, lambda path: run_export(
        args.format, args.features, path, labels=args.labels,
        include_predicted=args.include_predicted, threshold=args.threshold,
        precision=args.precision, category=args.category, context=args.context,
        partial_images=args.partial_images, images_root=args.images_root),
        DEFAULT_SUFFIX[args.format])


def guarded(prog: str, out, export, suffix: str) -> int:
    """Run `export(path)` as a command: user mistakes and OS errors as one line and exit 2,
    Ctrl-C, SIGTERM and SIGHUP as a line saying nothing was written (the temporary file
    removed); `-` exports to standard output, the messages then go to stderr."""
    from tui.export.atomic import Terminated, terminate_cleanly, via_stdout

    to_stdout = os.fspath(out) == "-"
    shown = "standard output" if to_stdout else out
    try:
        with terminate_cleanly():
            if to_stdout:
                with via_stdout(suffix) as path:
                    res = export(path)
                res.message = res.message.replace(str(path), "standard output")
            else:
                res = export(out)
    except user_errors() as exc:
        return fail(prog, str(exc))
    except BrokenPipeError:
        return 0   # the reader of standard output stopped reading (e.g. head)
    except OSError as exc:
        return fail(prog, f"{_named(exc, shown)}: cannot be written ({exc.strerror or exc})")
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {shown} was not written", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"{prog}: terminated by {exc.name}; {shown} was not written", file=sys.stderr)
        return 128 + exc.signum
    say = sys.stderr if to_stdout else sys.stdout
    for note in res.notes:
        print(note, file=say)
    print(res.message, file=say)
    for warning in getattr(res, "warnings", ()):
        print(f"{prog}: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
