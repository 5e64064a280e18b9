"""Do the precision and recall `--include-predicted` prints hold the truth? (issue 15)

For each seed: a Gaussian-mixture pool of 6,000 boxes (or --pool N; 30% positive, one
negative component overlapping the positives) written as a features file, 300 answers to a
real Sampler (entropy, random share 0.25) by a simulated annotator who answers from
the truth, then `annotate export --format coco --include-predicted --precision 0.9`
(tests/pool_sim.py). Measured against the truth of the boxes nobody judged:
- coverage: how often the printed Wilson 95% interval holds the true precision and
  recall of the boxes added (nominal 95%; "too few" runs counted apart);
- mean absolute error of the uniform-pick estimate, and of the cross-validated
  figures on all labels that the export used to print as its estimate.

Run: .venv/bin/python -m bench.threshold_honesty [--quick] [--seeds 40] [--pool 6000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.active_learning import OUT
from tests.pool_sim import annotate, cross_validated, gaussian_pool, printed_figures, true_figures


def one(seed: int, answers: int, share: float, pool: int) -> dict:
    from tui.cli import main

    with tempfile.TemporaryDirectory() as d:
        fp = Path(d) / "features.h5"
        truth = gaussian_pool(fp, n=pool, seed=seed)
        labels = annotate(fp, truth, answers, share, seed=seed)
        out, text = Path(d) / "p.json", io.StringIO()
        with contextlib.redirect_stdout(text):
            rc = main(["export", str(fp), "--format", "coco", "--include-predicted",
                       "--precision", "0.9", "-o", str(out)])
        if rc != 0:
            return {"seed": seed, "rc": rc}
        got, cv = printed_figures(text.getvalue()), cross_validated(text.getvalue())
        m = re.search(r"\((\d+)% of it on average\)", text.getvalue())
        true = dict(zip(("precision", "recall"), true_figures(out, truth, labels)))
    row = {"seed": seed, "rc": 0, "drift_said": int(m[1]) if m else None}
    for i, name in enumerate(("precision", "recall")):
        row[name] = {"true": true[name], "cv": cv[i],
                     "est": got[name][0] if name in got else None,
                     "interval": list(got[name][1:]) if name in got else None}
    return row


def summary(rows: list[dict]) -> dict:
    out = {}
    for name in ("precision", "recall"):
        r = [x[name] for x in rows if x["rc"] == 0]
        told = [x for x in r if x["interval"]]
        out[name] = {
            "runs": len(r), "too_few": len(r) - len(told),
            "coverage": float(np.mean([x["interval"][0] <= x["true"] <= x["interval"][1]
                                       for x in told])) if told else None,
            "mean_width": float(np.mean([x["interval"][1] - x["interval"][0] for x in told]))
            if told else None,
            "mae_uniform_picks": float(np.mean([abs(x["est"] - x["true"]) for x in told]))
            if told else None,
            "mae_cross_validated": float(np.mean([abs(x["cv"] - x["true"]) for x in r])),
        }
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5 seeds")
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--answers", type=int, default=300)
    ap.add_argument("--share", type=float, default=0.25)
    ap.add_argument("--pool", type=int, default=6000)
    a = ap.parse_args(argv)
    seeds = 5 if a.quick else a.seeds
    t0 = time.time()
    rows = [one(s, a.answers, a.share, a.pool) for s in range(seeds)]
    res = {"seeds": seeds, "pool": a.pool, "answers": a.answers, "random_share": a.share,
           "seconds": round(time.time() - t0), "summary": summary(rows), "runs": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"threshold_honesty_{a.pool}" + ("_quick" if a.quick else "")
    (OUT / f"{name}.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res["summary"], indent=1))
    print(f"{seeds} seeds in {res['seconds']} s -> {OUT / name}.json")


if __name__ == "__main__":
    main()
