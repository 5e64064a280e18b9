"""``featurize REFS -o features.h5``: the command line.

Exit codes: 0 all rows done; 1 some rows failed, the disk filled, or the run
was stopped (the file is intact and resumable); 2 a usage, refs, model or
output-file problem (nothing computed). Messages, never tracebacks, for
anything a user can cause.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from featurize.device import CHOICES as DEVICES
from featurize.options import BOX_MODES, DEFAULT_BOX_MODE, Options
from refs.fail import EXIT_USAGE, fail

EXIT_OK, EXIT_FAILED = 0, 1
#: How featurize's messages start, as argparse's own errors do.
PROG = "featurize: error"


def build_parser() -> argparse.ArgumentParser:
    from featurize.registry import DEFAULT_MODEL
    p = argparse.ArgumentParser(
        prog="featurize",
        description="Embed the images and boxes of a reference list into an HDF5 features file. "
                    "Killed or stopped, the same command resumes where it stopped.")
    p.add_argument("refs", help="reference list: .txt, .csv, .jsonl, COCO .json, or a folder of images")
    p.add_argument("-o", "--output", required=True, help="the features file to write (e.g. features.h5)")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"backbone name (default {DEFAULT_MODEL}); e.g. siglip2-b16, dinov2reg-s, effnet-lite0, "
                        "timm:NAME, open_clip:ARCH:PRETRAINED, hf-hub:ORG/NAME")
    p.add_argument("--weights", help="local weights file or folder, used exactly as a hub download would be")
    p.add_argument("--box-mode", choices=BOX_MODES, default=DEFAULT_BOX_MODE,
                   help="crop: one forward per box (grown by --context); pool: one forward per image, "
                        f"patch tokens under each box averaged (default {DEFAULT_BOX_MODE}: far faster "
                        "with many boxes per image)")
    p.add_argument("--context", type=float, default=0.15,
                   help="crop mode: grow each box by this fraction of its size on each side (default 0.15)")
    p.add_argument("--batch-size", type=int, help="model inputs per batch: crops, or images in pool mode "
                                                  "(default: 256 on CUDA, 64 on MPS, 32 on CPU)")
    p.add_argument("--workers", type=int, help="decoding worker processes (default from the CPU count)")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto: CUDA (cuda:LOCAL_RANK under torchrun), else Apple MPS, else the CPU")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="auto: bf16 on CUDA (fp16 without bf16 support) and on CPUs with bf16 hardware, else fp32")
    p.add_argument("--limit", type=int, help="only the first N items of the list")
    p.add_argument("--box-format", choices=("xyxy", "xywh", "yxyx"), default="xyxy",
                   help="box columns of .txt and .jsonl lists (default xyxy)")
    p.add_argument("--images", help="COCO file listing the images, for COCO detection results")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an output made with another model, box mode, context or refs file")
    p.add_argument("--log-every", type=float, default=30.0,
                   help="seconds between progress lines when the output is not a terminal (default 30)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, only the summary")
    return p


def _validate(args, parser) -> None:
    if args.context < 0 or args.context != args.context:
        parser.error(f"--context must be >= 0, got {args.context}")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.workers is not None and args.workers < 0:
        parser.error(f"--workers must be >= 0, got {args.workers}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be >= 1, got {args.limit}")
    if args.log_every < 0:
        parser.error(f"--log-every must be >= 0, got {args.log_every}")
    out = os.path.abspath(args.output)
    if os.path.isdir(out):
        parser.error(f"-o {args.output} is a folder; name the file to write, e.g. {args.output}/features.h5")
    if not os.path.isdir(os.path.dirname(out)):
        parser.error(f"-o {args.output}: the folder {os.path.dirname(out)} does not exist")
    from featurize.outfile import not_regular
    kind = not_regular(out)  # a device or a FIFO: never written into nor renamed over
    if kind:
        parser.error(f"-o {args.output} is {kind}; name a features file to write, e.g. features.h5")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _validate(args, parser)
    try:
        return _main(args)
    except KeyboardInterrupt:
        return fail(PROG, "stopped before any row was computed; run the same command again to start", 130)


def _main(args) -> int:
    import refs
    from featurize import hub

    t0 = time.monotonic()
    hub.start_probe(args.model, args.weights)  # answered while the list is read and timm imported
    try:
        reflist = refs.read_refs(args.refs, box_format=args.box_format, images=args.images)
    except refs.RefsError as e:
        return fail(PROG, str(e))
    except OSError as e:
        return fail(PROG, f"{args.refs}: {e.strerror or e}")
    for w in reflist.warnings:
        print(f"featurize: warning: {w}", file=sys.stderr)
    if reflist.duplicates:
        print(f"featurize: {len(reflist.duplicates)} duplicate items skipped (same image and box as an "
              f"earlier one; first at {reflist.where(reflist.duplicates[0][0])})", file=sys.stderr)
    items = list(reflist.items)
    if args.limit is not None:
        items = items[:args.limit]
    if not items:
        return fail(PROG, f"{args.refs}: no items to featurize")
    # torch and the models only now: a mistake in the list is said without waiting for them
    from featurize import distributed
    from featurize.device import resolve_device
    from featurize.models import ModelError, load_backbone
    from featurize.run import StopFlag, resolve_precision
    from featurize.store import StoreError, stored_attr

    ctx = distributed.context()
    try:
        device = resolve_device(args.device)
        resume = None if args.overwrite else stored_attr(os.path.abspath(args.output), "precision")
        precision = resolve_precision(args.precision, device, resume)
        backbone = load_backbone(args.model, args.weights, device=device)
    except (ValueError, ModelError) as e:
        return fail(PROG, str(e))
    attrs = {
        "model": args.model, "weights": backbone.weights_id, "preprocess": backbone.preprocess.to_json(),
        "box_mode": args.box_mode, "context": float(args.context), "dim": int(backbone.dim),
        "refs_path": os.path.abspath(args.refs), "refs_sha256": reflist.sha256, "precision": precision,
    }
    opts = Options(box_mode=args.box_mode, context=args.context, batch_size=args.batch_size,
                   workers=args.workers, precision=precision, log_every=args.log_every,
                   progress=not args.quiet and ctx.rank == 0,
                   label="featurize" if ctx.world == 1 else f"featurize[rank {ctx.rank}/{ctx.world}]")
    out_path = os.path.abspath(args.output)
    if ctx.rank == 0:
        print(f"featurize: {len(items)} items, model {args.model} ({backbone.dim}-d, {device}, {precision}), "
              f"box mode {args.box_mode}" + (f", {ctx.world} processes" if ctx.world > 1 else "")
              + f" -> {out_path}", file=sys.stderr, flush=True)
    try:
        with StopFlag() as stop:
            outcome = distributed.featurize(out_path, items, backbone, opts, attrs, ctx,
                                            overwrite=args.overwrite, stop=stop)
    except StoreError as e:
        return fail(PROG, str(e), EXIT_FAILED if getattr(e, "resumable", False) else EXIT_USAGE)
    finally:
        distributed.finish()
    if outcome is None:  # a rank other than 0: rank 0 reports
        return EXIT_OK
    outcome.seconds = time.monotonic() - t0
    return report(outcome, out_path, args)


def report(o, out_path: str, args) -> int:
    """The end summary; returns the exit code."""
    e = sys.stderr
    took = f"{o.seconds:.1f}s"
    print(f"featurize: {out_path}: {o.done} done, {o.failed} failed, {o.pending} pending of {o.total} "
          f"items; {o.clipped} boxes clipped to their image; {o.computed} computed in this run ({took})",
          file=e)
    for path, msg in o.failures:
        print(f"  failed: {path}: {msg}", file=e)
    if o.failed > len(o.failures):
        print(f"  ... and {o.failed - len(o.failures)} more (the `error` dataset holds every message)", file=e)
    if o.interrupted or o.pending:
        print("featurize: stopped; the file is intact. Run the same command again to resume "
              f"({o.pending} items left).", file=e, flush=True)
        return EXIT_FAILED
    if o.failed:
        print("featurize: finished with failed rows (exit code 1); fix or remove those files and run the "
              "same command again to retry them.", file=e, flush=True)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
