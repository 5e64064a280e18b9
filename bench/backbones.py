"""Model-only throughput of the backbones: images/s of `Backbone.embed` and `patch_grid`, batch 32.

    python -m bench.backbones [--quick] [--threads N]

effnet-lite0 runs with its real packaged weights; DINOv2-reg ViT-S/14 (224 px)
and the tiny DINOv2-reg of the tests run with random weights saved to a file
and loaded through `--weights` (the speed of a ViT does not depend on its
weights). bf16 is CPU autocast; it is fast only where the CPU has AMX/AVX512-BF16.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from featurize.models import load_backbone

OUT = Path(__file__).resolve().parent / "out" / "backbones.json"


def _random_vits(d: Path) -> dict:
    import timm
    from safetensors.torch import save_file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from tiny_models import tiny_dinov2reg
    torch.manual_seed(0)
    m = timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False, num_classes=0, img_size=224)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(d / "vits.safetensors"))
    return {"dinov2reg-s (random weights)": ("dinov2reg-s", d / "vits.safetensors"),
            "tiny dinov2reg (tests)": ("dinov2reg-s", tiny_dinov2reg(d / "tiny")[0])}


def rate(fn, x, batches: int, bf16: bool) -> float:
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
    with torch.no_grad(), ctx:
        fn(x)  # warm-up
        t = time.perf_counter()
        for _ in range(batches):
            fn(x)
        return batches * x.shape[0] / (time.perf_counter() - t)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 timed batches instead of 5")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = 2 if args.quick else 5
    results = {"threads": torch.get_num_threads(), "batch_size": args.batch_size, "batches": batches,
               "cpu_count": os.cpu_count(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        models = {"effnet-lite0": ("effnet-lite0", None), **_random_vits(Path(tmp))}
        for label, (name, weights) in models.items():
            b = load_backbone(name, weights=weights)
            x = torch.randn(args.batch_size, 3, *b.preprocess.size)
            row = {"input": list(b.preprocess.size), "dim": b.dim}
            for prec in ("fp32", "bf16"):
                row[f"embed_{prec}_img_s"] = round(rate(b.embed, x, batches, prec == "bf16"), 2)
                row[f"patch_grid_{prec}_img_s"] = round(rate(b.patch_grid, x, batches, prec == "bf16"), 2)
            results["models"][label] = row
            print(f"{label:32s} {row}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"wrote {OUT}")
    return results


if __name__ == "__main__":
    main()
