"""Label efficiency: a simulated annotator answers from true labels (issue 4).

Data: Fashion-MNIST (Debian dataset-fashion-mnist), embedded once with
EfficientNet-Lite0 at 112 px (bench/fmnist_embed.py; a seeded subset of 10,000
train + 2,000 test images: the full 70,000 would take an hour here). Tasks: each
of the 10 classes against the rest, at its natural 10% prevalence and with the
positives subsampled to 1% of the pool. Test AP is measured on the 2,000 test
images at their natural prevalence, for every strategy alike.

Strategies drive the very same functions as the Sampler (tui.learn.strategies.choose,
tui.learn.trainer.Fitter, refit after every answer, as `Sampler.wait_idle()` after
each answer gives), so no SQLite or thread timing enters the figures:
- entropy, maxprob: with the default 10% random share, and `-0` without it;
- random;
- orig-entropy / orig-maxprob: the original tool's loop, re-implemented: logistic
  regression by 10 warm-started full-batch SGD steps (lr 0.1, weight decay 0.01,
  no class weights) every 4 answers, the next 8 items picked at once.

Run: .venv/bin/python -m bench.active_learning [--quick] [--jobs 2]

The full grid takes hours here: each finished run is appended to
bench/out/active_learning_runs.jsonl and skipped when the same command runs
again, seeds come one after another (seed 0 of every task first), and
`--report` summarises what is there without running anything.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.fmnist_embed import CLASSES, load_embeddings
from tui.learn import strategies as S
from tui.learn.quality import average_precision
from tui.learn import ranking, trainer
from tui.learn.ranking import cold_sample
from tui.learn.trainer import DEFAULT_C, Fitter

OUT = Path(__file__).resolve().parent / "out"
ALL = ("entropy", "entropy-0", "maxprob", "maxprob-0", "random", "orig-entropy", "orig-maxprob")


def checkpoints(budget: int) -> list[int]:
    c = list(range(10, 101, 10)) + list(range(125, budget + 1, 25))
    return [x for x in c if x <= budget]


def task_pool(y_train, cls, prevalence, seed):
    """Rows of the training subset used as the pool: all of them at the natural 10%,
    or every negative and a seeded subset of positives making 1%."""
    pos = np.flatnonzero(y_train == cls)
    neg = np.flatnonzero(y_train != cls)
    if prevalence < 0.09:
        rng = np.random.default_rng(1000 + seed)
        k = max(1, round(prevalence / (1 - prevalence) * len(neg)))
        pos = rng.choice(pos, k, replace=False)
    rows = np.sort(np.r_[pos, neg])
    return rows


def _ap(w, b, Xt, yt):
    return average_precision(yt, Xt @ w + b)


def run_ours(X, y, Xt, yt, strategy, share, seed, budget, C, score=None, picked=None,
             stop=None):
    """Our loop: `score(model, positive rows)` gives P(pos) of the pool after each fit
    (NaN where not scored; default: every row); `picked`, a list, receives the rows
    answered, in order (bench/disagreements.py reviews them); `stop(answers so far)` True
    ends the run before the budget (the curve then ends at the last checkpoint reached)."""
    rng = np.random.default_rng(seed)
    n = len(X)
    fitter, model, proba = Fitter(X.shape[1], C), None, None
    answered = np.zeros(n, bool)
    order: list[int] = [] if picked is None else picked
    cold = cold_sample(n, X.__getitem__, seed) if strategy != "random" else None
    cps, ap_curve, version = set(checkpoints(budget)), {}, 0
    for t in range(1, budget + 1):
        cand = ~answered if proba is None else ~answered & ~np.isnan(proba)
        idx, _ = S.choose(strategy, 1, cand, rng, proba=proba, target="pos", random_share=share,
                          cold=cold, answered=t - 1)
        i = int(idx[0])
        answered[i] = True
        order.append(i)
        ys = y[order]
        if ys.any() and not ys.all():
            version += 1
            model = fitter.fit(X[order], ys, version)
            proba = 1 / (1 + np.exp(-(X @ model.w + model.b))) if score is None else \
                score(model, [j for j in order if y[j]])
        if t in cps:
            ap_curve[t] = _ap(model.w, model.b, Xt, yt) if model is not None else float(yt.mean())
        if stop is not None and stop(ys):
            break
    return ap_curve, y[order]


def run_original(X, y, Xt, yt, criterion, seed, budget, lr=0.1, wd=0.01, steps=10,
                 refit_every=4, batch=8):
    rng = np.random.default_rng(seed)
    n, d = X.shape
    w, b = np.zeros(d, np.float32), 0.0
    answered = np.zeros(n, bool)
    order: list[int] = []
    queue: list[int] = []
    cps, ap_curve = set(checkpoints(budget)), {}
    tie = rng.permutation(n)                 # p = 0.5 everywhere at first: ties in random order
    for t in range(1, budget + 1):
        if not queue:
            p = 1 / (1 + np.exp(-(X @ w + b)))
            score = -np.abs(p - 0.5) if criterion == "entropy" else p
            score = np.where(answered, -np.inf, score)
            key = np.lexsort((tie, -score))   # by score, then the random tie order
            queue = [int(i) for i in key[:batch]]
        i = queue.pop(0)
        answered[i] = True
        order.append(i)
        if t % refit_every == 0:
            Xl, yl = X[order], y[order].astype(np.float32)
            for _ in range(steps):           # torch.optim.SGD(lr, weight_decay) on BCE, full batch
                p = 1 / (1 + np.exp(-(Xl @ w + b)))
                g = p - yl
                w = w - lr * (Xl.T @ g / len(yl) + wd * w)
                b = b - lr * float(g.mean())
        if t in cps:
            ap_curve[t] = _ap(w, b, Xt, yt)
    return ap_curve, y[order]


def one_run(args):
    name, cls, prevalence, seed, budget, C = args
    X, y, Xt, yt = load_embeddings(log=None)
    rows = task_pool(y, cls, prevalence, seed)
    Xp, yp = X[rows].astype(np.float32), y[rows] == cls
    Xt, yt = Xt.astype(np.float32), yt == cls
    t = time.time()
    if name.startswith("orig-"):
        curve, answers = run_original(Xp, yp, Xt, yt, name[5:], seed, budget)
    else:
        strategy, share = (name[:-2], 0.0) if name.endswith("-0") else (name, 0.1)
        curve, answers = run_ours(Xp, yp, Xt, yt, strategy, share, seed, budget, C)
    return {"strategy": name, "task": CLASSES[cls], "prevalence": prevalence, "seed": seed,
            "pool": len(rows), "pool_pos": int(yp.sum()),
            "ap": {str(k): v for k, v in curve.items()},
            "found100": int(answers[:100].sum()), "found500": int(answers[:500].sum()),
            "found": np.cumsum(answers).tolist()[::10], "seconds": time.time() - t}


def full_ap(cls, prevalence, seed, C):
    X, y, Xt, yt = load_embeddings(log=None)
    rows = task_pool(y, cls, prevalence, seed)
    m = Fitter(X.shape[1], C).fit(X[rows].astype(np.float32), y[rows] == cls, 0)
    return _ap(m.w, m.b, Xt.astype(np.float32), yt == cls)


def to95(curve: dict, target: float):
    for k in sorted(curve, key=int):
        if curve[k] is not None and curve[k] >= 0.95 * target:
            return int(k)
    return None


def summarise(runs, fulls, strategies, budget):
    """Per (prevalence, strategy): medians over tasks of seed means, and ratios to random."""
    out = {}
    for prev in sorted({r["prevalence"] for r in runs}, reverse=True):
        table = {}
        for s in strategies:
            per_task = {}
            for r in runs:
                if r["strategy"] != s or r["prevalence"] != prev:
                    continue
                full = fulls[f'{r["task"]}|{prev}|{r["seed"]}']
                n95 = to95(r["ap"], full)
                d = per_task.setdefault(r["task"], {"n95": [], "f100": [], "f500": [], "ap": []})
                d["n95"].append(n95 if n95 is not None else 2 * budget)   # censored: 2x budget
                d["f100"].append(r["found100"])
                d["f500"].append(r["found500"])
                d["ap"].append(r["ap"])
            table[s] = {t: {"answers_to_95": float(np.mean(v["n95"])),
                            "found100": float(np.mean(v["f100"])),
                            "found500": float(np.mean(v["f500"])),
                            "ap_curve": {k: float(np.mean([c[k] for c in v["ap"]])) for k in v["ap"][0]}}
                        for t, v in per_task.items()}
        rnd = table.get("random", {})
        rows = {}
        for s, tasks in table.items():
            med = lambda key: float(np.median([v[key] for v in tasks.values()]))  # noqa: E731
            ratio = lambda key: float(np.median([tasks[t][key] / max(rnd[t][key], 1e-9)  # noqa: E731
                                                 for t in tasks if t in rnd])) if rnd else None
            rows[s] = {"answers_to_95": med("answers_to_95"), "found100": med("found100"),
                       "found500": med("found500"), "ratio_answers_to_95": ratio("answers_to_95"),
                       "ratio_found100": ratio("found100"), "ratio_found500": ratio("found500"),
                       "ap_at_budget": med_ap(tasks, budget)}
        out[str(prev)] = {"summary": rows, "per_task": table}
    return out


def versus_original(summary, budget) -> list[str]:
    """The issue's "ours beats the original loop on every task", task by task (seed means):
    entropy (with and without the random share) against orig-entropy by AP at the budget and by
    the mean AP over the curve, maxprob against orig-maxprob by positives found in 100 and in 500
    answers.
    Lines where ours is not ahead ("tie": equal, e.g. both found every positive of the pool)."""
    lines = []
    for prev, data in summary.items():
        t = data["per_task"]
        for ours, theirs in (("entropy", "orig-entropy"), ("entropy-0", "orig-entropy"),
                             ("maxprob", "orig-maxprob"), ("maxprob-0", "orig-maxprob")):
            if ours not in t or theirs not in t:
                continue
            for task in t[ours]:
                a, b = t[ours][task], t[theirs][task]
                if ours.startswith("entropy"):
                    last = str(max(int(k) for k in a["ap_curve"]))
                    pairs = [("AP at %s" % last, a["ap_curve"][last], b["ap_curve"][last]),
                             ("mean AP over the curve", float(np.mean(list(a["ap_curve"].values()))),
                              float(np.mean(list(b["ap_curve"].values()))))]
                else:
                    pairs = [("positives in 100", a["found100"], b["found100"]),
                             ("positives in %d" % min(500, budget), a["found500"], b["found500"])]
                for what, x, y in pairs:
                    if x <= y:
                        how = "tie" if x == y else "behind"
                        lines.append(f"{how}: {float(prev):.0%} {task}: {ours} {what} {x:.3f}, {theirs} {y:.3f}")
    return lines


def med_ap(tasks, budget):
    last = str(max(int(k) for v in tasks.values() for k in v["ap_curve"]))
    return float(np.median([v["ap_curve"][last] for v in tasks.values()]))


def plot(summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(summary), figsize=(6 * len(summary), 4.5), squeeze=False)
    for ax, (prev, data) in zip(axes[0], summary.items()):
        for s, tasks in data["per_task"].items():
            ks = sorted(next(iter(tasks.values()))["ap_curve"], key=int)
            ax.plot([int(k) for k in ks], [np.mean([v["ap_curve"][k] for v in tasks.values()])
                                           for k in ks], label=s,
                    linestyle="--" if s.startswith("orig") else "-")
        ax.set_title(f"Fashion-MNIST one-vs-rest, {float(prev):.0%} positives")
        ax.set_xlabel("answers")
        ax.set_ylabel("test average precision (mean over tasks, seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 tasks, 1 seed, 300 answers")
    ap.add_argument("--tasks", type=int, nargs="*", default=None, help="class indices (default all 10)")
    ap.add_argument("--prevalence", type=float, nargs="*", default=[0.1, 0.01])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--strategies", nargs="*", default=list(ALL), choices=ALL)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--C", type=float, default=DEFAULT_C)
    ap.add_argument("--report", action="store_true",
                    help="summarise the runs already done (complete seeds only); run nothing")
    a = ap.parse_args(argv)
    if a.quick:
        a.tasks, a.seeds, a.budget = a.tasks or [6, 8], 1, 300
    tasks = a.tasks if a.tasks is not None else list(range(10))
    load_embeddings()                                    # embed once before forking
    jobs = [(s, c, p, seed, a.budget, a.C) for seed in range(a.seeds) for p in a.prevalence
            for c in tasks for s in a.strategies]
    t0 = time.time()
    OUT.mkdir(parents=True, exist_ok=True)
    name = "active_learning_quick" if a.quick else "active_learning"
    log = OUT / f"{name}_runs.jsonl"
    done = _done_runs(log)
    todo = [j for j in jobs if _run_id(*j) not in done]
    if a.report:
        seeds = [seed for seed in range(a.seeds)
                 if all(_run_id(*j) in done for j in jobs if j[3] == seed)]
        if not seeds:
            raise SystemExit(f"{log}: no seed has every run done yet ({len(jobs) - len(todo)} of {len(jobs)} runs)")
        jobs, todo = [j for j in jobs if j[3] in seeds], []
        a.seeds = len(seeds)
        print(f"report of {len(seeds)} complete seed(s): {seeds}")
    elif len(todo) < len(jobs):
        print(f"{len(jobs) - len(todo)} of {len(jobs)} runs already in {log}; running the other {len(todo)}")
    seeds_used = sorted({j[3] for j in jobs})
    fulls = {f"{CLASSES[c]}|{p}|{seed}": full_ap(c, p, seed, a.C)
             for p in a.prevalence for c in tasks for seed in seeds_used}
    with ProcessPoolExecutor(a.jobs, initializer=_one_blas_thread) if a.jobs > 1 and todo else _Serial() as ex:
        for job, r in zip(todo, ex.map(one_run, todo)):
            done[_run_id(*job)] = r
            with open(log, "a") as f:
                f.write(json.dumps({"id": _run_id(*job), **r}) + "\n")
            print(f"  {r['strategy']:13s} {r['task']:10s} {r['prevalence']:<5} seed {r['seed']} "
                  f"AP@{a.budget} {r['ap'][str(max(map(int, r['ap'])))]:.3f} "
                  f"found500 {r['found500']} ({r['seconds']:.0f} s)", flush=True)
    runs = [done[_run_id(*j)] for j in jobs]
    summary = summarise(runs, fulls, a.strategies, a.budget)
    plot(summary, OUT / f"{name}.png")
    result = {"args": vars(a), "seconds": time.time() - t0, "full_ap": fulls,
              "summary": summary, "runs": runs}
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1))
    print_table(summary, a.budget)
    behind = versus_original(summary, a.budget)
    result["not_ahead_of_original"] = behind
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1))
    print(f"\nours against the original loop, task by task: ahead on every comparison but {len(behind)}")
    for line in behind:
        print("  " + line)
    print(f"wrote {OUT / (name + '.json')} and {name}.png in {time.time() - t0:.0f} s")


def _one_blas_thread() -> None:
    """Each worker on one core: with --jobs 2 on two cores, every worker's BLAS helper threads
    spun against the other worker (and, reniced, stalled it: 740 s for a 20 s run)."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)


def _run_id(strategy, cls, prevalence, seed, budget, C) -> str:
    """A run's id also names the code it ran, so a change there makes the earlier runs
    stale: for ours and random, tui's picking and fitting modules, the cold-start sample
    (tui.learn.ranking.cold_sample and its sizes) and run_ours;
    for the original loop, run_original; for all, this file's pool and AP functions."""
    code = _CODE["orig" if strategy.startswith("orig-") else "ours"]
    return f"{strategy}|{cls}|{prevalence}|{seed}|{budget}|{C}|{code}"


def _code_fingerprints() -> dict[str, str]:
    import hashlib
    import inspect

    def digest(*parts) -> str:
        h = hashlib.sha256()
        for part in parts + (one_run, task_pool, checkpoints, _ap):
            h.update(part.encode() if isinstance(part, str) else
                     Path(part.__file__).read_bytes() if inspect.ismodule(part) else
                     inspect.getsource(part).encode())
        return h.hexdigest()[:10]
    cold = f"{ranking.COLD_SAMPLE} {ranking.COLD_CLUSTERS}"
    return {"ours": digest(S, trainer, cold_sample, run_ours, cold), "orig": digest(run_original)}


def _done_runs(log: Path) -> dict:
    """Runs finished by earlier invocations (a line cut by a kill is ignored)."""
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[r.pop("id")] = r
    return done


def print_table(summary, budget):
    for prev, data in summary.items():
        print(f"\nprevalence {float(prev):.0%} (medians over tasks of seed means; ratio = ours / random)")
        print(f"{'strategy':13s} {'to95%AP':>8s} {'ratio':>6s} {'found100':>9s} {'ratio':>6s} "
              f"{'found' + str(min(500, budget)):>9s} {'ratio':>6s} {'AP@' + str(budget):>8s}")
        for s, r in data["summary"].items():
            f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            print(f"{s:13s} {r['answers_to_95']:8.0f} {f(r['ratio_answers_to_95']):>6s} "
                  f"{r['found100']:9.1f} {f(r['ratio_found100']):>6s} {r['found500']:9.1f} "
                  f"{f(r['ratio_found500']):>6s} {r['ap_at_budget']:8.3f}")


_CODE = _code_fingerprints()


class _Serial:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, it):
        return map(fn, it)


if __name__ == "__main__":
    main()
