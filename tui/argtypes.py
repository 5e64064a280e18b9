"""argparse types shared by the `annotate` commands: a bad number is refused
by argparse itself, with the value and the range, never a traceback."""

from __future__ import annotations

import argparse
import math


def bounded_float(lo: float, hi: float, *, lo_open: bool = False):
    """A float in [lo, hi] (or (lo, hi] with ``lo_open``), for ``type=``."""
    rng = (f"greater than {lo:g} and at most {hi:g}" if lo_open
           else f"between {lo:g} and {hi:g}")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number {rng}")
        if math.isnan(value) or value > hi or value < lo or (lo_open and value == lo):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rng}")
        return value

    parse.__name__ = f"number {rng}"  # argparse names the type in some messages
    return parse


def bounded_int(lo: int, hi: int | None = None):
    """An integer in [lo, hi] (no upper bound when ``hi`` is None), for ``type=``."""
    rng = f"between {lo} and {hi}" if hi is not None else f"{lo} or more"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {rng}")
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rng}")
        return value

    parse.__name__ = f"whole number {rng}"
    return parse
