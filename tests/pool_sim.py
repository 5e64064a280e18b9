"""A simulated annotation job for the threshold estimates (issue 15, item 3): a seeded
Gaussian-mixture pool of boxes written as a real features file, a real Sampler whose
picks a simulated annotator answers from the truth, and the truth about the COCO
export that follows. Shared by tests/test_threshold_honesty.py and
bench/threshold_honesty.py."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from h5fixtures import write_features  # noqa: E402

#: Mixture weights of the components; components 0 and 1 are the positives (30%),
#: 2 overlaps them (the model's mistakes), the rest are easy negatives.
WEIGHTS = (0.18, 0.12, 0.25, 0.2, 0.15, 0.1)


def gaussian_pool(path, n: int = 1500, d: int = 16, seed: int = 0) -> dict[str, bool]:
    """Write the pool (each item a box, five to an image) and return key -> truth."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (len(WEIGHTS), d)) * 1.2
    centres[2] = 0.6 * centres[0] + 0.4 * centres[2]          # a negative near a positive
    comp = rng.choice(len(WEIGHTS), n, p=WEIGHTS)
    X = centres[comp] + rng.normal(0, 1, (n, d))
    boxes = [[i % 5 * 10, 0, i % 5 * 10 + 8, 8] for i in range(n)]
    paths = [f"/data/img_{i // 5:05d}.jpg" for i in range(n)]
    keys = write_features(path, X, boxes=boxes, paths=paths)
    return dict(zip(keys, (comp < 2).tolist()))


def annotate(fp, truth: dict, answers: int, random_share: float, seed: int = 0) -> dict:
    """A person answering `answers` picks of the real Sampler (entropy, the given random
    share) by the truth, the model refit after every answer; returns key -> answer."""
    from tui.learn.sampler import Sampler

    s = Sampler(fp, seed=seed, poll=0.2, random_share=random_share)
    got = {}
    try:
        for _ in range(answers):
            k = s.next()
            s.record(k, truth[k])
            got[k] = "pos" if truth[k] else "neg"
            s.wait_idle(60)
    finally:
        s.close()
    return got


def annotate_steps(fp, truth: dict, answers: int, random_share: float, seed: int = 0) -> dict:
    """As `annotate`, deterministically: the Sampler's choice (tui.learn.strategies.choose,
    entropy with the random share) and classifier (refit after every answer, as
    `Sampler.wait_idle()` after each answer gives), without its threads, whose timing
    under load changes the picks. Until both classes are seen, the Sampler's cold start:
    medoids (tagged coldstart) alternating with uniform picks (tagged random, and so
    counted as uniform random picks by the export's pool estimate, as they are).
    Answers go to the labels file beside `fp` with the strategy of each pick."""
    from tui.export.base import refit
    from tui.learn import strategies as S
    from tui.learn.ranking import cold_sample
    from tui.learn.sampler import default_labels_path
    from tui.store.features import FeatureFile
    from tui.store.labels import LabelStore

    rng = np.random.default_rng(seed)
    got = {}
    with FeatureFile(fp) as f, LabelStore(default_labels_path(fp), f.id,
                                          has_key=f.__contains__) as st:
        X = f.rows(np.arange(f.n))
        y = np.asarray([truth[k] for k in f.keys], bool)
        free = f.done.copy()
        model, version = None, 0
        cold = cold_sample(f.n, X.__getitem__, seed)
        for t in range(answers):
            seen = ~free & f.done
            proba = None
            if y[seen].any() and not y[seen].all():
                version += 1
                model = refit(X[seen], y[seen], version)
                proba = model.proba(X)
            rows, tags = S.choose("entropy", 1, free, rng, proba=proba, random_share=random_share,
                                  cold=cold, answered=t)
            i, tag = int(rows[0]), tags[0]
            st.record(f.key(i), "pos" if y[i] else "neg",
                      prob=None if proba is None else float(proba[i]),
                      model_version=None if model is None else version, strategy=tag)
            got[f.key(i)] = "pos" if y[i] else "neg"
            free[i] = False
    return got


FIGURE = re.compile(r"(precision|recall) (\d\.\d+) \[(\d\.\d+), (\d\.\d+)\]")


def printed_figures(text: str) -> dict[str, tuple[float, float, float]]:
    """name -> (estimate, low, high) of the pool estimate the export printed."""
    part = text.split("on the boxes nobody judged", 1)[1]
    return {m[1]: (float(m[2]), float(m[3]), float(m[4])) for m in FIGURE.finditer(part)}


def cross_validated(text: str) -> tuple[float, float]:
    """(precision, recall) the cross-validation on all labels gave (the old report)."""
    m = re.search(r"\((\d\.\d+) there, recall (\d\.\d+)", text)
    return float(m[1]), float(m[2])


def true_figures(coco_path, truth: dict, labels: dict) -> tuple[float, float]:
    """The predicted boxes' true precision, and the share of the unjudged positives they
    hold (recall), from the COCO file written."""
    doc = json.loads(Path(coco_path).read_text())
    pred = {a["key"] for a in doc["annotations"] if a["predicted"]}
    open_pos = {k for k, t in truth.items() if t and k not in labels}
    prec = sum(truth[k] for k in pred) / len(pred)
    return prec, len(pred & open_pos) / len(open_pos)
