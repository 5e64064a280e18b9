"""Shared by tests/test_featurize*.py: real photos, a tiny real-architecture
model, refs files, and ways to run the real command (in-process or as a
subprocess)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TINY_MODEL = "timm:vit_small_patch14_reg4_dinov2"


def sample_photos() -> list[Path]:
    """scikit-learn's two real photos (640x427 JPEG), shipped offline."""
    import sklearn.datasets
    d = Path(sklearn.datasets.__file__).parent / "images"
    return [d / "china.jpg", d / "flower.jpg"]


def make_photos(folder: Path, n: int = 6) -> list[Path]:
    """``n`` real JPEG photos of different sizes (crops and rescales of the
    sample photos), so that draft decoding and box mapping are exercised."""
    folder.mkdir(parents=True, exist_ok=True)
    src = [Image.open(p).convert("RGB") for p in sample_photos()]
    out = []
    for i in range(n):
        im = src[i % 2]
        w, h = im.size
        box = (i * 17 % 80, i * 11 % 60, w - i * 13 % 70, h - i * 7 % 50)
        im = im.crop(box)
        scale = (1.0, 0.6, 1.7, 0.8, 2.2, 1.3)[i % 6]
        im = im.resize((int(im.width * scale), int(im.height * scale)), Image.Resampling.BICUBIC)
        p = folder / f"photo{i}.jpg"
        im.save(p, "JPEG", quality=88)
        out.append(p)
    return out


def boxes_for(path: Path, k: int) -> list[tuple[float, float, float, float]]:
    w, h = Image.open(path).size
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    out = []
    for _ in range(k):
        x1, y1 = rng.uniform(0, w * 0.7), rng.uniform(0, h * 0.7)
        bw, bh = rng.uniform(16, w * 0.4), rng.uniform(16, h * 0.4)
        out.append((round(x1, 1), round(y1, 1), round(min(w, x1 + bw), 1), round(min(h, y1 + bh), 1)))
    return out


def write_refs(path: Path, photos, boxes_per_image: int = 2, whole: bool = True) -> Path:
    lines = []
    for p in photos:
        if whole:
            lines.append(f'"{p}"')
        for b in boxes_for(p, boxes_per_image):
            lines.append(f'"{p}" ' + " ".join(str(v) for v in b))
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_model(folder: Path) -> Path:
    """A tiny random-weight DINOv2-reg (timm folder), through --weights."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_models import tiny_dinov2reg
    if not (folder / "model.safetensors").exists():
        tiny_dinov2reg(folder)
    return folder


def cli_args(refs: Path, out: Path, weights: Path, *extra: str) -> list[str]:
    return [str(refs), "-o", str(out), "--model", TINY_MODEL, "--weights", str(weights),
            "--precision", "fp32", "--device", "cpu", *extra]


def env() -> dict:
    e = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    e.pop("WORLD_SIZE", None)
    return e


def run_sub(args: list[str], **kw) -> subprocess.CompletedProcess:
    """The real command as a user starts it: ``python -m featurize ARGS``."""
    return subprocess.run([PY, "-m", "featurize", *args], capture_output=True, text=True, env=env(),
                          cwd=str(ROOT), timeout=240, **kw)


def read(out: Path) -> dict:
    """Everything in a features file, with bare h5py."""
    with h5py.File(out, "r") as f:
        d = {k: f[k][()] for k in ("features", "status")}
        d["error"] = f["error"].asstr()[()]
        for k in ("key", "path", "meta"):
            d[k] = f["items/" + k].asstr()[()]
        d["box"] = f["items/box"][()]
        d["image_size"] = f["items/image_size"][()]
        d["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return d


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
