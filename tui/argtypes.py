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
