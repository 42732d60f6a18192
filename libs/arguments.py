"""Arguments: the checks every function and config applies to its numbers, and the command
lines built on them (strict flags, one error format, exit codes).

One message format everywhere: "NAME must be an integer >= 1, got -3" in Python, and argparse's
"argument --n-cells: '-3' is not an integer >= 1" on the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

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


def setting(kind: type) -> Callable[[str], object]:
    """An argparse ``type=`` for a config field of type `kind` (int, float or str): the text
    parsed as `kind`. Whether the value is valid is for the config dataclass to say (its
    ``__post_init__`` is the one place each rule is written, and some rules join two settings):
    `train` refuses it before anything is written, "error: n_latent must be an integer >= 1"."""
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number" if kind is float else kind.__name__
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    return parse


def config_flags(parser: argparse.ArgumentParser, config_type,
                 skip: Sequence[str] = ()) -> list[str]:
    """Add a flag for every field of the config dataclass `config_type` but those in `skip`
    (settings the data fix): ``--n-latent N`` parsed by `setting`, ``--dense`` /
    ``--no-dense`` for booleans; None when not given, so a resumed folder keeps its saved
    value. Returns the field names, for ``{name: getattr(args, name) for name in names}``."""
    defaults, names = config_type(), []
    for field in dataclasses.fields(config_type):
        if field.name in skip:
            continue
        default, flag = getattr(defaults, field.name), "--" + field.name.replace("_", "-")
        help_ = f"default {default} (or the saved value when resuming)"
        if isinstance(default, bool):
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_)
        else:
            parser.add_argument(flag, dest=field.name, help=help_,
                                type=setting(type(default)))
        names.append(field.name)
    return names


def model_parser(prog: str, description: str, config_type, data: dict, *, sample_help: str,
                 eval_help: str, eval_min_n: int = 1, skip: Sequence[str] = ("channels",)):
    """The command line of an image model, as DESIGN.md has it: ``train --data --ckpt
    [--steps] [--seconds] [settings...] [--checkpoint-every]``, ``sample --ckpt [--n] --out
    [--seed]`` and ``eval --ckpt --data [--n] [--seed]``; strict flags throughout.

    The settings flags come from the config dataclass `config_type` (`config_flags`, less
    `skip`). data: the keyword arguments of ``--data`` (``choices`` or ``help``). Returns the
    parser and its train, sample and eval parsers, for the flags only one model has; a parsed
    train command's `args.settings` lists the config fields its flags set.
    """
    parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False, description=description)
    commands = parser.add_subparsers(dest="command", required=True, metavar="train|sample|eval")
    train = commands.add_parser("train", allow_abbrev=False, help="train or resume")
    train.add_argument("--data", required=True, **data)
    train.add_argument("--ckpt", required=True, type=Path,
                       help="checkpoint folder (resumed if there)")
    train.add_argument("--steps", type=arg_int(0), help="total step to reach")
    train.add_argument("--seconds", type=arg_positive(), help="time budget of this run")
    train.set_defaults(settings=config_flags(train, config_type, skip))
    train.add_argument("--checkpoint-every", type=arg_int(1), default=500)
    sample = commands.add_parser("sample", allow_abbrev=False, help=sample_help)
    sample.add_argument("--ckpt", required=True, type=Path)
    sample.add_argument("--n", type=arg_int(1), default=64)
    sample.add_argument("--out", required=True, type=Path,
                        help="folder for the pictures: a new one, or one of earlier samples, "
                             "which are replaced")
    sample.add_argument("--seed", type=arg_int(0, SEED_MAX), default=0)
    evaluate = commands.add_parser("eval", allow_abbrev=False, help=eval_help)
    evaluate.add_argument("--ckpt", required=True, type=Path)
    evaluate.add_argument("--data", required=True, **data)
    evaluate.add_argument("--n", type=arg_int(eval_min_n), default=1000)
    evaluate.add_argument("--seed", type=arg_int(0, SEED_MAX), default=0)
    return parser, train, sample, evaluate


def run_command(parser: argparse.ArgumentParser, argv, commands: Mapping[str, Callable]) -> int:
    """A command line's `main`: parse `argv` and run ``commands[args.command](args)``; the exit
    status.

    0 when the command returns, 130 when Ctrl-C stops it outside training (training itself
    saves and returns). A problem with the user's input, files or checkpoint (ValueError,
    TypeError, OSError) or a training stopped by a NaN loss (FloatingPointError) is printed on
    stderr as "PROG COMMAND: error: MESSAGE", with status 1; argparse refuses bad flags with 2.
    """
    args = parser.parse_args(argv)
    try:
        commands[args.command](args)
    except (ValueError, TypeError, OSError, FloatingPointError) as e:
        print(f"{parser.prog} {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # after training has saved (fit handles one during training)
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
