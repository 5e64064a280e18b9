"""What a featurize run is asked to do: box mode, context, batch, precision, logging.

Apart from featurize.run because the command line needs these before it imports torch,
so `featurize --help` and a usage error answer at once instead of after torch's 1-2 s.
"""

from __future__ import annotations

from dataclasses import dataclass

BOX_MODES = ("crop", "pool")
#: Default box mode: one forward per image, boxes pooled from its patch tokens
#: (bench/featurize.py: ~25x fewer forwards at 50 boxes per image).
DEFAULT_BOX_MODE = "pool"


@dataclass
class Options:
    box_mode: str = DEFAULT_BOX_MODE
    context: float = 0.15
    batch_size: int | None = None
    workers: int | None = None
    precision: str = "fp32"  # resolved: fp32 | bf16 | fp16
    log_every: float = 30.0
    progress: bool = True
    label: str = "featurize"
