"""Checking a multi-class model's labels (issue 16 part 5): `--condition COLUMN`.

Every item carries a claimed label: the prediction of a weak 10-class classifier (a
multinomial logistic regression on 7x7 mean-pooled pixels, fit on 3,000 images of the
train split outside the pool: about 79% right). The question asked of each item is
"is this label wrong?"; whether it is depends on the image *and* the claim. A
simulated annotator answers from the true classes; after each answer the classifier
is refit as the sampler does, with the model shapes of tui.learn.side_model.SHAPES:

- no condition: the image alone (what `annotate` does without --condition);
- offset: the image term plus a per-label offset;
- per-label: one image model per label, nothing shared;
- shared+per-label: a shared image term plus a per-label one, one fit;
- weak-shared+per-label (built, "--condition"): the same with the shared term
  regularised 11x more, so each label leans on it less.

With --condition the picks balance across labels ("unbalanced": the same model, the
usual top-k). Reported: test AP at finding the wrong labels (2,000 test images with
their own claims) after N answers, and wrong labels found in the first N answers;
means over seeds (each seed its own claims: another 3,000 images).

Run: python -m bench.condition [--quick] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.side_common import data, finish, print_table, run, run_jobs, table
from tui.learn.side_inputs import SideInputs, condition_from_values
from tui.learn.side_model import DEFAULT_SHAPE

CHECKPOINTS = (20, 50, 100, 200, 300)
FOUND_AT = (50, 100, 300)
CLASSIFIER_TRAIN = 3000
_DATA = None

#: name: (strategy, shape or None for no condition, balanced picks)
ARMS = {
    "random": ("random", None, True),
    "random --condition": ("random", DEFAULT_SHAPE, True),
    "entropy": ("entropy", None, True),
    "entropy --condition offset": ("entropy", "offset", True),
    "entropy --condition per-label": ("entropy", "per-label", True),
    "entropy --condition shared+per-label": ("entropy", "shared+per-label", True),
    "entropy --condition": ("entropy", DEFAULT_SHAPE, True),
    "entropy --condition unbalanced": ("entropy", DEFAULT_SHAPE, False),
    "maxprob": ("maxprob", None, True),
    "maxprob --condition per-label": ("maxprob", "per-label", True),
    "maxprob --condition shared+per-label": ("maxprob", "shared+per-label", True),
    "maxprob --condition": ("maxprob", DEFAULT_SHAPE, True),
}
QUICK = ("random", "entropy", "entropy --condition offset", "entropy --condition",
         "maxprob", "maxprob --condition")


def claims(px, other_px, other_y, seed):
    """The weak classifier's predicted class for every row, and its accuracy on the pool."""
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(700 + seed)
    tr = rng.choice(len(other_y), CLASSIFIER_TRAIN, replace=False)
    m = LogisticRegression(max_iter=2000).fit(other_px[tr], other_y[tr])
    return m.predict(px)


def one(job):
    global _DATA
    arm, seed, budget = job
    strategy, shape, balance = ARMS[arm]
    if _DATA is None:
        _DATA = data()
    X, y, px, opx, oy, n_pool = _DATA
    claim = claims(px, opx, oy, seed)
    wrong = claim != y
    side = None if shape is None else \
        SideInputs(condition=condition_from_values(claim.tolist(), "claim"))
    t = time.time()
    cps = {c for c in CHECKPOINTS if c <= budget}
    curve, answers = run(X, wrong, n_pool, side, strategy, seed, budget, cps,
                         shape=shape or DEFAULT_SHAPE, balance=balance)
    return {"arm": arm, "seed": seed, "ap": {str(k): v for k, v in curve.items()},
            "found": {str(f): int(answers[:f].sum()) for f in FOUND_AT if f <= budget},
            "claims_right": float(1 - wrong[:n_pool].mean()),
            "wrong_in_test": float(wrong[n_pool:].mean()), "seconds": time.time() - t}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 seed, 100 answers, 6 arms")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--arms", nargs="*", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--jobs", type=int, default=1)
    a = ap.parse_args(argv)
    if a.quick:
        a.seeds, a.budget, a.arms = 1, 100, list(QUICK)
    t0 = time.time()
    jobs = [(arm, seed, a.budget) for seed in range(a.seeds) for arm in a.arms]
    runs = run_jobs(one, jobs, a.jobs, lambda r: print(
        f"  {r['arm']:32s} seed {r['seed']} claims right {r['claims_right']:.2%} "
        f"AP@{max(map(int, r['ap']))} {r['ap'][str(max(map(int, r['ap'])))]:.3f} "
        f"found {list(r['found'].values())} ({r['seconds']:.0f} s)", flush=True))
    cps = [c for c in CHECKPOINTS if c <= a.budget]
    fa = [f for f in FOUND_AT if f <= a.budget]
    rows = table(runs, a.arms, cps, fa)
    right = np.mean([r["claims_right"] for r in runs])
    base = np.mean([r["wrong_in_test"] for r in runs])
    print(f"\nclaims right {right:.1%} of the pool; wrong labels in the test set {base:.1%} "
          f"(the AP of a random order); {a.seeds} seeds, means")
    print_table(rows, cps, fa, what="wrong")
    finish("condition_quick" if a.quick else "condition", a, rows, runs,
           {"claims_right": right, "test_base_rate": base}, t0)


if __name__ == "__main__":
    main()
