"""`make demo`: a real sample featurized offline, then the TUI on it.

500 solar-cell images of the ELPV data set (defective or not; CC BY-NC-SA, so
installed at run time, never committed) are copied as PNG into
`demo-out/images/` with a `refs.csv` (the defect probability as a metadata
column), featurized with the offline `effnet-lite0` model, and opened in the
TUI. In a terminal the TUI opens once the first 64 items are featurized, while
featurize goes on in the background (the sampler takes in new rows as they land).
Resumable: images already copied and rows already featurized are kept. When
stdout is not a terminal, featurize runs to the end and the command that opens
the TUI is printed instead.

`--measure` runs the whole demo from scratch inside a tmux session (a real
terminal) and times how long the first image takes to appear on screen.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path("demo-out")
N_ITEMS = 500
SEED = 0


def elpv_labels() -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    """The data set's own label list, read as `elpv_dataset.utils.load_dataset` reads it,
    without decoding all 2,624 images (the demo needs 500 of them)."""
    import elpv_dataset

    fname = Path(elpv_dataset.__file__).parent / "data" / "labels.csv"
    data = np.genfromtxt(fname, dtype=["|S19", "<f8", "|S4"], names=["path", "probability", "type"])
    return fname.parent, np.char.decode(data["path"]), data["probability"], np.char.decode(data["type"])


def write_sample(out: Path, n: int = N_ITEMS, seed: int = SEED) -> Path:
    """Copy `n` cells (a fixed random sample) as PNG and write refs.csv; skip what exists."""
    refs = out / "refs.csv"
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    root, paths, probs, types = elpv_labels()
    pick = np.sort(np.random.default_rng(seed).choice(len(paths), size=n, replace=False))
    lines = ["path,defect_probability,defective,cell_type"]
    for i in pick:
        name = f"cell_{i:04d}.png"
        dst = images / name
        if not dst.exists():
            tmp = dst.with_suffix(".part")
            shutil.copyfile(root / paths[i], tmp)
            os.replace(tmp, dst)  # a killed copy never leaves a half file under the real name
        lines.append(f"images/{name},{probs[i]:.4f},{int(probs[i] >= 0.5)},{types[i]}")
    text = "\n".join(lines) + "\n"
    if not refs.exists() or refs.read_text() != text:
        refs.write_text(text)
    return refs


def featurize_cmd(refs: Path, features: Path) -> list[str]:
    """The featurize CLI as a person runs it (it resumes a partial file by itself)."""
    return [sys.executable, "-m", "featurize", str(refs), "-o", str(features),
            "--model", "effnet-lite0"]


def complete(features: Path) -> bool:
    try:
        import h5py

        with h5py.File(features, "r", locking=False) as f:
            return bool(f.attrs.get("complete", False))
    except Exception:  # missing, or being written: not complete
        return False


def rows_done(features: Path) -> int:
    try:
        import h5py

        with h5py.File(features, "r", locking=False) as f:
            return int((f["status"][:] == 1).sum())
    except Exception:  # not created yet, or caught mid-write: ask again
        return 0


# The task, said on screen; the truth columns stay off it (they would give the answer away).
QUESTION = "Is this solar cell defective?"
TUI_ARGS = ["--question", QUESTION, "--hide-meta", "defective,defect_probability"]


def annotate_command(features: Path) -> list[str]:
    return [sys.executable, "-m", "tui", str(features), *TUI_ARGS]


def run(out: Path, open_tui: bool = True, first_rows: int = 64) -> dict:
    """Prepare the sample and the features; open the TUI when a terminal is there.

    In a terminal the TUI opens as soon as `first_rows` items are featurized: featurize
    keeps going in the background (its log in demo-out/featurize.log) and the sampler
    takes in the new rows as they land. When the TUI closes before featurize is done,
    featurize is stopped; the next `make demo` resumes it."""
    t0 = time.perf_counter()
    refs = write_sample(out)
    t1 = time.perf_counter()
    features = out / "features.h5"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    interactive = open_tui and sys.stdin.isatty() and sys.stdout.isatty()
    figures = {"items": N_ITEMS, "copy_s": round(t1 - t0, 2)}
    if interactive and not complete(features):
        log = open(out / "featurize.log", "ab")
        proc = subprocess.Popen(featurize_cmd(refs, features), env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        print(f"demo: featurizing {N_ITEMS} ELPV cells with effnet-lite0 "
              f"(log: {out}/featurize.log); the TUI opens after the first {first_rows}…",
              flush=True)
        while proc.poll() is None and rows_done(features) < first_rows:
            time.sleep(0.5)
        if proc.poll() not in (None, 0):
            print(f"demo: featurize failed (exit {proc.returncode}); see {out}/featurize.log")
            return figures
        figures["first_rows_s"] = round(time.perf_counter() - t0, 2)
        from tui.cli import main as annotate

        try:
            code = annotate([str(features), *TUI_ARGS])
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
                print(f"demo: featurize stopped at {rows_done(features)} of {N_ITEMS}; "
                      f"`make demo` resumes it")
            log.close()
        figures["exit"] = code
        return figures
    subprocess.run(featurize_cmd(refs, features), env=env, check=True)
    t2 = time.perf_counter()
    figures["featurize_s"] = round(t2 - t1, 2)
    print(f"demo: {N_ITEMS} ELPV cells in {out}/images, features in {features} "
          f"(copy {figures['copy_s']} s, featurize {figures['featurize_s']} s)", flush=True)
    cmd = annotate_command(features)
    if interactive:
        os.execv(cmd[0], cmd)  # the TUI replaces this process: its keys, its exit code
    print("demo: open the TUI with\n  " + shlex.join(cmd))
    return figures


def measure(out: Path, timeout: float = 240.0) -> dict:
    """From scratch in tmux (a real terminal): seconds until the first image is on screen.

    The screen shows the side panel's 'row N of 500 in the file' line only once an image is
    displayed (the app marks it after the frame is painted); we poll capture-pane."""
    shutil.rmtree(out, ignore_errors=True)
    session = f"binlabel-demo-{os.getpid()}"
    cmd = shlex.join([sys.executable, "-m", "bench.demo", "--out", str(out)])
    env_cmd = f"cd {shlex.quote(os.getcwd())} && HF_HUB_OFFLINE=1 BINLABEL_GRAPHICS=halfcell {cmd}"
    t0 = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48",
                    env_cmd], check=True)
    first = None
    try:
        while time.perf_counter() - t0 < timeout:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            if f"of {N_ITEMS} in the file" in screen and "loading" not in screen:
                first = time.perf_counter() - t0
                break
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    return {"first_image_s": None if first is None else round(first, 1), "timeout_s": timeout}


def screenshot(out: Path, dest: Path, answers: int = 60) -> dict:
    """docs/demo.png: the demo in xterm with sixel graphics under Xvfb (a real terminal).

    A separate labels file gets `answers` answers from the data set's own labels first
    (through the Sampler API, as a script would), so the panel shows a trained model."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from xterm_fixtures import XtermSession  # the tests' recipe

    from PIL import Image

    from tui.learn.sampler import Sampler

    features = out / "features.h5"
    labels = out / "screenshot.labels.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(labels) + suffix).unlink(missing_ok=True)
    s = Sampler(str(features), labels=str(labels), seed=0, annotator="demo")
    try:
        for i in range(answers):
            key = s.next()
            meta = s.features.meta(s.features.index_of(key))
            s.record(key, bool(meta.get("defective")))
            if i % 5 == 4:  # as a person would: the model keeps up every few answers
                s.wait_idle(60)
        s.wait_idle(60)
    finally:
        s.close()
    cmd = shlex.join([sys.executable, "-m", "tui", str(features), "--labels", str(labels),
                      "--graphics", "sixel", *TUI_ARGS])
    term = XtermSession(f"cd {shlex.quote(os.getcwd())} && HF_HUB_OFFLINE=1 {cmd}",
                        cols=120, rows=36, font_size=10)
    shot = out / "screenshot-full.png"
    try:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 60:
            time.sleep(1.0)
            rgb = term.screenshot(shot)
            if len(np.unique(rgb[:400, :600].reshape(-1, 3), axis=0)) >= 16:
                break
        term.key("p")  # show the model's probability for the screenshot
        time.sleep(2.0)
        rgb = term.screenshot(shot)
    finally:
        term.close()
    lit = np.argwhere(rgb.sum(axis=2) > 0)
    bottom, right = lit.max(axis=0)[:2]
    dest.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb[: bottom + 1, : right + 1]).save(dest, optimize=True)
    return {"screenshot": str(dest), "size": [int(right + 1), int(bottom + 1)]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.demo", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--no-open", action="store_true", help="prepare only, print the command")
    p.add_argument("--measure", action="store_true",
                   help="time the demo from scratch to the first image, in tmux")
    p.add_argument("--quick", action="store_true", help="with --measure: give up after 120 s")
    p.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="prepare, then save a screenshot of the TUI in xterm (sixel, Xvfb)")
    args = p.parse_args(argv)
    if args.measure:
        figures = measure(args.out, timeout=120.0 if args.quick else 240.0)
        print(f"demo: first image on screen after {figures['first_image_s']} s "
              f"(from an empty {args.out}, in tmux 160x48)")
        Path("bench/out").mkdir(parents=True, exist_ok=True)
        Path("bench/out/demo.json").write_text(json.dumps(figures, indent=1))
        return 0 if figures["first_image_s"] is not None else 1
    if args.screenshot:
        run(args.out, open_tui=False)
        print(f"demo: screenshot {screenshot(args.out, args.screenshot)}")
        return 0
    run(args.out, open_tui=not args.no_open)
    return 0


if __name__ == "__main__":
    sys.exit(main())
