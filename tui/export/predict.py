"""`annotate predict MODEL.json FEATURES.h5 -o scores.csv`: apply an exported model.

The model is applied only to features made the same way as those it was trained on
(backbone, weights, preprocessing, box mode, context, dimension); any other file is
refused with a message naming each difference, exit 2. Scores are streamed as in
`annotate export --format scores` (CSV, or HDF5 for an output ending in .h5).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tui.export.cli import guarded


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="annotate predict",
        description="Score every item of a features file with a model written by "
                    "`annotate export --format model`.")
    p.add_argument("model", metavar="MODEL.json", help="the model file (its .npz beside it)")
    p.add_argument("features", metavar="FEATURES", help="a features.h5 made with the same backbone")
    p.add_argument("-o", "--output", metavar="PATH", required=True,
                   help="scores file: .csv, or .h5/.hdf5 for HDF5 (-: CSV to standard output)")
    p.add_argument("--format", choices=("scores", "scores-h5"),
                   help="override the format chosen from the output's extension")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    prog = "annotate predict"
    to_stdout = args.output == "-"
    out = args.output if to_stdout else Path(os.fspath(args.output)).expanduser().absolute()
    fmt = args.format or ("scores-h5" if not to_stdout
                          and out.suffix.lower() in (".h5", ".hdf5") else "scores")
    return guarded(prog, out, lambda path: _predict(args, path, fmt),
                   ".h5" if fmt == "scores-h5" else ".csv")


def _predict(args, out: Path, fmt: str):
    from tui.export.base import open_features
    from tui.export.atomic import ExportError, check_writable
    from tui.export.scores import write_scores
    from tui.export.model_file import load_model

    model = load_model(args.model)
    if out.is_dir():
        raise ExportError(f"{out}: is a folder; pass a file name")
    check_writable(out)
    features = open_features(args.features)
    try:
        model.check_features(features)
        side = model.doc.get("side_inputs")     # the side inputs' columns, applied alike
        res = write_scores(features, model.w, model.b, out, fmt,
                           what=f"{model.path.name} (model v{model.doc.get('model_version')})",
                           proba=model.proba(features) if side else None,
                           question=model.doc.get("question"))
        res.notes[:0] = model.notes
        return res
    finally:
        features.close()

if __name__ == "__main__":
    sys.exit(main())
