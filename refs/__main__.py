"""``python -m refs check FILE``: read a reference list and say whether it is
ready for a long job. Exit 0 when fine, 1 when problems were found (image
files missing or unreadable, no items), 2 when the list cannot be read."""

from __future__ import annotations

import argparse
import gc
import os
import sys

from refs.check import render, summarize
from refs.errors import RefsError
from refs.fail import fail
from refs.read import read_refs
from refs.source import BOX_FORMATS


#: The help's own sentences; argparse rewraps them (the docstring's first line alone was
#: half a sentence, cut at "whether it is").
DESCRIPTION = ("Read a reference list (.txt, .csv, .jsonl, COCO .json or a folder of images) and "
               "say whether it is ready for a long job.")
EPILOG = ("Exit codes: 0 when the list is fine, 1 when problems were found (image files missing or "
          "unreadable, no items), 2 when the list cannot be read.")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m refs", description=DESCRIPTION, epilog=EPILOG)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="summarise a reference list and find missing images",
                       description="Summarise a reference list before a long job: items, "
                       "images, boxes per image, duplicates, missing or empty image files.",
                       epilog=EPILOG)
    c.add_argument("file", help="a .txt, .csv, .jsonl or COCO .json list, or a folder of images")
    c.add_argument("--box-format", choices=BOX_FORMATS, default="xyxy",
                   help="how .txt and .jsonl boxes are written (default xyxy; yxyx is "
                   "row1 col1 row2 col2)")
    c.add_argument("--images", metavar="FILE",
                   help="COCO file whose images list names the image ids of detection results")
    c.add_argument("--verify-images", action="store_true",
                   help="read every image header and count boxes outside their image")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        refs = read_refs(args.file, box_format=args.box_format, images=args.images)
        gc.freeze()  # a million items, no cycles: keep the collector off them
        summary = summarize(refs, verify_images=args.verify_images)
    except RefsError as e:
        return fail("error", str(e))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    try:
        print(render(summary, args.verify_images), flush=True)
    except BrokenPipeError:  # `| head`: the reader has gone, nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1 if summary.problems else 0


if __name__ == "__main__":
    sys.exit(main())
