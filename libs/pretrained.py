"""Pretrained models, shipped with the library: what the original course downloaded before its
homework (a character model, a face model) and what its lecture trained for minutes, ready in
seconds.

    model = pretrained.load("charrnn")     # a char-RNN on Alice in Wonderland
    pretrained.load("gan"), pretrained.load("vaegan"), pretrained.load("draw")
    pretrained.info("gan")                 # the command that made it, its evaluation, versions

Each model is a folder under `libs/pretrained/` that its module's `load()` reads like any
checkpoint folder: config.json, the weights and step alone (`checkpoints.weights`, no optimizer
state, so they stay small) and, for the char-RNN, its vocabulary. `manifest.json` records for
each the exact command that trained it, its evaluation figures, the versions it was made with
and the sha256 of every file, checked before loading.

They are made by `python -m libs.pretrained make NAME` (all of them: `make all`), which runs the
recorded command in a scratch folder, evaluates the result, exports the weights and writes the
manifest entry. The tests reload each and reproduce its evaluation.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from libs import checkpoints, paths
from libs.downloads import file_hash, hash_mismatch
from libs.files import write_bytes_atomic

PRETRAINED_DIR = Path(__file__).with_name("pretrained")
MANIFEST = PRETRAINED_DIR / "manifest.json"

# name -> (model module, the command that trains it, the evaluation that scores it). The
# commands are the models' own command lines; {ckpt} is a scratch folder. Sizes are chosen so
# that all four weigh under 10 MB: 16 first-layer feature maps for the face models (4.6 and
# 5.3 MB at 32), 128 units for DRAW (3.3 MB at 256).
RECIPES = {
    "charrnn": ("charrnn",
                "python -m libs.charrnn train --corpus alice --ckpt {ckpt} --seconds 900 "
                "--eval-every 100 --dropout 0.3 --patience 4",
                "charrnn.evaluate(model, text.split_held_out(datasets.ALICE(), ...)[1]: the "
                "held-out 10%)"),
    "gan": ("gan",
            "python -m libs.gan train --data faces --ckpt {ckpt} --image-size 32 "
            "--n-features 16 --ema 0.99 --steps 3000",
            "gan.evaluate(model, 'faces', n=200, seed=0)"),
    "vaegan": ("vaegan",
               "python -m libs.vaegan train --data faces --ckpt {ckpt} --n-features 16 "
               "--steps 2400",
               "vaegan.evaluate(model, 'faces', n=200, seed=0)"),
    "draw": ("draw",
             "python -m libs.draw train --data digits --ckpt {ckpt} --enc-size 128 "
             "--dec-size 128 --steps 1500",
             "draw.evaluate(model, 'digits', n=500, seed=0)"),
}


def names() -> list[str]:
    """The pretrained models the manifest lists."""
    return sorted(_manifest())


def info(name: str) -> dict:
    """The manifest entry of `name`: command, evaluation, versions, files and their sha256."""
    manifest = _manifest()
    if name not in manifest:
        raise ValueError(f"no pretrained model {name!r}; there are: {', '.join(sorted(manifest))}"
                         if manifest else f"no pretrained model {name!r}: {MANIFEST} lists none")
    return manifest[name]


def path(name: str) -> Path:
    """The folder of the pretrained model `name`, after checking every file's sha256."""
    entry, folder = info(name), PRETRAINED_DIR / name
    for file, expected in entry["files"].items():
        mismatch = hash_mismatch(folder / file, sha256=expected) if (folder / file).is_file() \
            else "the file is missing"
        if mismatch:
            raise OSError(f"the pretrained {name} is damaged: {folder / file} has a {mismatch}; "
                          "reinstall the package or restore the folder")
    return folder


def load(name: str):
    """The pretrained model `name` ("charrnn", "gan", "vaegan" or "draw"), from its module's
    `load()`, checked against the manifest first."""
    folder = path(name)
    return _module(info(name)["model"]).load(folder)


def evaluate(name: str, model) -> dict:
    """The evaluation recorded for `name` (RECIPES), run on `model`."""
    from libs import datasets
    from libs.text import split_held_out

    kind = RECIPES[name][0]
    module = _module(kind)
    if kind == "charrnn":
        config = model.config
        held_out = split_held_out(datasets.ALICE(), config.sequence_length, config.batch_size,
                                  config.validation_fraction)[1]
        return module.evaluate(model, held_out)
    if kind == "draw":
        return module.evaluate(model, "digits", n=500, seed=0)
    return module.evaluate(model, "faces", n=200, seed=0)


def make(name: str, work: Path | None = None) -> dict:
    """Train `name` with its recorded command, evaluate it, export its weights to
    libs/pretrained/NAME/ and record it in the manifest; returns the manifest entry."""
    import tensorflow as tf

    kind, command, how = RECIPES[name]
    module = _module(kind)
    with tempfile.TemporaryDirectory() as scratch:
        ckpt = Path(work or scratch) / name
        argv = shlex.split(command.format(ckpt=ckpt))[3:]  # after "python -m libs.MODEL"
        start = time.perf_counter()
        printed = io.StringIO()  # the train command's last line: JSON with its stop_reason
        with contextlib.redirect_stdout(_Tee(sys.stdout, printed)):
            code = module.main(argv)
        seconds = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"{command} failed")
        lines = printed.getvalue().strip().splitlines()
        if not lines or json.loads(lines[-1]).get("stop_reason") == "interrupted":
            raise RuntimeError(f"{command} was interrupted: nothing exported, the manifest is "
                               "unchanged; run this again to train it whole")
        model = module.load(ckpt)
        figures = evaluate(name, model)
        out = PRETRAINED_DIR / name
        tmp = PRETRAINED_DIR / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for file in (checkpoints.CONFIG_FILE, getattr(module, "VOCABULARY_FILE", None)):
            if file and (ckpt / file).is_file():
                shutil.copy(ckpt / file, tmp / file)
        step = int(model.step.numpy())
        checkpoint = tf.train.Checkpoint(**checkpoints.weights(model.trackables()))
        checkpoint.save_counter.assign(step - 1)  # save() numbers it ckpt-STEP, as fit does
        checkpoint.save(str(tmp / "ckpt"))
        (tmp / "checkpoint").unlink()  # its paths name the scratch folder; the files suffice
        if out.exists():
            shutil.rmtree(out)  # a model this function exported earlier
        tmp.rename(out)
    entry = {"model": kind, "command": command.format(ckpt=f"checkpoints/{name}"),
             "evaluation": how, "figures": figures, "step": step,
             "training_seconds": round(seconds), "library": _version(),
             "tensorflow": tf.__version__, "python": platform.python_version(),
             "machine": paths.cpu_model(),
             "files": {p.name: file_hash(p) for p in sorted(out.iterdir()) if p.is_file()}}
    manifest = _manifest()
    manifest[name] = entry
    write_bytes_atomic(MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return entry


class _Tee(io.TextIOBase):
    """Writes to several streams: the terminal, and a buffer that keeps what was printed."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}


def _module(kind: str):
    return importlib.import_module(f"libs.{kind}")



def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cadl-session5")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "source"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m libs.pretrained", allow_abbrev=False,
                                     description="List or remake the pretrained models.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the models, their commands and figures")
    make_parser = commands.add_parser("make", help="train, evaluate and export a model")
    make_parser.add_argument("name", choices=(*RECIPES, "all"))
    args = parser.parse_args(argv)
    if args.command == "list":
        for name in names():
            entry = info(name)
            print(f"{name}: {entry['command']}\n  {entry['evaluation']}: {entry['figures']}")
        return 0
    for name in RECIPES if args.name == "all" else [args.name]:
        print(json.dumps({name: make(name)["figures"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
