"""The command line every model shares: ``python -m libs.MODEL train|sample|eval``.

Settings flags are made from the model's config dataclass (`config_flags`); `model_parser`
builds the three commands with strict flags, `image_commands` runs them for an image model
through its module's contract (`train`, `load`, `sample`, `evaluate`: see `libs.training`),
and `run_command` turns the user's errors into one line and an exit status.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType

from .arguments import SEED_MAX, arg_int, arg_positive
from .training import STRATEGIES, make_strategy
from .utils import save_samples


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


def speed_flags(parser: argparse.ArgumentParser, kinds: Sequence[str] = ("path", "precision"),
                path_help: str = "stock (Keras's layers), fast (libs.layers), xla (those, the step "
                                 "compiled by XLA)") -> tuple:
    """``--path auto|stock|fast|xla`` and ``--precision auto|fp32|bf16|fp16`` (those of `kinds`) on a
    train command, None when not given (then $CADL_PATH / $CADL_PRECISION, else "auto": see
    `libs.paths`); `path_help` says what the model's paths are. Returns `kinds`, for the
    model's ``train_flags``."""
    from .paths import CHOICES

    helps = {"path": f"{path_help} or auto (timed once here)",
             "precision": "fp32, mixed bf16 or fp16, or auto (fp32 unless another was faster here)"}
    for kind in kinds:
        parser.add_argument(f"--{kind}", choices=CHOICES[kind], help=helps[kind])
    return tuple(kinds)


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


def strategy_flag(parser: argparse.ArgumentParser) -> None:
    """``--strategy default|mirrored|multiworker`` (`training.make_strategy`) on a train
    command."""
    parser.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="default: one device; mirrored: all of this machine's GPUs; "
                             "multiworker: the machines TF_CONFIG lists (see the README)")


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
    strategy_flag(train)
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


def image_commands(model: ModuleType, losses: Sequence[str], *, train_flags: Sequence[str] = (),
                   sample_options: Callable | None = None,
                   evaluate_options: Callable | None = None,
                   also_write: Callable | None = None) -> dict[str, Callable]:
    """The train, sample and eval commands of the image model `model` (its module), for
    `run_command`.

    train prints one JSON line (the step, why it stopped, the last of each of `losses`, the
    folder); sample writes PNGs and a montage (`utils.save_samples`), and `also_write(model,
    args) -> path` writes one more file; eval prints `model.evaluate`'s dict as JSON.
    `train_flags` are flags of the model's own passed to its `train`; `sample_options(args)`
    and `evaluate_options(args)` give keyword arguments of its `sample` and `evaluate`.
    """
    def train(args) -> None:
        trained, history = model.train(
            args.data, args.ckpt, steps=args.steps, seconds=args.seconds,
            strategy=make_strategy(args.strategy),
            checkpoint_every=args.checkpoint_every,
            **{name: getattr(args, name) for name in (*args.settings, *train_flags)})
        print(json.dumps({"step": int(trained.step.numpy()), "stop_reason": history.stop_reason,
                          **{name: history.last(name) for name in losses},
                          "ckpt": str(args.ckpt)}))

    def sample(args) -> None:
        loaded = model.load(args.ckpt)
        images = model.sample(loaded, args.n, seed=args.seed,
                              **(sample_options(args) if sample_options else {}))
        wrote = save_samples(images, args.out)[-1:]  # the montage, after the samples
        if also_write is not None:
            wrote.append(also_write(loaded, args))
        print(f"Wrote {len(images)} samples and {' and '.join(map(str, wrote))}")

    def evaluate(args) -> None:
        print(json.dumps(model.evaluate(model.load(args.ckpt), args.data, args.n, args.seed,
                                        **(evaluate_options(args) if evaluate_options else {}))))

    return {"train": train, "sample": sample, "eval": evaluate}


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
