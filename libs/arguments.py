"""Arguments: the checks every function and config applies to its numbers, in Python and as
argparse types (the command lines themselves are built in `libs.commands`).

One message format everywhere: "NAME must be an integer >= 1, got -3" in Python, and argparse's
"argument --n-cells: '-3' is not an integer >= 1" on the command line.
"""
from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence

import numpy as np


SEED_MAX = 2**32 - 1  # the largest seed keras.utils.set_random_seed (NumPy's seeding) takes
# Far above any learning rate that trains, and far below those that overflow float32 (1e39).
LEARNING_RATE_MAX = 10.0


def check_int(name: str, value, low: int = 1, high: int | None = None) -> int:
    """`value` as an int; ValueError naming `name` unless it is an integer >= `low` (and <=
    `high`, if given; not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer >= {low}"
                         f"{'' if high is None else f' and <= {high}'}, got {value!r}")
    return int(value)


def check_positive(name: str, value, high: float | None = None) -> float:
    """`value` as a float; ValueError naming `name` unless it is a finite number > 0 (and <=
    `high`, if given; not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0 or (high is not None and value > high):
        raise ValueError(f"{name} must be a number > 0{'' if high is None else f' and <= {high:g}'}"
                         f", got {value!r}")
    return float(value)


def check_number(name: str, value, low: float, high: float, *, open_low: bool = False,
                 open_high: bool = False) -> float:
    """`value` as a float; ValueError naming `name` unless it is a finite number in the
    interval from `low` to `high` ("a number in [0, 1)": `open_low`/`open_high` leave an end
    out; not a bool)."""
    rule = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < low or value > high \
            or (open_low and value == low) or (open_high and value == high):
        raise ValueError(f"{name} must be a number in {rule}, got {value!r}")
    return float(value)


def seed_or_fresh(seed) -> int:
    """`seed` checked (an integer from 0 to SEED_MAX), or a fresh random one for None: what
    the models' `sample(..., seed=None)` draw from."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    return check_int("seed", seed, 0, SEED_MAX)


def check_fits(n_bytes: float, what: str, advice: str) -> None:
    """ValueError when `n_bytes`, what `what` needs, exceed this machine's memory: "WHAT need
    about X GiB of memory, more than this machine's Y GiB; ADVICE". No check where the system
    does not say how much memory it has."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return
    if n_bytes > memory:
        raise ValueError(f"{what} need about {n_bytes / 2**30:,.0f} GiB of memory, more than "
                         f"this machine's {memory / 2**30:,.0f} GiB; {advice}")


def check_samples_fit(n: int, shape: Sequence[int], copies: int = 1) -> None:
    """``check_fits`` for n sample images of ``shape`` (H, W, C), each made ``copies`` times (DRAW
    keeps a canvas per step): 12 bytes a value, as float32 and as ``to_uint8``'s float64 copy."""
    check_fits(12 * copies * n * math.prod(shape),
               f"{n:,} samples of {'x'.join(map(str, shape))} pixels", "ask for fewer (n, --n)")


def arg_type(kind: type, rule: str, ok: Callable[[float], bool]) -> Callable[[str], float]:
    """An argparse ``type=`` for the command lines: the text parsed by ``kind`` (int or float).

    A value that does not parse, is not finite or fails ``ok`` is refused with the text and
    ``rule``, in ``check_int``'s words: argparse prints "argument --n-cells: '-3' is not an
    integer >= 1".
    """
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or (kind is float and not math.isfinite(value)) or not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule}")
        return value
    return parse


def arg_int(low: int = 1, high: int | None = None) -> Callable[[str], int]:
    """``arg_type`` for an integer >= ``low`` (and <= ``high``): ``check_int`` for the command
    lines."""
    return arg_type(int, f"an integer >= {low}{'' if high is None else f' and <= {high}'}",
                    lambda value: value >= low and (high is None or value <= high))


def arg_positive(high: float | None = None) -> Callable[[str], float]:
    """``arg_type`` for a number > 0 (and <= ``high``): learning rates, time budgets, clipping."""
    return arg_type(float, f"a number > 0{'' if high is None else f' and <= {high:g}'}",
                    lambda value: value > 0 and (high is None or value <= high))
