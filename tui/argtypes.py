"""argparse types shared by the `annotate` commands: a bad number is refused
by argparse itself, with the value and the range, never a traceback."""

from __future__ import annotations

import argparse
import math


def bounded_float(lo: float, hi: float, *, lo_open: bool = False):
    """A float in [lo, hi] (or (lo, hi] with ``lo_open``), for ``type=``."""
    rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number in {rng}")
        if math.isnan(value) or value > hi or value < lo or (lo_open and value == lo):
            raise argparse.ArgumentTypeError(f"{text!r} is not in {rng}")
        return value

    parse.__name__ = f"number in {rng}"  # argparse names the type in some messages
    return parse
