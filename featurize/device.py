"""Which torch device a featurize process computes on: the one definition.

Why one: the command line, `load_backbone` and the benchmarks must agree on what
`--device auto` means and which GPU a torchrun rank takes, or a rank computes on a
GPU its neighbour already fills while the logs say otherwise (issue 14: two copies
had drifted; only one knew LOCAL_RANK).

- "auto": CUDA, else Apple MPS, else the CPU.
- "cuda" (and "auto" on a CUDA machine) under torchrun: `cuda:LOCAL_RANK` (modulo
  the GPUs present, so that N ranks share fewer GPUs round-robin).
- "cuda:N", "mps", "cpu", or a `torch.device`: as given, once checked to exist here.
- anything else, or a device this machine lacks: `DeviceError`, a message naming the
  value and the choices (the command line exits 2 with it).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CHOICES = ("auto", "cuda", "mps", "cpu")


class DeviceError(ValueError):
    """A device name that is not a device, or a device this machine does not have."""


def _mps() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """`name` (see the module docstring) -> the torch device to compute on. torch is
    imported here, not at the top: the command line reads CHOICES before it needs torch."""
    import torch

    text = str(name).strip()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "mps" if _mps() else "cpu"
    try:
        dev = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"--device {str(name)!r} is not a device; use one of {', '.join(CHOICES)} "
                          "(or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {text}: no CUDA device is available (try --device auto or cpu)")
        n = torch.cuda.device_count()
        if dev.index is None and "LOCAL_RANK" in os.environ:
            try:
                rank = int(os.environ["LOCAL_RANK"])
            except ValueError:
                raise DeviceError(f"LOCAL_RANK={os.environ['LOCAL_RANK']!r} is not a whole number "
                                  "(torchrun sets it)") from None
            return torch.device("cuda", rank % n)
        if dev.index is not None and dev.index >= n:
            raise DeviceError(f"--device {text}: this machine has {n} CUDA device{'s' if n != 1 else ''} "
                              f"(cuda:0 to cuda:{n - 1})")
        return dev
    if dev.type == "mps" and not _mps():
        raise DeviceError(f"--device {text}: Apple MPS is not available (try --device auto or cpu)")
    if dev.type not in ("cpu", "mps"):
        raise DeviceError(f"--device {text}: featurize computes on CUDA, MPS or the CPU, not {dev.type}; "
                          f"use one of {', '.join(CHOICES)}")
    return dev
