"""Label store figures: record() latency, reads over 100,000 answers, 4 writers at once.

    python -m bench.labels_store [--quick] [--dir DIR]

The 100,000-answer log is filled in one transaction with the same rows record()
writes (answers + current + revision), then checked with verify(), so that the
read figures are taken on a file the store itself considers sound.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import random
import statistics
import tempfile
import time
from pathlib import Path

from tui.store.labels import ANSWERS, LabelStore

OUT = Path(__file__).resolve().parent / "out" / "labels_store.json"


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def timed(fn, repeat=5):
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def bulk_fill(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    keys = [hashlib.blake2b(str(i).encode(), digest_size=10).hexdigest() for i in range(n)]
    s = LabelStore(path, "bench", annotator="bulk")
    c = s._conn
    now = time.time()
    rows = [(rng.choice(keys[: int(n * 0.8)]), rng.choice(ANSWERS), f"p{i % 4}", now + i * 1e-3,
             rng.random(), i // 50, "entropy") for i in range(n)]
    c.execute("BEGIN IMMEDIATE")
    c.executemany("INSERT INTO answers (key, answer, annotator, time, prob, model_version, "
                  "strategy) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    c.execute("UPDATE answers SET undone_at = time + 1 WHERE id % 40 = 0")
    c.execute("UPDATE meta SET value = value + 1 WHERE name = 'revision'")
    c.execute("INSERT OR REPLACE INTO current SELECT key, MAX(id), answer, (SELECT value FROM "
              "meta WHERE name = 'revision') FROM answers WHERE undone_at IS NULL GROUP BY key")
    c.execute("COMMIT")
    s.close()


def worker(args):
    path, name, count, pause = args
    s = LabelStore(path, "bench", annotator=name)
    lat = []
    for i in range(count):
        t = time.perf_counter()
        s.record(f"{name}-{i}", ANSWERS[i % 3], prob=0.5, model_version=1, strategy="entropy")
        lat.append(time.perf_counter() - t)
        if pause:
            time.sleep(pause)
    s.close()
    return lat


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, a few seconds")
    ap.add_argument("--dir", type=Path, default=None, help="folder for the files (a temp dir)")
    a = ap.parse_args(argv)
    n_log = 20_000 if a.quick else 100_000
    n_rec = 200 if a.quick else 2_000
    n_team = 50 if a.quick else 250
    tmp = tempfile.TemporaryDirectory(dir=a.dir)
    d = Path(tmp.name)
    fig: dict = {"command": "python -m bench.labels_store" + (" --quick" if a.quick else ""),
                 "note": "2-core machine shared with other jobs: timings are indicative"}

    s = LabelStore(d / "rec.sqlite", "bench", annotator="me")
    lat = []
    for i in range(n_rec):
        t = time.perf_counter()
        s.record(f"k{i}", ANSWERS[i % 3], prob=0.5, model_version=1, strategy="entropy")
        lat.append(time.perf_counter() - t)
    s.close()
    fig["record_ms"] = {"n": n_rec, "p50": ms(statistics.median(lat)), "p99": ms(pct(lat, .99))}

    path = d / "big.sqlite"
    t = time.perf_counter()
    bulk_fill(path, n_log)
    fig["fill_s"] = round(time.perf_counter() - t, 2)
    s = LabelStore(path, "bench", annotator="p1")
    t = time.perf_counter()
    labels = s.labels()
    fig["answers"] = n_log
    fig["items_labelled"] = len(labels)
    fig["labels_cold_ms"] = ms(time.perf_counter() - t)
    fig["labels_cached_ms"] = ms(timed(s.labels)[0])
    fig["counts_ms"] = ms(timed(s.counts)[0])
    fig["last10_ms"] = ms(timed(lambda: s.last(10))[0])
    fig["last10_annotator_ms"] = ms(timed(lambda: s.last(10, annotator="p2"))[0])
    fig["answers_log_ms"] = ms(timed(s.answers, repeat=2)[0])
    fig["changed_ms"] = ms(timed(s.changed)[0])
    t = time.perf_counter()
    s.record("new-key", "pos")
    fig["record_at_size_ms"] = ms(time.perf_counter() - t)
    t = time.perf_counter()
    labels = s.labels()
    fig["labels_after_record_ms"] = ms(time.perf_counter() - t)
    fig["undo_ms"] = ms(timed(s.undo, repeat=3)[0])
    fig["claim_20_ms"] = ms(timed(lambda: s.claim(list(labels)[:20]))[0])
    fig["leased_by_others_ms"] = ms(timed(s.leased_by_others)[0])
    t = time.perf_counter()
    problems = s.verify()
    fig["verify_ms"] = ms(time.perf_counter() - t)
    fig["verify_problems"] = len(problems)
    s.close()

    ctx = mp.get_context("spawn")
    for pause in (0.0, 0.05):
        p = d / f"team{pause}.sqlite"
        LabelStore(p, "bench", annotator="setup").close()
        t = time.perf_counter()
        with ctx.Pool(4) as pool:
            lats = pool.map(worker, [(p, f"w{i}", n_team, pause) for i in range(4)])
        wall = time.perf_counter() - t
        flat = [x for lat in lats for x in lat]
        key = "team4_tight" if pause == 0 else "team4_paced_50ms"
        fig[key] = {"answers": len(flat), "wall_s": round(wall, 2),
                    "p50_ms": ms(statistics.median(flat)), "p99_ms": ms(pct(flat, .99)),
                    "max_ms": ms(max(flat))}
        fig[key]["verify_problems"] = len(LabelStore(p, "bench", annotator="x").verify())
    tmp.cleanup()

    print(json.dumps(fig, indent=2))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(fig, indent=2) + "\n")
    return fig


if __name__ == "__main__":
    main()
