"""Fidelity of the pictures the terminal receives, at the size a 1000x700 px pane gets.

What reaches the screen is judged on the bytes sent: sixel decoded by an independent
decoder (tests/sixel_decoder.py), kitty's PNG by Pillow; each against the picture the app
rendered. The defaults of this build and the defaults before it (sixel 40 colours and
kitty 256, both by Pillow's fast octree) side by side, on ELPV solar cells (greyscale,
faint cracks) and scikit-learn's two colour photos.

    python -m bench.fidelity          # writes bench/out/fidelity.json
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from sixel_decoder import decode, psnr  # noqa: E402

from tui.image import encoders  # noqa: E402
from tui.app.image_pane import DEFAULT_COLORS, DEFAULT_MAX_PX  # noqa: E402

PANE = (1000, 696)


def pictures():
    from elpv_dataset.utils import load_dataset
    from sklearn.datasets import load_sample_images

    cells, _, _ = load_dataset()
    out = [(f"ELPV cell {i}", Image.fromarray(cells[i]).convert("RGB")) for i in (0, 5, 11)]
    out += [(name, Image.fromarray(p)) for name, p in
            zip(("photo china", "photo flower"), load_sample_images().images)]
    return out


def old_sixel(canvas, colors=40):
    from textual_image._sixel import SixelOptions, image_to_sixels

    return image_to_sixels(canvas, SixelOptions(colors=colors))


def old_kitty(canvas, colors=256):
    pic = canvas.quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    pic.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def levels(rgb: np.ndarray) -> int:
    return len(np.unique(rgb.reshape(-1, 3), axis=0))


def measure(name: str, image: Image.Image) -> list[dict]:
    rows = []
    canvas = encoders.letterbox(image, PANE)
    ref = np.asarray(canvas)
    for label, encode in (("sixel, before (40, octree)", old_sixel),
                          ("sixel, now", lambda c: encoders.sixel_encode(c, DEFAULT_COLORS["sixel"]))):
        t0 = time.perf_counter()
        data = encode(canvas)
        took = time.perf_counter() - t0
        rgb, mask, _ = decode(data)
        rows.append(dict(picture=name, path=label, bytes=len(data.encode()), psnr=psnr(rgb, ref),
                         colours_sent=levels(rgb), colours_source=levels(ref),
                         encode_ms=round(took * 1e3), all_pixels_set=bool(mask.all())))
    scale = min(1.0, DEFAULT_MAX_PX["kitty"] / max(PANE))
    kc = encoders.letterbox(image, (round(PANE[0] * scale), round(PANE[1] * scale)))
    kref = np.asarray(kc)
    for label, encode in (("kitty, before (256, octree, 768 px)", None),
                          ("kitty, now", lambda c: encoders.kitty_payload(
                              c, "png", DEFAULT_COLORS["kitty"])[1])):
        if encode is None:
            c768 = encoders.letterbox(image, (768, round(PANE[1] * 768 / PANE[0])))
            t0 = time.perf_counter()
            data, ref_k = old_kitty(c768), np.asarray(c768)
        else:
            t0 = time.perf_counter()
            data, ref_k = encode(kc), kref
        took = time.perf_counter() - t0
        got = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        rows.append(dict(picture=name, path=label, bytes=len(data), psnr=psnr(got, ref_k),
                         colours_sent=levels(got), colours_source=levels(ref_k),
                         encode_ms=round(took * 1e3), all_pixels_set=True))
    return rows


def main() -> int:
    rows = [r for name, img in pictures() for r in measure(name, img)]
    for r in rows:
        db = "lossless" if r["psnr"] == float("inf") else f"{r['psnr']:.1f} dB"
        print(f"{r['picture']:14} {r['path']:36} {r['bytes'] / 1e3:7.0f} KB {db:>9} "
              f"{r['colours_sent']:6} of {r['colours_source']:6} colours  {r['encode_ms']:5} ms")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    for r in rows:
        r["psnr"] = None if r["psnr"] == float("inf") else round(r["psnr"], 2)
    (out / "fidelity.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
