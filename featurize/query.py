"""Queries embedded with the model a features file records: seed images and boxes
(`annotate --seed`) and words (`/` in the app, through the model's text tower).

Why here: featurize owns the models and how an image becomes a row, and a query must be
embedded exactly as the file's rows were, or its cosine to them means nothing. So the
model is rebuilt from what the file records (`model`, `weights`: the weights identity
featurize wrote, with a local file's sha256, checked again here), images go through
featurize's own decoding, box mode, context and precision (`featurize.dataset`,
`featurize.run.compute`), and nothing is written. The TUI reaches this module only
through `tui/seeds.py`, which `tui/cli.py` wires in; `tui/` itself never imports
featurize's internals.

Words: SigLIP2 and every open_clip model have a text tower trained with the image tower,
so `model.encode_text(tokenizer([text]))`, L2-normalised like the image rows, lives in
the rows' space. For the registry's SigLIP2 names (timm image towers from the hub) the
text tower is open_clip's model of the same checkpoint (`ViT-B-16-SigLIP2` `webli` for
`siglip2-b16`...). Deciding whether a file has a text tower reads only its attributes
(no torch import: `/` answers at once); loading it is `Words.encode`'s first call, in a
background thread of the app.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

#: SigLIP2 registry names (timm image towers) -> the open_clip model holding the same
#: checkpoint's text tower.
SIGLIP2_TEXT = {
    "siglip2-b16": ("ViT-B-16-SigLIP2", "webli"),
    "siglip2-b16-256": ("ViT-B-16-SigLIP2-256", "webli"),
    "siglip2-so400m": ("ViT-SO400M-16-SigLIP2-384", "webli"),
    "siglip2-so400m-256": ("ViT-SO400M-16-SigLIP2-256", "webli"),
}


def _model_error(message: str) -> Exception:
    from featurize.registry import ModelError
    return ModelError(message)


def recorded_weights(attrs: dict) -> str | None:
    """The `--weights` argument that gives back the weights a features file records
    (None: the model's own hub or packaged weights). A timm/HF folder is recorded as the
    weights file inside it: the folder is given back, for its config.json."""
    wid = str(attrs.get("weights") or "")
    for prefix in ("file:", "dir:"):
        if wid.startswith(prefix):
            path = Path(wid[len(prefix):].rpartition(" sha256:")[0] or wid[len(prefix):])
            if prefix == "file:" and (path.parent / "config.json").is_file():
                from featurize.models import WEIGHT_FILES
                if path.name in WEIGHT_FILES:
                    return str(path.parent)
            return str(path)
    return None


def load_recorded_backbone(attrs: dict, device: str = "cpu"):
    """The backbone that made the file's rows (featurize.models.load_backbone), refused when
    its weights are no longer those recorded (a local file changed or gone)."""
    from featurize.models import load_backbone
    name, wid, weights = str(attrs.get("model") or ""), str(attrs.get("weights") or ""), \
        recorded_weights(attrs)
    if weights is not None and not os.path.exists(weights):
        raise _model_error(f"the weights featurize used ({weights}) are not there any more; "
                           f"a query must be embedded with the model of the file's rows")
    backbone = load_backbone(name, weights, device=device)
    if backbone.weights_id != wid:
        raise _model_error(f"the weights of model {name!r} are not those featurize used: the file "
                           f"records {wid!r}, found {backbone.weights_id!r}")
    return backbone


def embed_items(backbone, items, attrs: dict) -> list[tuple[np.ndarray | None, str | None]]:
    """(unit float32 vector, None) or (None, why) for each item (refs.Item: a path and maybe
    a box), prepared as featurize prepares the file's rows: its box mode, context and
    precision (fp16 is fp32 on a CPU)."""
    from featurize.dataset import ChunkDataset, plan
    from featurize.run import compute

    box_mode = str(attrs.get("box_mode") or "pool")
    context = float(attrs.get("context") or 0.0)
    precision = str(attrs.get("precision") or "fp32")
    if precision == "fp16" and backbone.device.type == "cpu":
        precision = "fp32"
    batches = plan(items, list(range(len(items))), box_mode, 16)
    ds = ChunkDataset(batches, backbone.preprocess, box_mode, context)
    ds.patch_size = backbone.patch_size
    out: list = [(None, "not embedded")] * len(items)
    for b in range(len(ds)):
        batch = ds[b]
        feats, errors = compute(backbone, batch, backbone.device, precision)
        for r, v, e in zip(batch["rows"].tolist(), feats, errors):
            out[r] = (None, e) if e is not None else (np.asarray(v, np.float32), None)
    return out


# ---------------------------------------------------------------- words

def text_source(attrs: dict) -> tuple[str, str | None] | str:
    """(open_clip model name, pretrained) of the file's text tower, or why it has none.
    Reads the attributes only."""
    name, wid = str(attrs.get("model") or ""), str(attrs.get("weights") or "")
    weights = recorded_weights(attrs)
    if wid.startswith("dir:"):                       # an open_clip folder (load_backbone)
        return f"local-dir:{weights}", None
    if name.startswith("hf-hub:"):
        return name, None
    if name.startswith("open_clip:"):
        parts = name.split(":", 2)
        return parts[1], weights or (parts[2] if len(parts) == 3 and parts[2] else None)
    if name in SIGLIP2_TEXT:
        arch, tag = SIGLIP2_TEXT[name]
        if weights is None:
            return arch, tag
        if Path(weights).is_file():                  # a full open_clip checkpoint, maybe
            return arch, weights
        return (f"the features were made with {name} from the image-tower folder {weights}, "
                f"which holds no text tower: to search by words, featurize with an open_clip "
                f"folder (open_clip_config.json) or the hub weights")
    return (f"the features were made with {name or 'an unnamed model'}, which has no text "
            f"tower: words need SigLIP2 (featurize --model siglip2-b16) or an open_clip model")


class Words:
    """Words to start from: the text tower of the model a features file records, built on
    the first `encode` (seconds, and about 1.1 GB for SigLIP2 B/16's), then kept."""

    def __init__(self, attrs: dict):
        self.attrs = dict(attrs)
        src = text_source(self.attrs)
        self.why_not: str | None = src if isinstance(src, str) else None
        self.source = None if isinstance(src, str) else src
        self._lock = threading.Lock()
        self._model = self._tokenizer = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def encode(self, text: str) -> np.ndarray:
        """The unit float32 embedding of `text`; ModelError when there is no text tower or
        its weights cannot be had."""
        if self.why_not:
            raise _model_error(self.why_not)
        import torch
        with self._lock:
            if self._model is None:
                self._model, self._tokenizer = self._load()
            with torch.inference_mode():
                e = self._model.encode_text(self._tokenizer([text]))
            e = torch.nn.functional.normalize(e.float(), dim=-1)
        return e[0].numpy().astype(np.float32)

    def _load(self):
        import open_clip
        from featurize.hub import cache_dir as hub_cache_dir
        arch, pretrained = self.source
        local = arch.startswith("local-dir:") or (pretrained and os.path.isfile(pretrained))
        if local:
            self._check_local(arch[len("local-dir:"):] if arch.startswith("local-dir:") else pretrained)
        try:
            model = open_clip.create_model(arch, pretrained=pretrained, require_pretrained=True,
                                           weights_only=True, cache_dir=hub_cache_dir())
            tokenizer = open_clip.get_tokenizer(arch, cache_dir=hub_cache_dir())
        except Exception as e:  # hub offline, a checkpoint without a text tower, a bad file
            where = "" if local else (f" (from the Hugging Face hub, or its cache "
                                      f"{hub_cache_dir()}; HF_HUB_OFFLINE="
                                      f"{os.environ.get('HF_HUB_OFFLINE', '')!r})")
            raise _model_error(f"cannot load the text tower of {arch!r} with weights "
                               f"{pretrained or arch!r}{where}: {type(e).__name__}: "
                               f"{str(e)[:300]}") from None
        model.visual = None                          # the image tower is not needed here
        return model.eval().requires_grad_(False), tokenizer

    def _check_local(self, path: str) -> None:
        """A local folder or file must still be the one featurize used."""
        from featurize.models import file_id, folder_weights
        p = Path(path)
        if not p.exists():
            raise _model_error(f"the weights featurize used ({p}) are not there any more")
        f = folder_weights(p) if p.is_dir() else p
        sha = file_id(f).rpartition(" ")[2]
        if not str(self.attrs.get("weights") or "").endswith(sha):
            raise _model_error(f"the weights at {p} changed since featurize made the file "
                               f"(recorded {self.attrs.get('weights')!r}, now {sha})")
