"""The one training-loop skeleton every model uses: `fit(train_step, data, ckpt_dir, objects, ...)`.

A model plugs in three things and gets everything else:

* `train_step(batch) -> {"loss": scalar, ...}`: one optimisation step, usually a `tf.function`,
  returning a dict of scalar metrics;
* `data`: an iterable of batches. `iter(data)` is called *after* the checkpoint is restored, so
  `EpochBatches` (which keeps its position in checkpointed variables) resumes exactly;
* `objects`: the named trackables that make up the training state: models, optimizers (build
  them first: `optimizer.build(model.trainable_variables)`), `tf.random.Generator`s, the data.

`fit` then handles: `steps` as the total step to reach (a second call on the same folder resumes
and stops there), a `seconds` budget counted from the end of the first (tracing) step, a tqdm
progress bar (also in notebooks), TensorBoard scalars in `ckpt_dir/logs`, a
`tf.train.CheckpointManager` every `checkpoint_every` steps and at the end, the model's name and
config in `ckpt_dir/config.json` (checked on resume), a NaN/inf guard (stop, keep the last good
checkpoint, restore it into memory, raise `NonFiniteLossError`), Ctrl-C (finish the step, save,
return normally: a notebook keeps its model), callbacks for side effects, and an optional
`tf.distribute` strategy. No pickle: TF checkpoints plus JSON.

    history = fit(step, EpochBatches(make_epoch), "ckpt/gan",
                  {"generator": g, "discriminator": d, "g_opt": g_opt, "d_opt": d_opt, ...},
                  model_name="gan", config=asdict(cfg), steps=10_000,
                  callbacks=[every(500, save_frame)])
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import itertools
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from libs.utils import _write_bytes_atomic

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"


# TensorBoard's scalar and text plugins read these tags. tf.summary.scalar itself needs the
# tensorboard package installed; the low-level tf.summary.write does not.
_SCALAR = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
_TEXT = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
_IMAGE = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="images"))


class NonFiniteLossError(FloatingPointError):
    """A metric became NaN or infinite; the last good checkpoint was kept."""


# --- The checkpoint folder: config.json names the model and holds its config -------------------

def _to_json(data) -> bytes:
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
    """Write config.json into a new or empty folder, or check it against the saved one."""
    if (ckpt_dir / CONFIG_FILE).is_file():
        saved = read_config(ckpt_dir, model_name)
        diff = {k: (saved.get(k), config.get(k)) for k in sorted(set(saved) | set(config))
                if saved.get(k) != config.get(k)}
        if diff:
            described = ", ".join(f"{k}: saved {a!r}, given {b!r}" for k, (a, b) in diff.items())
            raise ValueError(f"{ckpt_dir} holds a {model_name!r} model with another config "
                             f"({described}); resume with the saved config or use another folder")
        return
    if ckpt_dir.exists() and (not ckpt_dir.is_dir() or any(ckpt_dir.iterdir())):
        raise ValueError(f"{ckpt_dir} exists and is not a checkpoint folder of this library "
                         f"(no {CONFIG_FILE}); choose a new or empty folder")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    _write_bytes_atomic(ckpt_dir / CONFIG_FILE, _to_json({"model": model_name, "config": config}))


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


def restore(ckpt_dir, what: str, **objects) -> None:
    """Restore `objects` (name -> trackable, named as `fit` saved them) from the latest
    checkpoint in `ckpt_dir`, to use a trained model; what was saved besides them (optimizer
    state, data position) is left out. FileNotFoundError when nothing is saved yet, ValueError
    when the checkpoint does not fit the objects."""
    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    if latest is None:
        raise FileNotFoundError(f"{ckpt_dir} holds a {what} config but no checkpoint; "
                                "train first")
    try:
        tf.train.Checkpoint(**objects).restore(latest).expect_partial() \
            .assert_existing_objects_matched()
    except (AssertionError, ValueError) as e:
        raise ValueError(f"the checkpoint in {ckpt_dir} does not fit its config.json: {e}") from e


def _unreachable(checkpoint: tf.train.Checkpoint, obj) -> list:
    """The variables of `obj` that `checkpoint` does not reach."""
    reachable = {id(o) for o in tf.train.TrackableView(checkpoint).descendants()}
    return [v for v in getattr(obj, "variables", ())
            if id(v) not in reachable and id(getattr(v, "value", v)) not in reachable]


def _track_seed_states(checkpoint: tf.train.Checkpoint, objects: Mapping[str, Any]) -> None:
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


def _check_tracked(checkpoint: tf.train.Checkpoint, objects: Mapping[str, Any]) -> None:
    """Refuse objects whose variables the checkpoint would silently leave out.

    Keras 3 layers kept in a plain Python list inside a subclassed model are not seen by
    tf.train.Checkpoint: their weights would never be saved. Assign them as attributes.
    """
    for name, obj in objects.items():
        missing = [getattr(v, "path", v.name) for v in _unreachable(checkpoint, obj)]
        if missing:
            raise ValueError(f"{len(missing)} variables of {name!r} would not be checkpointed, "
                             f"e.g. {missing[:3]}; keep layers as attributes, not in a list")


# --- Resumable data ------------------------------------------------------------------------------

class EpochBatches(tf.Module):
    """Batches epoch after epoch, from `make_epoch(epoch)`, resumable exactly.

    `make_epoch(epoch)` returns the batches of that epoch (a tf.data.Dataset or any iterable),
    deterministically from the epoch number (e.g. shuffled with a seed derived from it). The
    position, `epoch` and `batch` (batches of it already handed out), lives in two variables;
    put this object in `fit`'s `objects` and a resumed run continues with the next batch.
    A resumed epoch drops the batches already handed out. When reading them is costly (decoding
    image files), `make_epoch(epoch, skip)` can take the count and leave them unread.
    """

    def __init__(self, make_epoch: Callable[[int], Iterable], name: str = "data"):
        super().__init__(name=name)
        self.make_epoch = make_epoch
        self._takes_skip = "skip" in inspect.signature(make_epoch).parameters
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.batch = tf.Variable(0, dtype=tf.int64, trainable=False, name="batch")

    def __iter__(self):
        while True:
            epoch, skip = int(self.epoch.numpy()), int(self.batch.numpy())
            if self._takes_skip:  # it leaves the first `skip` batches out itself
                batches = self.make_epoch(epoch, skip=skip)
            else:
                batches = self.make_epoch(epoch)
                batches = batches.skip(skip) if isinstance(batches, tf.data.Dataset) \
                    else itertools.islice(batches, skip, None)
            empty = True
            for batch in batches:
                empty = False
                self.batch.assign_add(1)
                yield batch
            if empty and skip == 0:
                raise ValueError(f"make_epoch({epoch}) yielded no batches")
            self.epoch.assign_add(1)
            self.batch.assign(0)


# --- History: every metric by step, for plots ----------------------------------------------------

class History:
    """Metric values by step. `history["loss"]` is (steps, values) as two numpy arrays.

    `fit` saves it as `ckpt_dir/history.json` with each checkpoint and reloads it on resume (cut
    at the restored step), so a run split in two plots as one curve.
    """

    def __init__(self, records: dict[str, list[list[float]]] | None = None):
        self.records: dict[str, list[list[float]]] = records or {}
        self.stop_reason = ""  # "steps", "seconds", "interrupted", "data" or "stopped"

    def log(self, step: int, **metrics: float) -> None:
        for name, value in metrics.items():
            self.records.setdefault(name, []).append([int(step), float(value)])

    def __getitem__(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        pairs = np.asarray(self.records.get(name, []), dtype=np.float64).reshape(-1, 2)
        return pairs[:, 0].astype(np.int64), pairs[:, 1]

    def __contains__(self, name: str) -> bool:
        return name in self.records

    def keys(self):
        return self.records.keys()

    def last(self, name: str) -> float | None:
        return self.records[name][-1][1] if self.records.get(name) else None

    def truncate(self, step: int) -> None:
        for name in self.records:
            self.records[name] = [r for r in self.records[name] if r[0] <= step]

    def plot(self, names: Sequence[str] | None = None, ax=None):
        """Plot the named metrics (default: all) against the step; returns the matplotlib axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.subplots(figsize=(7, 4))[1]
        for name in names or list(self.records):
            steps, values = self[name]
            ax.plot(steps, values, label=name, marker="." if len(steps) < 30 else None)
        ax.set_xlabel("step")
        ax.legend()
        return ax


# --- Callbacks ------------------------------------------------------------------------------------

class Callback:
    """Side effects around training (evaluation, samples, GIF frames), kept out of the loop.

    Every hook receives the running `Loop`: `loop.step`, `loop.history`, `loop.log(...)`,
    `loop.write(...)`, `loop.save()`, `loop.stop()`.
    """

    def on_train_begin(self, loop: Loop) -> None:
        pass

    def on_step_end(self, loop: Loop, metrics: dict[str, float]) -> None:
        pass

    def on_train_end(self, loop: Loop) -> None:
        pass


class every(Callback):
    """Call `fn(loop)` every `n` steps (when loop.step % n == 0), and at the end if `at_end`."""

    def __init__(self, n: int, fn: Callable[[Loop], None], at_end: bool = False):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        self.n, self.fn, self.at_end = n, fn, at_end
        self._last = None

    def on_step_end(self, loop, metrics):
        if loop.step % self.n == 0:
            self._last = loop.step
            self.fn(loop)

    def on_train_end(self, loop):
        if self.at_end and self._last != loop.step and loop.history.stop_reason != "interrupted":
            self.fn(loop)


class Loop:
    """What callbacks see of a running `fit`."""

    def __init__(self, ckpt_dir: Path, step: tf.Variable, manager, writer, bar, history):
        self.ckpt_dir, self._step, self.manager = ckpt_dir, step, manager
        self.writer, self.bar, self.history = writer, bar, history
        self.stop_requested = False
        self.saved_step = -1

    @property
    def step(self) -> int:
        """Steps completed so far (over all runs on this folder)."""
        return int(self._step.numpy())

    def log(self, **scalars: float) -> None:
        """Record scalars at the current step: in the history and in TensorBoard."""
        self.history.log(self.step, **scalars)
        with self.writer.as_default(step=self.step):
            for name, value in scalars.items():
                tf.summary.write(name, tf.constant(value, tf.float32), metadata=_SCALAR)

    def log_text(self, name: str, text: str) -> None:
        """A text summary in TensorBoard (e.g. a sample) at the current step."""
        with self.writer.as_default(step=self.step):
            tf.summary.write(name, tf.constant(text), metadata=_TEXT)

    def log_image(self, name: str, image: np.ndarray) -> None:
        """An image summary in TensorBoard (e.g. a montage of samples) at the current step:
        uint8 (H, W) or (H, W, 1 or 3), stored as PNG the way TensorBoard's images plugin reads
        it (width, height, then the encoded images)."""
        image = np.asarray(image, np.uint8)
        image = image[..., None] if image.ndim == 2 else image
        png = tf.io.encode_png(image)
        value = tf.stack([tf.as_string(image.shape[1]), tf.as_string(image.shape[0]), png])
        with self.writer.as_default(step=self.step):
            tf.summary.write(name, value, metadata=_IMAGE)

    def write(self, message: str) -> None:
        """Print without breaking the progress bar."""
        from tqdm.auto import tqdm

        tqdm.write(message) if self.bar is not None else print(message, flush=True)

    def save(self) -> None:
        """Checkpoint now (unless this step is already saved), with the history."""
        if self.saved_step == self.step:
            return
        self.manager.save(checkpoint_number=self.step)
        _write_bytes_atomic(self.ckpt_dir / HISTORY_FILE, _to_json(self.history.records))
        self.saved_step = self.step

    def stop(self) -> None:
        """Ask the loop to stop after the current step."""
        self.stop_requested = True


@contextlib.contextmanager
def _deferred_interrupt(loop: Loop):
    """First Ctrl-C: finish the running step, then stop and save. A second one: stop now."""
    def handler(signum, frame):
        if loop.stop_requested and loop.history.stop_reason == "interrupted":
            raise KeyboardInterrupt
        loop.history.stop_reason = "interrupted"
        loop.stop_requested = True

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: KeyboardInterrupt is caught by fit instead
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _distribute(strategy, train_step):
    """A step that splits each batch along axis 0 across replicas and averages the metrics."""
    @tf.function
    def run(batch):
        def shard(ctx):
            n, i = ctx.num_replicas_in_sync, ctx.replica_id_in_sync_group
            return tf.nest.map_structure(lambda x: tf.split(x, n)[i], batch)

        values = strategy.experimental_distribute_values_from_function(shard)
        metrics = strategy.run(train_step, args=(values,))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in metrics.items()}
    return run


# --- The loop -------------------------------------------------------------------------------------

def fit(train_step: Callable[[Any], Mapping[str, tf.Tensor]], data: Iterable,
        ckpt_dir: str | os.PathLike, objects: Mapping[str, Any], *, model_name: str,
        config: Mapping[str, Any], steps: int | None = None, seconds: float | None = None,
        checkpoint_every: int = 1000, log_every: int = 1, callbacks: Sequence[Callback] = (),
        strategy: tf.distribute.Strategy | None = None, progress: bool = True,
        guard: Sequence[str] | None = None, max_to_keep: int = 3) -> History:
    """Run `train_step` on batches of `data` until step `steps` or `seconds` have passed.

    Args:
      train_step: batch -> dict of scalar metrics (a `tf.function` for speed). With a
        `strategy` it runs once per replica on that replica's slice of the batch (split along
        axis 0) and the metrics are averaged: scale the loss you differentiate by the global
        batch size.
      data: iterable of batches; `iter(data)` is called after the checkpoint is restored.
      ckpt_dir: the checkpoint folder; created if new, resumed if it holds a checkpoint.
      objects: name -> trackable (keras models and optimizers, tf.random.Generator,
        EpochBatches, tf.Variable). An int64 variable under "step" is used as the step counter
        (so the train step can read it); otherwise one is made.
      model_name, config: JSON-able identity and settings, saved in `config.json` and checked
        on resume (another model or config in the folder raises ValueError).
      steps: total step to reach (already reached: return at once). seconds: budget of this
        call, from the end of the first step. Neither: until `data` ends or Ctrl-C.
      checkpoint_every: save every N steps; also at the end, on Ctrl-C, and after `seconds`.
      log_every: write the step's metrics to TensorBoard every N steps (the history keeps all).
      callbacks: `Callback`s, e.g. `every(500, evaluate)`.
      guard: metric names that must stay finite (default: all); else NonFiniteLossError.
      progress: show a tqdm progress bar.

    Returns:
      The `History` of every metric since step 0; `history.stop_reason` says why it stopped.
    """
    for name, value in (("steps", steps), ("checkpoint_every", checkpoint_every),
                        ("log_every", log_every)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < (0 if name == "steps" else 1)):
            raise ValueError(f"{name} must be an integer >= {0 if name == 'steps' else 1}, "
                             f"got {value!r}")
    if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"seconds must be a number > 0, got {seconds!r}")
    ckpt_dir = Path(ckpt_dir)
    prepare_dir(ckpt_dir, model_name, json.loads(json.dumps(dict(config))))
    objects = dict(objects)
    step = objects.pop("step", None)
    if step is None:
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(step=step, **objects)
    _track_seed_states(checkpoint, objects)
    _check_tracked(checkpoint, objects)
    manager = tf.train.CheckpointManager(checkpoint, ckpt_dir, max_to_keep=max_to_keep)
    history = History()
    if manager.latest_checkpoint:
        try:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        except (AssertionError, ValueError) as e:
            raise ValueError(f"the checkpoint in {ckpt_dir} does not fit this model: {e}") from e
        if (ckpt_dir / HISTORY_FILE).is_file():
            history = History(json.loads((ckpt_dir / HISTORY_FILE).read_text()))
            history.truncate(int(step.numpy()))
    start = int(step.numpy())
    if steps is not None and start >= steps:
        history.stop_reason = "steps"
        print(f"{ckpt_dir} is already at step {start} (>= steps={steps}); nothing to do.")
        return history

    from tqdm.auto import tqdm

    bar = tqdm(total=steps, initial=start, unit="step", dynamic_ncols=True) if progress else None
    writer = tf.summary.create_file_writer(str(ckpt_dir / "logs"))
    loop = Loop(ckpt_dir, step, manager, writer, bar, history)
    loop.saved_step = start if manager.latest_checkpoint else -1
    run_step = _distribute(strategy, train_step) if strategy is not None else train_step
    batches = iter(data)
    began = None
    try:
        with _deferred_interrupt(loop):
            for cb in callbacks:
                cb.on_train_begin(loop)
            while not loop.stop_requested:
                if steps is not None and loop.step >= steps:
                    history.stop_reason = "steps"
                    break
                if began is not None and seconds is not None and \
                        time.perf_counter() - began >= seconds:
                    history.stop_reason = "seconds"
                    break
                try:
                    batch = next(batches)
                except StopIteration:
                    history.stop_reason = "data"
                    break
                metrics = {k: float(v) for k, v in run_step(batch).items()}
                bad = {k: v for k, v in metrics.items()
                       if (guard is None or k in guard) and not math.isfinite(v)}
                if bad:
                    _non_finite(loop, checkpoint, bad, loop.step + 1)
                step.assign_add(1)
                if began is None:
                    began = time.perf_counter()  # the first step traced and compiled
                if loop.step % log_every == 0:
                    loop.log(**metrics)
                else:
                    history.log(loop.step, **metrics)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
                for cb in callbacks:
                    cb.on_step_end(loop, metrics)
                if loop.step % checkpoint_every == 0:
                    loop.save()
            if loop.stop_requested and not history.stop_reason:
                history.stop_reason = "stopped"
    except KeyboardInterrupt:  # outside the main thread, or a second Ctrl-C
        history.stop_reason = "interrupted"
    finally:
        if bar is not None:
            bar.close()
    for cb in callbacks:
        cb.on_train_end(loop)
    loop.save()
    writer.flush()
    if history.stop_reason == "interrupted":
        print(f"Interrupted: saved step {loop.step} in {ckpt_dir}; run again to resume.")
    return history


def _non_finite(loop: Loop, checkpoint, bad: dict[str, float], at_step: int):
    """Stop on NaN/inf: keep the last good checkpoint, put it back into memory, say what to do."""
    what = ", ".join(f"{k}={v}" for k, v in bad.items())
    if loop.manager.latest_checkpoint:
        checkpoint.restore(loop.manager.latest_checkpoint).expect_partial()
        kept = (f"The last good checkpoint (step {loop.step}) in {loop.ckpt_dir} was kept and "
                "restored into memory.")
    else:
        kept = f"No checkpoint was saved yet in {loop.ckpt_dir}; nothing bad was written."
    loop.writer.flush()
    raise NonFiniteLossError(f"{what} at step {at_step}: training stopped. {kept} Try a lower "
                             "learning rate or stronger gradient clipping.")
