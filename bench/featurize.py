"""How fast featurize is, and how close to the model's own speed.

    python -m bench.featurize [--quick] [--device cpu|cuda] [--precision auto|fp32|bf16]
                              [--models effnet-lite0,dinov2reg-s] [--random-weights] [--images N]
    python -m bench.featurize --kills 50      # SIGKILL at random moments, resume, compare

Figures (items/s, written to bench/out/featurize.json):
- model only: forward passes on ready tensors, same model, batch, precision;
- end to end: the real pipeline (decode in DataLoader workers, draft, crop or
  pool, forward, HDF5 writes with flushes) on real images at several sizes:
  ELPV solar cells (300x300 PNG) and real photos upscaled to 1024 and 2048 px
  (JPEG); efficiency = end to end / model only;
- boxes: 50 boxes per 1024 px image, pool against crop, and both against a
  naive loop (full-size decode, one item a forward pass).
``--random-weights`` builds the real architectures without downloading
(every model but effnet-lite0, whose weights ship offline, is built so)
(registry names, timm ``pretrained=False``): e.g. on a GPU box
``--device cuda --precision bf16 --models siglip2-b16,dinov2reg-b --random-weights``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from featurize.decode import open_image
from featurize.device import resolve_device
from featurize.preprocess import to_tensor
from featurize.run import Options, featurize_store, resolve_precision, autocast
from featurize.store import FeatureStore

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache" / "featurize"
OUT = HERE / "out" / "featurize.json"


# ----------------------------------------------------------------- images


def _photos():
    import sklearn.datasets
    d = Path(sklearn.datasets.__file__).parent / "images"
    return [Image.open(d / n).convert("RGB") for n in ("china.jpg", "flower.jpg")]


def image_set(name: str, n: int) -> list[Path]:
    """Real images, cached under bench/cache (never committed)."""
    folder = CACHE / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = sorted(folder.glob("*.*"))
    if len(paths) >= n:
        return paths[:n]
    for p in paths:
        p.unlink()
    if name == "elpv300":
        from elpv_dataset.utils import load_dataset
        images = load_dataset()[0]
        for i in range(n):
            Image.fromarray(images[i]).save(folder / f"cell{i:04d}.png")
    else:
        side = int(name.replace("photo", ""))
        src = _photos()
        rng = np.random.default_rng(0)
        for i in range(n):
            im = src[i % 2]
            x, y = int(rng.integers(0, 120)), int(rng.integers(0, 80))
            im = im.crop((x, y, x + 500, y + 340)).resize((side, int(side * 0.68)), Image.Resampling.BICUBIC)
            im.save(folder / f"photo{i:04d}.jpg", "JPEG", quality=90)
    return sorted(folder.glob("*.*"))[:n]


def items_for(paths, boxes_per_image: int = 0):
    from refs import Item
    out = []
    rng = np.random.default_rng(1)
    for p in paths:
        if not boxes_per_image:
            out.append(Item(str(p)))
            continue
        w, h = Image.open(p).size
        for _ in range(boxes_per_image):
            x1, y1 = rng.uniform(0, w * 0.8), rng.uniform(0, h * 0.8)
            bw, bh = rng.uniform(24, w * 0.3), rng.uniform(24, h * 0.3)
            out.append(Item(str(p), (round(x1, 1), round(y1, 1), round(min(w, x1 + bw), 1),
                                     round(min(h, y1 + bh), 1))))
    return out


# ----------------------------------------------------------------- models


def backbone(name: str, device, random_weights: bool):
    from featurize.models import load_backbone
    if not random_weights:
        return load_backbone(name, device=device)
    import timm
    from featurize.models import Backbone, _preprocess_from_timm
    from featurize.registry import resolve
    spec = resolve(name)
    if spec.family == "open_clip":
        raise SystemExit(f"--random-weights builds timm registry models; {name} is open_clip")
    torch.manual_seed(0)
    model = timm.create_model(spec.arch.split(".")[0] if spec.family == "effnet" else spec.arch,
                              pretrained=False, num_classes=0, **spec.kwargs).eval().requires_grad_(False)
    pre = spec.preprocess or _preprocess_from_timm(model, name)
    pe = getattr(model, "patch_embed", None)
    patch = int(pe.patch_size[0]) if pe is not None else int(model.feature_info[-1]["reduction"])
    model.to(device)
    return Backbone(name=name, weights_id="random", dim=int(model.num_features), preprocess=pre,
                    patch_size=patch, num_prefix_tokens=int(getattr(model, "num_prefix_tokens", 0)),
                    model=model, device=torch.device(device))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def model_only(bb, batch: int, precision: str, reps: int, pool: bool = False) -> float:
    """items/s of forward passes alone on ready (pinned, on-device) tensors."""
    h, w = bb.preprocess.size
    x = torch.randn(batch, 3, h, w).to(bb.device)
    fn = bb.patch_grid if pool else bb.embed
    with torch.inference_mode(), autocast(bb.device, precision):
        fn(x[:2])
        sync(bb.device)
        t = time.perf_counter()
        for _ in range(reps):
            fn(x)
        sync(bb.device)
    return batch * reps / (time.perf_counter() - t)


def end_to_end(bb, items, mode: str, batch: int, precision: str, workers: int | None, tmp: Path) -> dict:
    attrs = {"model": bb.name, "weights": bb.weights_id, "preprocess": bb.preprocess.to_json(), "box_mode": mode,
             "context": 0.15, "dim": bb.dim, "refs_path": "bench", "refs_sha256": "bench"}
    out = tmp / f"{bb.name}-{mode}-{len(items)}.h5"
    store = FeatureStore.open(str(out), items, attrs, overwrite=True)
    try:
        o = featurize_store(store, items, bb, Options(box_mode=mode, batch_size=batch, workers=workers,
                                                      precision=precision, progress=False))
    finally:
        store.close()
        out.unlink()
    images = len({it.path for it in items})
    n1, t1 = o.first_batch
    steady = (len(items) - n1) / (o.seconds - t1) if o.seconds > t1 and len(items) > n1 else float("nan")
    return {"items": len(items), "images": images, "seconds": round(o.seconds, 2),
            "items_per_s": round(len(items) / o.seconds, 2), "images_per_s": round(images / o.seconds, 2),
            # after the first batch (worker start-up, model warm-up): the pipeline's steady rate
            "steady_items_per_s": round(steady, 2)}


def naive(bb, items, precision: str) -> dict:
    """Full-size decode, crop, one item a forward pass: the loop one writes first."""
    from featurize.decode import crop, grow_box
    t = time.perf_counter()
    with torch.inference_mode(), autocast(bb.device, precision):
        for it in items:
            dec = open_image(it.path)
            im = dec.image if it.box is None else crop(dec, grow_box(it.box, 0.15, dec.size))
            bb.embed(to_tensor(im, bb.preprocess)[None].to(bb.device))
    sync(bb.device)
    s = time.perf_counter() - t
    return {"items": len(items), "seconds": round(s, 2), "items_per_s": round(len(items) / s, 2)}


# ----------------------------------------------------------------- SIGKILL loop


def kill_loop(kills: int, tmp: Path) -> dict:
    """The real command killed with SIGKILL at random moments ``kills`` times
    (resuming after each): every killed file opens with bare h5py, its done
    rows equal the uninterrupted run's, and the last resume completes it."""
    import random
    import signal
    import subprocess
    import sys

    import h5py
    sys.path.insert(0, str(HERE.parent / "tests"))
    from featurize_fixtures import cli_args, env, make_photos, tiny_model, write_refs
    photos = make_photos(tmp / "photos", 6)
    refs_path = write_refs(tmp / "refs.txt", photos, boxes_per_image=30)
    weights = tiny_model(tmp / "tiny")
    extra = ["--box-mode", "crop", "--batch-size", "1", "-q"]
    ref, out = tmp / "ref.h5", tmp / "killed.h5"
    cmd = [sys.executable, "-m", "featurize"]
    t = time.perf_counter()
    subprocess.run([*cmd, *cli_args(refs_path, ref, weights, *extra)], env=env(), check=True,
                   capture_output=True)
    full = time.perf_counter() - t
    with h5py.File(ref, "r") as f:
        want = f["features"][()].astype(np.float32)
    rng = random.Random(0)
    bad, done_at_kill, k, trials = [], [], 0, 0
    while k < kills:
        if out.exists():
            with h5py.File(out, "r", locking=False) as f:
                finished = bool((f["status"][()] == 1).all())
            if finished:  # this trial got through: check it, then start a fresh one
                with h5py.File(out, "r") as f:
                    if float(np.abs(f["features"][()].astype(np.float32) - want).max()) >= 2e-3:
                        bad.append(f"trial {trials}: final file differs")
                out.unlink()
                trials += 1
        p = subprocess.Popen([*cmd, *cli_args(refs_path, out, weights, *extra)], env=env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            p.wait(timeout=rng.uniform(0.0, full))
            if p.returncode != 0:
                bad.append(f"run ended with {p.returncode}")
            continue
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            k += 1
        time.sleep(0.2)  # its DataLoader worker notices and exits
        if out.exists():
            try:
                with h5py.File(out, "r", locking=False) as f:
                    st = f["status"][()]
                    got = f["features"][()].astype(np.float32)
                done = st == 1
                done_at_kill.append(int(done.sum()))
                if np.abs(got[done] - want[done]).max(initial=0) > 2e-3:
                    bad.append(f"kill {k}: a done row differs")
            except Exception as e:  # noqa: BLE001 - the point is to find any
                bad.append(f"kill {k}: unreadable: {e}")
        else:
            done_at_kill.append(-1)  # killed before the file existed
    r = subprocess.run([*cmd, *cli_args(refs_path, out, weights, *extra)], env=env(), capture_output=True,
                       text=True)
    with h5py.File(out, "r") as f:
        final_ok = bool((f["status"][()] == 1).all()) and \
            float(np.abs(f["features"][()].astype(np.float32) - want).max()) < 2e-3
    return {"kills": kills, "trials_completed": trials, "problems": bad, "final_rc": r.returncode,
            "final_equals_uninterrupted": final_ok, "items": int(len(want)),
            "done_rows_at_kills": done_at_kill, "uninterrupted_seconds": round(full, 1)}


# ----------------------------------------------------------------- main


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few images, few repetitions")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="auto")
    p.add_argument("--models", default="effnet-lite0,dinov2reg-s")
    p.add_argument("--random-weights", action="store_true",
                   help="build the real architectures with random weights (no download)")
    p.add_argument("--images", type=int, help="images per set (default 48 quick, 192 full)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--boxes", type=int, default=50)
    p.add_argument("--kills", type=int, help="only the SIGKILL loop: kill the real command N times at "
                                              "random moments, resuming each time (default in full runs: 50)")
    a = p.parse_args(argv)
    if a.kills:
        tmp = Path(tempfile.mkdtemp(prefix="bench-featurize-kill-"))
        try:
            res = kill_loop(a.kills, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(json.dumps(res))
        out = OUT.with_name("featurize_kill.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2))
        return res
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    device = resolve_device(a.device)
    precision = resolve_precision(a.precision, device)
    n = a.images or (48 if a.quick else 160)
    batch = a.batch_size or (16 if device.type == "cpu" else 256)
    reps = 2 if a.quick else 6
    sets = ["elpv300", "photo1024", "photo2048"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-featurize-"))
    result = {"device": str(device), "precision": precision, "batch": batch, "images_per_set": n,
              "cpu_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "models": {}}
    try:
        for name in a.models.split(","):
            random_w = a.random_weights or name != "effnet-lite0"  # only its weights are offline
            bb = backbone(name, device, random_w)
            r = {"random_weights": bool(random_w), "input": list(bb.preprocess.size)}
            r["model_only_items_per_s"] = round(model_only(bb, batch, precision, reps), 2)
            if device.type == "cpu" and precision != "fp32":
                r["model_only_fp32_items_per_s"] = round(model_only(bb, batch, "fp32", reps), 2)
            for s in sets:
                paths = image_set(s, n)
                # model only measured right before and after: the machine's load drifts
                before = model_only(bb, batch, precision, reps)
                e = end_to_end(bb, items_for(paths), "crop", batch, precision, a.workers, tmp)
                after = model_only(bb, batch, precision, reps)
                e["model_only_items_per_s"] = round((before + after) / 2, 2)
                e["efficiency"] = round(e["steady_items_per_s"] / e["model_only_items_per_s"], 3)
                e["efficiency_with_startup"] = round(e["items_per_s"] / e["model_only_items_per_s"], 3)
                r[f"whole_{s}"] = e
                print(f"{name} {s}: end to end {e['steady_items_per_s']} items/s steady "
                      f"({e['items_per_s']} with start-up), model only {e['model_only_items_per_s']} "
                      f"-> efficiency {e['efficiency']}", flush=True)
            # boxes: 50 a 1024 px image
            nb = 2 if a.quick else max(2, n // 8)
            items = items_for(image_set("photo1024", nb), a.boxes)
            r["boxes_pool"] = end_to_end(bb, items, "pool", batch, precision, a.workers, tmp)
            r["boxes_crop"] = end_to_end(bb, items, "crop", batch, precision, a.workers, tmp)
            few = items[: 10 if a.quick else a.boxes]
            r["boxes_naive"] = naive(bb, few, precision)
            r["pool_over_crop"] = round(r["boxes_pool"]["items_per_s"] / r["boxes_crop"]["items_per_s"], 2)
            r["pool_over_naive"] = round(r["boxes_pool"]["items_per_s"] / r["boxes_naive"]["items_per_s"], 2)
            r["crop_over_naive"] = round(r["boxes_crop"]["items_per_s"] / r["boxes_naive"]["items_per_s"], 2)
            print(f"{name} {a.boxes} boxes/image: pool {r['boxes_pool']['items_per_s']} items/s, crop "
                  f"{r['boxes_crop']['items_per_s']}, naive {r['boxes_naive']['items_per_s']} "
                  f"(pool/crop {r['pool_over_crop']}x, pool/naive {r['pool_over_naive']}x)", flush=True)
            result["models"][name] = r
            del bb
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"wrote {OUT}")
    return result


if __name__ == "__main__":
    main()
