"""The checkpoint folder: what `training.fit` saves and how a model comes back from it.

A folder holds `config.json` (the model's name and config, checked on resume), the
`tf.train.Checkpoint`s `ckpt-N` (found from their files, so a lost index loses nothing; a
damaged or non-finite one is skipped for the newest that restores), `best/` (the model with the
lowest held-out loss, where a model keeps one), `history.json` and `logs/`. One training at a
time holds `train.lock`. No pickle: TF checkpoints plus JSON.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import socket
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from libs.files import write_bytes_atomic

CONFIG_FILE = "config.json"
BEST_DIR, BEST_FILE = "best", "best.json"


# --- The checkpoint folder: config.json names the model and holds its config -------------------

def to_json(data) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def read_config(ckpt_dir, model_name: str | None = None) -> dict:
    """The config saved in `ckpt_dir/config.json`; checks it was written for `model_name`.

    Raises FileNotFoundError if the folder or its config is missing, ValueError if it belongs
    to another model.
    """
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        raise FileNotFoundError(f"checkpoint folder {ckpt_dir} does not exist")
    path = ckpt_dir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{ckpt_dir} is not a checkpoint folder of this library "
                                f"(it has no {CONFIG_FILE})")
    try:
        saved = json.loads(path.read_text())
        name, config = saved["model"], saved["config"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is damaged or not written by this library ({e})") from e
    if model_name is not None and name != model_name:
        raise ValueError(f"{ckpt_dir} holds a {name!r} model, not a {model_name!r} one; "
                         "use another folder")
    return config


def prepare_dir(ckpt_dir: Path, model_name: str, config: dict) -> None:
    """Write config.json into a new or empty folder, or check it against the saved one. A
    setting the saved file lacks was added to the library after the folder was written: its
    value there is the default, which `resume_config` has already held the given one to."""
    if (ckpt_dir / CONFIG_FILE).is_file():
        saved = read_config(ckpt_dir, model_name)
        diff = {k: (saved.get(k), config.get(k)) for k in sorted(set(saved) | set(config))
                if k in saved and saved.get(k) != config.get(k)}
        if diff:
            described = ", ".join(f"{k}: saved {a!r}, given {b!r}" for k, (a, b) in diff.items())
            raise ValueError(f"{ckpt_dir} holds a {model_name!r} model with another config "
                             f"({described}); resume with the saved config or use another folder")
        return
    if ckpt_dir.exists() and (not ckpt_dir.is_dir() or any(
            f.name != LOCK_FILE for f in ckpt_dir.iterdir())):
        raise ValueError(f"{ckpt_dir} exists and is not a checkpoint folder of this library "
                         f"(no {CONFIG_FILE}); choose a new or empty folder")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(ckpt_dir / CONFIG_FILE, to_json({"model": model_name, "config": config}))


def load_config(ckpt_dir, model_name: str, what: str, config_type):
    """The config dataclass `config_type` saved in `ckpt_dir` by `fit` for `model_name`."""
    try:
        return config_type(**read_config(ckpt_dir, model_name))
    except TypeError as e:
        raise ValueError(f"{Path(ckpt_dir) / CONFIG_FILE} is not a {what} configuration "
                         f"({e})") from e


def resume_config(ckpt_dir, model_name: str, what: str, config_type,
                  settings: Mapping[str, Any], data: Mapping[str, Any] | None = None):
    """The config to train with: `config_type(**given, **data)` for a new folder; for a folder
    being resumed, its saved config, which the `data` settings (taken from the data, such as
    image size and channels) and the given ones must agree with: a ValueError names each
    disagreement. The given settings are `settings` less those that are None; a name that is
    not a field is a TypeError, and a data setting given otherwise than the data have it is a
    ValueError. `what` names the model in messages ("char-RNN", "DRAW model", ...)."""
    ckpt_dir, data = Path(ckpt_dir), dict(data or {})
    fields = {f.name for f in dataclasses.fields(config_type)}
    unknown = set(settings) - fields
    if unknown:
        raise TypeError(f"unknown {what} settings {sorted(unknown)}; valid: {sorted(fields)}")
    given = {k: v for k, v in settings.items() if v is not None}
    for name, value in data.items():
        if given.pop(name, value) != value:
            raise ValueError(f"{name}={settings[name]!r} but the data have {name}={value!r}; "
                             "leave it out, it is taken from the data")
    if not (ckpt_dir / CONFIG_FILE).is_file():
        return config_type(**given, **data)
    saved = load_config(ckpt_dir, model_name, what, config_type)

    def differing(settings):
        return {k: v for k, v in settings.items() if getattr(saved, k) != v}

    if differing(data):
        was = ", ".join(f"{k}={getattr(saved, k)!r}" for k in data)
        now = ", ".join(f"{k}={v!r}" for k, v in data.items())
        raise ValueError(f"the {what} in {ckpt_dir} was trained on data with {was} but these "
                         f"data have {now}; resume with data like the original, or train in a "
                         "new folder")
    if differing(given):
        described = ", ".join(f"{k}={v!r} (saved: {getattr(saved, k)!r})"
                              for k, v in differing(given).items())
        raise ValueError(f"{ckpt_dir} holds a {what} trained with other settings: {described}. "
                         "Leave them out to resume, or use a new folder")
    return saved


def _unreachable(checkpoint: tf.train.Checkpoint, obj) -> list:
    """The variables of `obj` that `checkpoint` does not reach."""
    reachable = {id(o) for o in tf.train.TrackableView(checkpoint).descendants()}
    return [v for v in getattr(obj, "variables", ())
            if id(v) not in reachable and id(getattr(v, "value", v)) not in reachable]


def track_seed_states(checkpoint: tf.train.Checkpoint, objects: Mapping[str, Any]) -> None:
    """Save the random-number states of Keras layers (LSTMCell, Dropout, ...) too.

    Keras 3 keeps them in `SeedGenerator`s, which tf.train.Checkpoint does not see; they are
    gathered under `checkpoint.seed_states`, named by object and order, so that a resumed run
    draws what an uninterrupted one would.
    """
    states, count = tf.Module(name="seed_states"), 0
    for name, obj in objects.items():
        found = [v for v in _unreachable(checkpoint, obj)
                 if getattr(v, "name", "").startswith("seed_generator_state")]
        for i, variable in enumerate(found):  # the tf.Variable behind the Keras variable
            setattr(states, f"{name}_{i}", getattr(variable, "value", variable))
        count += len(found)
    if count:  # only then: checkpoints of models without such layers stay as they were
        checkpoint.seed_states = states


def check_tracked(checkpoint: tf.train.Checkpoint, objects: Mapping[str, Any]) -> None:
    """Refuse objects whose variables the checkpoint would silently leave out.

    Keras 3 layers kept in a plain Python list inside a subclassed model are not seen by
    tf.train.Checkpoint: their weights would never be saved. Assign them as attributes.
    """
    for name, obj in objects.items():
        missing = [getattr(v, "path", v.name) for v in _unreachable(checkpoint, obj)]
        if missing:
            raise ValueError(f"{len(missing)} variables of {name!r} would not be checkpointed, "
                             f"e.g. {missing[:3]}; keep layers as attributes, not in a list")


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (disk full, read-only folder); an earlier one is intact."""


class FolderInUseError(OSError):
    """Another process is training in the same checkpoint folder."""


# --- Checkpoint files: find them, restore the newest intact one, clean up after failures --------

_CKPT = re.compile(r"ckpt-(\d+)\.index")
_PARTIAL = re.compile(r"ckpt-\d+_temp")
LOCK_FILE = "train.lock"


def float_variables(checkpoint) -> list[tuple[str, tf.Variable]]:
    """(path, variable) of every floating-point variable `checkpoint` saves, Keras 3's
    variables included (their `value` is the tf.Variable)."""
    found, seen = [], set()
    for path, obj in _named_descendants(checkpoint):
        if isinstance(obj, (tf.Variable, keras.Variable)):
            variable = getattr(obj, "value", obj) if isinstance(obj, keras.Variable) else obj
            if id(variable) not in seen and variable.dtype.is_floating:
                seen.add(id(variable))
                found.append((getattr(obj, "path", path), variable))
    return found


def _named_descendants(checkpoint):
    view = tf.train.TrackableView(checkpoint)
    seen, queue = {id(checkpoint)}, [("", checkpoint)]
    while queue:
        path, obj = queue.pop()
        for child in view.children(obj).items():
            name, value = child
            if id(value) not in seen:
                seen.add(id(value))
                queue.append((f"{path}/{name}".lstrip("/"), value))
                yield f"{path}/{name}".lstrip("/"), value


def checkpoint_files(ckpt_dir) -> list[tuple[int, str]]:
    """(step, prefix) of every checkpoint in `ckpt_dir`, newest first, found from the files
    themselves (so a missing or garbled `checkpoint` index file loses nothing)."""
    ckpt_dir = Path(ckpt_dir)
    found = [(int(m.group(1)), str(ckpt_dir / f"ckpt-{m.group(1)}"))
             for m in map(_CKPT.fullmatch, os.listdir(ckpt_dir)) if m] if ckpt_dir.is_dir() else []
    return sorted(found, reverse=True)


def restore_newest(checkpoint, ckpt_dir: Path, what: str, *, partial: bool):
    """Restore the newest checkpoint of `ckpt_dir` that reads back whole and finite.

    Returns (step, prefix, damaged), damaged being [(prefix, reason)] of the newer ones that
    failed; (None, None, []) when the folder holds no checkpoint. ValueError when the
    checkpoints do not fit the objects, or when none of them can be restored.
    """
    damaged = []
    for number, prefix in checkpoint_files(ckpt_dir):
        try:
            status = checkpoint.restore(prefix)
            (status.expect_partial() if partial else status).assert_existing_objects_matched()
        except (AssertionError, ValueError) as e:  # readable, but made for other objects
            raise ValueError(f"the checkpoint in {ckpt_dir} does not fit this model ({what}): "
                             f"{e}") from e
        except (tf.errors.OpError, IndexError) as e:  # files cut short, garbled or missing
            damaged.append((prefix, first_line(e)))
            continue
        bad = [name for name, v in float_variables(checkpoint)
               if not bool(tf.reduce_all(tf.math.is_finite(v)))]
        if bad:
            damaged.append((prefix, f"{len(bad)} tensors are not finite, e.g. {bad[:2]}"))
            continue
        return number, prefix, damaged
    if damaged:
        listed = "; ".join(f"{Path(p).name}: {reason}" for p, reason in damaged)
        raise ValueError(f"none of the {len(damaged)} checkpoints in {ckpt_dir} can be restored "
                         f"({listed}). Nothing was changed; move the folder aside to start "
                         "again")
    return None, None, []


def first_line(e: BaseException) -> str:
    """The gist of an error: its first line, without TensorFlow's function-node prefix."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", getattr(e, "message", None) or str(e))
    lines = text.strip().splitlines()
    return (lines[0] if lines else type(e).__name__)[:400]


def size_text(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.1f} MiB" if n_bytes >= 2**20 else f"{n_bytes / 2**10:.0f} KiB"


def remove_checkpoint(prefix: str) -> None:
    """Delete the files of one checkpoint this library wrote (`ckpt-N.index`, `.data-*`)."""
    folder, name = Path(prefix).parent, Path(prefix).name
    for f in folder.iterdir():
        if f.name == f"{name}.index" or f.name.startswith(f"{name}.data-"):
            f.unlink()


def remove_partial_saves(ckpt_dir: Path) -> None:
    """Remove `ckpt-N_temp` folders: saves cut short by a full disk or a kill -9."""
    for f in ckpt_dir.iterdir():
        if _PARTIAL.fullmatch(f.name) and f.is_dir():
            shutil.rmtree(f, ignore_errors=True)


@contextlib.contextmanager
def training_lock(ckpt_dir: Path):
    """Hold `ckpt_dir/train.lock` (an flock, with our pid in it) while training.

    A second training on the same folder gets FolderInUseError naming the owner. The lock dies
    with its process, so a killed run leaves no stale lock. Without fcntl (Windows): no lock.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = ckpt_dir / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise FolderInUseError(f"{ckpt_dir} is being trained by {owner}; wait for it to "
                                   "finish (or stop it), or train in another folder") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the owner removed it between our open and flock: try again
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def weights(trackables: Mapping[str, Any]) -> dict:
    """What of a model's `trackables()` using the model needs: its networks and `step`, less its
    optimizers (named `optimizer` or `*_optimizer`), random generators (`rng`) and data
    position (`data`), which only resuming training restores. A folder holding these alone (a
    pretrained model, `libs.pretrained`) loads like any other."""
    return {name: value for name, value in trackables.items()
            if name not in ("rng", "data") and not name.endswith("optimizer")}


def restore(ckpt_dir, what: str, *, best: bool | None = False, **objects) -> str:
    """Restore `objects` (name -> trackable, named as `fit` saved them) from the newest intact
    checkpoint in `ckpt_dir`, to use a trained model; what was saved besides them (optimizer
    state, data position) is left out. best=True: from the best model `KeepBest` kept in
    `ckpt_dir/best/`; None: that when there is one, else the latest. A damaged or non-finite
    newer checkpoint is skipped with a warning naming it. Returns a line saying which was
    used. FileNotFoundError when nothing is saved yet,
    ValueError when the checkpoints do not fit the objects or none can be restored."""
    ckpt_dir = Path(ckpt_dir)
    kept = read_best(ckpt_dir) if best is not False else None
    if best and kept is None:
        raise FileNotFoundError(f"{ckpt_dir} holds no best model ({BEST_DIR}/{BEST_FILE}); "
                                "it is kept when training evaluates on held-out data")
    folder = ckpt_dir / BEST_DIR if kept else ckpt_dir
    number, _, damaged = restore_newest(tf.train.Checkpoint(**objects), folder, what,
                                         partial=True)
    if number is None:
        raise FileNotFoundError(f"{ckpt_dir} holds a {what} config but no checkpoint; "
                                "train first")
    say_damaged(damaged, f"used the checkpoint of step {number} instead")
    used = (f"the best {what} on held-out data (step {number}, {kept['metric']} "
            f"{kept['value']:.4g})" if kept else f"the {what} of step {number}")
    return f"Using {used} from {folder}."


def say_damaged(damaged, instead: str) -> None:
    for prefix, reason in damaged:
        warnings.warn(f"checkpoint {prefix} is damaged ({reason}); {instead}", stacklevel=3)


def read_best(ckpt_dir) -> dict | None:
    """What `KeepBest` kept in `ckpt_dir/best/`: {"step", "metric", "value"}, or None."""
    path = Path(ckpt_dir) / BEST_DIR / BEST_FILE
    if not path.is_file():
        return None
    try:
        best = json.loads(path.read_text())
        return {"step": int(best["step"]), "metric": str(best["metric"]),
                "value": float(best["value"])}
    except (ValueError, KeyError, TypeError) as e:
        warnings.warn(f"{path} is damaged ({e}); the best model is kept anew", stacklevel=2)
        return None
