"""Key-to-frame latency and bytes per image of the image pane, on a real pseudo-terminal.

A fake terminal of 120x40 cells (10x20 px cells, set with TIOCSWINSZ) runs each app in a pty, sends
a key byte, and times until the last byte of the new frame. Kitty uploads that come after the frame
(the pane transmitting the next images ahead) are not part of the frame; uploads before its end are.
Targets, all in the same run:
  pane            our ImagePane in a minimal app that flips items of a 1,000,000-item features.h5
  textual-image   textual_image.widget's class for the protocol, swapping the image on a key
  app             the full app, `python -m tui FEATURES.h5 --graphics P --labels PATH` (when present)

    python -m bench.tui_latency            # 500 keypresses per target and protocol
    python -m bench.tui_latency --quick    # 50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench.pty_frames import CELL, COLS, ROOT, ROWS, drive

OUT = ROOT / "bench" / "out"
DATA = OUT / "tui_latency"
N_POOL = 1_000_000
PROTOCOLS = ("kitty", "kitty-ids", "sixel", "halfcell", "unicode")

# ---- data: a few hundred real images behind a million rows -----------------------------------------


def build_pool(n_images: int = 200, n_photos: int = 100, n_rows: int = N_POOL, folder: Path = DATA) -> Path:
    """features.h5 (README format) of ``n_rows`` items cycling over real images; cached in bench/out.

    ``n_images`` ELPV solar cells (300x300 grey) and ``n_photos`` 512x512 colour photos cut from
    scikit-learn's two sample photos at random places and scales."""
    import h5py

    path = folder / f"features_{n_rows}.h5"
    if path.exists():
        return path
    from PIL import Image

    img_dir = folder / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    files = []
    try:
        if not n_images:
            raise LookupError("not asked for")
        from elpv_dataset.utils import load_dataset

        cells, *_ = load_dataset()
        for i, arr in enumerate(cells[:n_images]):
            f = img_dir / f"elpv_{i:04d}.png"
            if not f.exists():
                Image.fromarray(arr).save(f)
            files.append(str(f))
    except Exception as error:  # noqa: BLE001 - the photos below still make a valid pool
        print(f"(ELPV images unavailable: {error}; using the scikit-learn photos only)")
    import sklearn.datasets

    photos = Path(sklearn.datasets.__file__).parent / "images"
    sources = [Image.open(photos / "china.jpg"), Image.open(photos / "flower.jpg")]
    cut = np.random.default_rng(2)
    for i in range(n_photos):
        f = img_dir / f"photo_{i:03d}.jpg"
        if not f.exists():
            src = sources[i % 2]
            side = int(cut.uniform(200, 420))
            x, y = int(cut.uniform(0, src.width - side)), int(cut.uniform(0, src.height - side))
            src.crop((x, y, x + side, y + side)).resize((512, 512), Image.Resampling.LANCZOS).save(f, quality=90)
        files.append(str(f))
    from refs.items import item_key

    rng = np.random.default_rng(0)
    paths = [files[i % len(files)] for i in range(n_rows)]
    sizes = {f: Image.open(f).size for f in files}
    # every item distinct (keys are unique): each file once as a whole image, then random boxes
    boxes = np.full((n_rows, 4), np.nan, dtype=np.float32)
    wh = np.array([sizes[p] for p in paths], dtype=np.float32)
    u = rng.random((n_rows, 4)).astype(np.float32)
    x1, y1 = u[:, 0] * wh[:, 0] * 0.6, u[:, 1] * wh[:, 1] * 0.6
    boxes[:] = np.stack([x1, y1, x1 + (0.1 + 0.3 * u[:, 2]) * wh[:, 0], y1 + (0.1 + 0.3 * u[:, 3]) * wh[:, 1]], 1)
    boxes[:len(files)] = np.nan
    keys = [item_key(p, None if np.isnan(b[0]) else tuple(float(v) for v in b)) for p, b in zip(paths, boxes)]
    seen: set = set()
    for i, k in enumerate(keys):
        while k in seen:                    # a collision after rounding: nudge the box
            boxes[i, 2:] += 0.5
            k = keys[i] = item_key(paths[i], tuple(float(v) for v in boxes[i]))
        seen.add(k)
    dim = 16
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        feats = rng.standard_normal((n_rows, dim)).astype(np.float32)
        feats /= np.linalg.norm(feats, axis=1, keepdims=True)
        f["features"] = feats.astype(np.float16)
        f["status"] = np.ones(n_rows, np.int8)
        s = h5py.string_dtype()
        f.create_dataset("error", data=np.array([""] * n_rows, dtype=object), dtype=s)
        f.create_dataset("items/key", data=np.array(keys, dtype=object), dtype=s)
        f.create_dataset("items/path", data=np.array(paths, dtype=object), dtype=s)
        f["items/box"] = boxes
        f.create_dataset("items/meta", data=np.array(["{}"] * n_rows, dtype=object), dtype=s)
        f["items/image_size"] = np.array([sizes[p] for p in paths], dtype=np.int32)
        attrs = dict(format="binlabel.features", format_version=1, uuid=f"bench-{n_rows}", model="synthetic",
                     weights="none", preprocess="{}", box_mode="crop", context=0.15, dim=dim,
                     refs_path="synthetic", refs_sha256="", binlabel_version="0.1.0",
                     created="2026-01-01T00:00:00Z", complete=True)
        f.attrs.update(attrs)
    tmp.rename(path)
    return path


# ---- the minimal apps run in the pty --------------------------------------------------------------


def child_pane(features: str, protocol: str) -> None:
    """ImagePane flipping through random items of the pool, preparing the next three ahead."""
    from concurrent.futures import ThreadPoolExecutor

    import h5py
    from textual.app import App
    from textual.widgets import Static

    from tui.image.graphics import choose_graphics
    from tui.app.image_pane import ImagePane
    from tui.image.render import render_item

    graphics = choose_graphics(protocol.split("-")[0])
    frames = False if protocol == "kitty-ids" else None
    h5 = h5py.File(features, "r")
    order = np.random.default_rng(1).permutation(len(h5["status"]))[:5000]

    class PaneApp(App):
        CSS = "Screen { layout: horizontal; } #side { width: 30; }"
        BINDINGS = [("d", "next", "next"), ("q", "quit", "quit")]

        def compose(self):
            yield ImagePane(graphics, id="pane", frames=frames)
            yield Static("", id="side")

        def on_mount(self):
            self.i, self.ready, self.done, self.wanted = 0, set(), set(), None
            self.pool = ThreadPoolExecutor(1)

        def on_image_pane_resized(self, msg):
            self.ready.clear()
            self.done.clear()
            self.wanted = self.i            # show it as soon as it is prepared
            self.ahead(self.i)

        def ahead(self, start):
            pane = self.query_one(ImagePane)
            size = pane.pixel_size()
            for j in range(start, start + 4):
                if j not in self.ready:
                    self.ready.add(j)
                    self.pool.submit(self.prepare, pane, j, size)

        def prepare(self, pane, j, size):
            row = int(order[j % len(order)])
            box = h5["items/box"][row]
            path = h5["items/path"][row]
            path = path.decode() if isinstance(path, bytes) else path
            pane.prepare(str(j), render_item(path, None if np.isnan(box[0]) else tuple(box), size_px=size))
            self.call_from_thread(self.prepared, j)

        def prepared(self, j):
            self.done.add(j)
            if j == self.i and self.wanted == j:
                self.flip()

        def action_next(self):
            self.i += 1
            self.wanted = self.i
            if self.i in self.done:
                self.flip()

        def flip(self):
            pane = self.query_one(ImagePane)
            pane.show(str(self.i))
            self.wanted = None
            self.query_one("#side", Static).update(f"item {self.i} of {N_POOL:,}")
            if self.i > 0:
                pane.discard(str(self.i - 1))
            self.call_after_refresh(self.ahead, self.i + 1)   # upload after this frame, not before

    PaneApp().run()


def child_textual_image(features: str, protocol: str) -> None:
    """textual-image as it comes: its widget for the protocol, the image swapped on a key."""
    import h5py
    from textual.app import App
    from textual.widgets import Static
    from textual_image import widget as tiw

    cls = {"kitty": tiw.TGPImage, "sixel": tiw.SixelImage, "halfcell": tiw.HalfcellImage,
           "unicode": tiw.UnicodeImage}[protocol]
    h5 = h5py.File(features, "r")
    order = np.random.default_rng(1).permutation(len(h5["status"]))[:5000]

    def path(j):
        p = h5["items/path"][int(order[j % len(order)])]
        return p.decode() if isinstance(p, bytes) else p

    class BaseApp(App):
        CSS = "Screen { layout: horizontal; } #img { width: 1fr; height: 1fr; } #side { width: 30; }"
        BINDINGS = [("d", "next", "next"), ("q", "quit", "quit")]

        def compose(self):
            self.i = 0
            yield cls(path(0), id="img")
            yield Static("", id="side")

        def action_next(self):
            self.i += 1
            self.query_one("#img").image = path(self.i)
            self.query_one("#side", Static).update(f"item {self.i}")

    BaseApp().run()


def summary(res: dict) -> dict:
    lat = np.array(res["latency_ms"] or [np.nan])
    at = np.array(res["bytes_at_key"] or [0])
    per = np.array(res["bytes_per_key"] or [0])
    return dict(n=res["n"], p50_ms=round(float(np.percentile(lat, 50)), 1),
                p95_ms=round(float(np.percentile(lat, 95)), 1), max_ms=round(float(lat.max()), 1),
                at_key_p50_kb=round(float(np.percentile(at, 50)) / 1000, 1),
                at_key_p95_kb=round(float(np.percentile(at, 95)) / 1000, 1),
                per_image_kb=round(float(per.mean()) / 1000, 1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50 keypresses per run")
    ap.add_argument("--keys", type=int, default=None)
    ap.add_argument("--targets", default="pane,textual-image,app")
    ap.add_argument("--protocols", default=",".join(PROTOCOLS))
    ap.add_argument("--rows", type=int, default=N_POOL, help="items in the synthetic pool")
    ap.add_argument("--think", type=float, default=0.1,
                    help="seconds from the end of a frame to the next key (default 0.1: faster "
                         "than any person; 0.6 is a brisk annotator)")
    ap.add_argument("--child", choices=("pane", "textual-image"), help=argparse.SUPPRESS)
    ap.add_argument("--graphics", help=argparse.SUPPRESS)
    ap.add_argument("--features", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child == "pane":
        child_pane(args.features, args.graphics)
        return 0
    if args.child == "textual-image":
        child_textual_image(args.features, args.graphics)
        return 0
    n_keys = args.keys or (50 if args.quick else 500)
    t = time.time()
    features = build_pool(n_rows=args.rows)
    print(f"pool: {features} ({args.rows:,} items, ready in {time.time() - t:.1f}s); {n_keys} keys per run, {args.think} s between a frame and the next key")
    has_app = (ROOT / "tui" / "__main__.py").exists()
    results: dict = {}
    for target in args.targets.split(","):
        if target == "app" and not has_app:
            print("app: tui/__main__.py not present, skipped")
            continue
        for proto in args.protocols.split(","):
            if proto == "kitty-ids" and target != "pane":
                continue      # the same protocol as kitty there: only our pane has the two modes
            if target == "app":
                labels = DATA / f"labels_{proto}.sqlite"
                for stale in DATA.glob(f"labels_{proto}.sqlite*"):
                    stale.unlink()
                cmd = [sys.executable, "-m", "tui", str(features), "--graphics", proto, "--labels", str(labels)]
            else:
                cmd = [sys.executable, "-m", "bench.tui_latency", "--child", target, "--graphics", proto,
                       "--features", str(features)]
            try:
                res = drive(cmd, n_keys, term="xterm-kitty" if proto == "kitty" else "xterm-256color",
                            think=args.think)
            except Exception as error:  # noqa: BLE001 - report and go on with the other runs
                print(f"{target:14s} {proto:9s} failed: {error}")
                results[f"{target}/{proto}"] = {"error": str(error)}
                continue
            s = summary(res)
            results[f"{target}/{proto}"] = s
            print(f"{target:14s} {proto:9s} p50 {s['p50_ms']:7.1f} ms  p95 {s['p95_ms']:7.1f} ms  "
                  f"at key p95 {s['at_key_p95_kb']:8.1f} KB  per image {s['per_image_kb']:8.1f} KB  (n={s['n']})")
    OUT.mkdir(parents=True, exist_ok=True)
    meta = dict(keys=n_keys, terminal=f"{COLS}x{ROWS} cells of {CELL[0]}x{CELL[1]} px, fake pty",
                cpus=os.cpu_count(), command="python -m bench.tui_latency" + (" --quick" if args.quick else ""))
    (OUT / "tui_latency.json").write_text(json.dumps(dict(meta=meta, results=results), indent=2))
    print(f"written {OUT / 'tui_latency.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
