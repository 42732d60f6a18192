"""The one training-loop skeleton every model uses: `fit(train_step, data, ckpt_dir, objects, ...)`.

A model plugs in three things and gets everything else:

* `train_step(batch) -> {"loss": scalar, ...}`: one optimisation step, usually a `tf.function`,
  returning a dict of scalar metrics;
* `data`: an iterable of batches. `iter(data)` is called *after* the checkpoint is restored, so
  `dataset_utils.EpochBatches` (which keeps its position in checkpointed variables) resumes
  exactly;
* `objects`: the named trackables that make up the training state: models, optimizers (build
  them first: `optimizer.build(model.trainable_variables)`), `tf.random.Generator`s, the data.

`fit` then handles: `steps` as the total step to reach (a second call on the same folder resumes
and stops there), a `seconds` budget counted from the end of the first (tracing) step, a tqdm
progress bar (also in notebooks), TensorBoard scalars in `ckpt_dir/logs`, a
`tf.train.CheckpointManager` every `checkpoint_every` steps and at the end, the model's name and
config in `ckpt_dir/config.json` (checked on resume), a NaN/inf guard (stop, keep the last good
checkpoint, restore it into memory, raise `NonFiniteLossError`; weights that are not finite are
never saved), Ctrl-C, SIGTERM and SIGHUP (finish the step, save, return normally: a notebook
keeps its model; a second one skips only the final pictures, never the save), a save before any
error from a callback or the data is raised, a lock so that two trainings never share a folder,
a resume from the newest intact checkpoint (found from the files; damaged ones are named and
removed, partial saves of a full disk or a kill -9 cleaned up), callbacks for side effects
(`libs.callbacks`, which also holds the `History` it returns), and an optional `tf.distribute`
strategy. No pickle: TF checkpoints plus JSON.

    history = fit(step, dataset_utils.EpochBatches(make_epoch), "ckpt/gan",
                  {"generator": g, "discriminator": d, "g_opt": g_opt, "d_opt": d_opt, ...},
                  model_name="gan", config=asdict(cfg), steps=10_000,
                  callbacks=[callbacks.every(500, save_frame)])

The model contract, followed by every model module (charrnn, gan, draw, vaegan; checked by
tests/test_contract.py, so a fifth model copies the contract, not another model):

* `MODEL_NAME` (the name in config.json) and `Config`, the config dataclass: one field per
  setting, each checked in `__post_init__` with `libs.arguments`' checks;
* a model class whose objects carry `.config`, `.step` (an int64 `tf.Variable`, checkpointed),
  their optimizers and random generators, and `.trackables()`: the one place that names what a
  checkpoint holds (`{"step": ..., "model" or the networks: ..., "..._optimizer": ..., "rng": ...}`);
* `train(data, ckpt_dir, *, steps=None, seconds=None, strategy=None, callbacks=(),
  progress=True, checkpoint_every=500, **settings) -> (model, History)`: settings are `Config`
  fields; a folder being resumed keeps its saved config;
* `load(ckpt_dir) -> model`;
* `sample(model, n, *, seed=None, ...)`: images as uint8 arrays (n, H, W, C); text (char-RNN,
  whose n counts characters) as a list of strings;
* `evaluate(model, data, ...) -> dict` of JSON-able figures;
* `main(argv=None) -> int`, the command line: train, sample and eval.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from libs import checkpoints
from libs.callbacks import Callback, History
from libs.dataset_utils import EpochBatches
from libs.arguments import check_int, check_positive
from libs.files import write_bytes_atomic

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


def carry_training_state(model: keras.Model, optimizer, seed: int,
                         precision: str = "fp32") -> None:
    """Give a Keras model the training state the contract asks for: `.step` (an int64
    variable), `.train_optimizer` (built on its weights) and `.rng` (a generator from `seed`).
    They are set past Keras's and TensorFlow's attribute tracking, so that `model.weights` and
    the model's own checkpoint (a best model, say) stay its weights alone; the model's
    `trackables()` names them for a checkpoint. Keras's own `.optimizer` is left to compile.
    `.apply_optimizer` is what the train step applies gradients with: the optimizer itself,
    or with precision "fp16" Keras's LossScaleOptimizer around it (float16 gradients
    underflow: the step scales its loss with `scale_loss`); checkpoints keep the optimizer
    alone, so a run may resume in another precision."""
    optimizer.build(model.trainable_variables)
    apply = optimizer
    if precision == "fp16":
        apply = keras.optimizers.LossScaleOptimizer(optimizer)
        apply.build(model.trainable_variables)
    for name, value in (("step", tf.Variable(0, dtype=tf.int64, trainable=False, name="step")),
                        ("train_optimizer", optimizer), ("apply_optimizer", apply),
                        ("rng", tf.random.Generator.from_seed(seed))):
        object.__setattr__(model, name, value)


class Loop:
    """What callbacks see of a running `fit`."""

    def __init__(self, ckpt_dir: Path, step: tf.Variable, manager, writer, bar, history,
                 log_every: int = 1):
        self.ckpt_dir, self._step, self.manager = ckpt_dir, step, manager
        self.writer, self.bar, self.history, self.log_every = writer, bar, history, log_every
        self.stop_requested = False
        self.saved_step = -1
        self.signal_name = ""     # the first signal that asked to stop ("SIGINT", "SIGTERM", ...)
        self._in_callbacks = False  # only then may a second signal cut the work short
        self._in_step = False     # an error while True leaves the step half done: not saved
        self._finite = checkpoints.float_variables(manager.checkpoint)
        self.agree = None         # several workers: flags -> whether any worker raised each

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
        """Checkpoint now (unless this step is already saved), with the history.

        Weights that are not finite are never saved: NonFiniteLossError instead, with the last
        good checkpoint put back into memory. A failed save (disk full, read-only folder)
        leaves no partial checkpoint and raises checkpoints.CheckpointSaveError saying which one is intact.
        """
        if self.saved_step == self.step:
            return
        bad = [name for name, v in self._finite if not bool(tf.reduce_all(tf.math.is_finite(v)))]
        if bad:
            _non_finite(self, {"weights": f"not finite in {len(bad)} tensors, e.g. {bad[:3]}"},
                        self.step)
        try:
            self.manager.save(checkpoint_number=self.step)
            write_bytes_atomic(self.ckpt_dir / HISTORY_FILE, checkpoints.to_json(self.history.records))
        except (tf.errors.OpError, OSError) as e:
            raise _save_failed(self, e) from e
        self.saved_step = self.step

    def stop(self) -> None:
        """Ask the loop to stop after the current step."""
        self.stop_requested = True

    @contextlib.contextmanager
    def skippable(self):
        """Callbacks' work (evaluations, pictures): a second Ctrl-C may cut it short."""
        self._in_callbacks = True
        try:
            yield
        finally:
            self._in_callbacks = False


def _save_failed(loop: Loop, error: BaseException) -> checkpoints.CheckpointSaveError:
    """The error to raise when saving step `loop.step` failed, after removing its leftovers."""
    checkpoints.remove_partial_saves(loop.ckpt_dir)
    kept = checkpoints.checkpoint_files(loop.ckpt_dir)
    kept = [(n, p) for n, p in kept if n != loop.step]
    intact = (f"The checkpoint of step {kept[0][0]} ({Path(kept[0][1]).name}) is intact; run "
              "again to resume from it" if kept else "No earlier checkpoint was saved")
    need = sum(v.shape.num_elements() * v.dtype.size for _, v in loop._finite)  # no copies
    free = shutil.disk_usage(loop.ckpt_dir).free
    return checkpoints.CheckpointSaveError(
        f"could not save step {loop.step} in {loop.ckpt_dir}: {checkpoints.first_line(error)}. A checkpoint "
        f"needs about {checkpoints.size_text(need)} and {checkpoints.size_text(free)} are free there. "
        f"{intact} once there is room (or the folder is writable).")


# --- Signals: Ctrl-C, SIGTERM and SIGHUP finish the step, save and return -----------------------

_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                      if hasattr(signal, name))


@contextlib.contextmanager
def _signals(loop: Loop):
    """The first Ctrl-C (or SIGTERM, SIGHUP): finish the running step, then stop and save.

    A second one cuts short the callbacks' work (evaluations, montages, GIFs) if it is running,
    but never a step or the checkpoint.
    """
    def handler(signum, frame):
        if not loop.signal_name:
            loop.signal_name = signal.Signals(signum).name
            loop.history.stop_reason = "interrupted"
            loop.stop_requested = True
        elif loop._in_callbacks:
            raise KeyboardInterrupt

    try:
        previous = {s: signal.signal(s, handler) for s in _STOP_SIGNALS}
    except ValueError:  # not the main thread: KeyboardInterrupt is caught by fit instead
        yield
        return
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _distribute(strategy, train_step, workers: int = 1):
    """A step that splits each batch along axis 0 across replicas and averages the metrics.
    workers > 1: the batch is this worker's share (`EpochBatches.shard`), split across its own
    replicas (a worker's replicas have consecutive ids)."""
    @tf.function
    def run(batch):
        def shard(ctx):
            n, i = ctx.num_replicas_in_sync, ctx.replica_id_in_sync_group
            n //= workers
            return tf.nest.map_structure(lambda x: tf.split(x, n)[i % n], batch)

        values = strategy.experimental_distribute_values_from_function(shard)
        metrics = strategy.run(train_step, args=(values,))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in metrics.items()}
    return run


# --- Strategies by name, and several workers: who writes, and agreeing when to stop ------------

STRATEGIES = ("default", "mirrored", "multiworker")
_TF_CONFIG_FORM = ('{"cluster": {"worker": ["host0:port", "host1:port"]}, '
                   '"task": {"type": "worker", "index": 0}}')


def make_strategy(name: str = "default") -> tf.distribute.Strategy | None:
    """The strategy a command line's ``--strategy`` names: "default" is None (one device),
    "mirrored" a `tf.distribute.MirroredStrategy` over this machine's GPUs (or its CPU),
    "multiworker" a `tf.distribute.MultiWorkerMirroredStrategy` over the machines that the
    environment variable TF_CONFIG lists (each with its local GPUs), checked first: ValueError
    naming what is expected. Make it before other TensorFlow work, as TensorFlow asks."""
    if name == "default":
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def check_tf_config(text: str | None) -> dict:
    """TF_CONFIG parsed, or ValueError saying what is wrong and what is expected: the same
    cluster on every worker and this worker's own task (`_TF_CONFIG_FORM`)."""
    expected = (f"set it on every machine to JSON like {_TF_CONFIG_FORM}: the same cluster "
                "everywhere, and each machine's own task index (0 on the chief)")
    if not text:
        raise ValueError(f"--strategy multiworker reads the cluster from TF_CONFIG, which is "
                         f"not set; {expected}")
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        kind, index = task["type"], task["index"]
        hosts = {job: list(cluster[job]) for job in ("chief", "worker") if job in cluster}
    except (ValueError, KeyError, TypeError) as e:
        what = f"no {e}" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
        raise ValueError(f"TF_CONFIG is malformed ({what}); {expected}") from None
    problems = [f"cluster.{job} lists {h!r}, not 'host:port'" for job, listed in hosts.items()
                for h in listed if not (isinstance(h, str) and h.rpartition(":")[2].isdigit())]
    if not hosts.get("worker") and not hosts.get("chief"):
        problems.append("cluster lists no workers")
    if len(hosts.get("chief", [])) > 1:
        problems.append("cluster lists more than one chief")
    if kind not in hosts:
        problems.append(f"task.type is {kind!r}, not one of the cluster's {sorted(hosts)}")
    elif not (isinstance(index, int) and 0 <= index < len(hosts[kind])):
        problems.append(f"task.index is {index!r}, not 0 to {len(hosts[kind]) - 1}")
    if problems:
        raise ValueError(f"TF_CONFIG is malformed ({'; '.join(problems)}); {expected}")
    return config


def _workers(strategy) -> int:
    """How many processes (machines) train together: 1 unless a multi-worker strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 1
    spec = resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs)


def worker_index(strategy) -> int:
    """This process's number among the `_workers(strategy)` workers: the chief 0, then the
    workers in order."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if _workers(strategy) == 1 or resolver.task_type == "chief":
        return 0
    return resolver.task_id + ("chief" in resolver.cluster_spec().jobs)


def is_chief(strategy) -> bool:
    """Whether this process writes the user's folder: always, unless one of several workers
    that is not the chief (task type "chief", else worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if _workers(strategy) == 1 or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and \
        "chief" not in resolver.cluster_spec().jobs


_WORKER_COPIES: dict[Path, Path] = {}  # a worker's temporary copy -> the user's folder


def worker_folder(ckpt_dir, strategy) -> Path:
    """The folder this process trains in: `ckpt_dir` itself on the chief (and without
    several workers); on any other worker a temporary copy of it (its config, vocabulary,
    checkpoints and history, which every worker must restore alike), deleted when the process
    ends. TensorFlow's multi-worker training needs every worker to save its checkpoints, as
    its "Custom training loop with MultiWorkerMirroredStrategy" tutorial does (`write_filepath`):
    only the chief's land in the user's folder. The folder must be shared by the workers (or
    copied to each machine) for a resume; `fit` refuses workers that restored different steps."""
    ckpt_dir = Path(ckpt_dir)
    if is_chief(strategy):
        return ckpt_dir
    import atexit
    import tempfile

    resolver = strategy.cluster_resolver
    copy = Path(tempfile.mkdtemp(prefix=f"{ckpt_dir.name}-{resolver.task_type}"
                                        f"{resolver.task_id}-"))
    atexit.register(shutil.rmtree, copy, ignore_errors=True)
    if ckpt_dir.is_dir():
        shutil.copytree(ckpt_dir, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            "logs", "progress", checkpoints.BEST_DIR, checkpoints.LOCK_FILE, "*_temp"))
    _WORKER_COPIES[copy] = ckpt_dir
    return copy


def folder_name(folder) -> str:
    """How messages name a training folder: a worker's temporary copy (`worker_folder`) by the
    user's folder, which the chief writes and a run resumes from."""
    user = _WORKER_COPIES.get(Path(folder))
    if user is None:
        return str(folder)
    return f"{user} (by the chief; this worker's copy {folder} is deleted when it ends)"


def _agree(strategy) -> Callable[..., list[bool]]:
    """flags -> for each, whether any worker raised it (one all-reduce): workers stop and
    save at the same step, or the others would wait for them forever."""
    @tf.function
    def total(flags):
        values = strategy.experimental_distribute_values_from_function(lambda ctx: flags)
        return strategy.reduce("SUM", values, axis=None)

    def agree(*flags: bool) -> list[bool]:
        return [bool(t > 0) for t in total(tf.constant(flags, tf.float32)).numpy()]
    return agree


def _check_same_start(strategy, start: int, ckpt_dir: Path) -> None:
    """All workers must resume from the same step (ValueError on every worker otherwise)."""
    values = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant([start, start * start, 1], tf.float64))
    total, squares, n = strategy.reduce("SUM", values, axis=None).numpy()
    if squares * n != total * total:
        raise ValueError(f"the workers resumed from different steps (this one from step "
                         f"{start} in {folder_name(ckpt_dir)}, their mean is {total / n:g}): every worker "
                         "must see the chief's checkpoint folder, shared or copied to each "
                         "machine")


# --- The loop -------------------------------------------------------------------------------------

def fit(train_step: Callable[[Any], Mapping[str, tf.Tensor]], data: Iterable,
        ckpt_dir: str | os.PathLike, objects: Mapping[str, Any], *, model_name: str,
        config: Mapping[str, Any], steps: int | None = None, seconds: float | None = None,
        checkpoint_every: int = 1000, checkpoint_seconds: float | None = 300,
        log_every: int = 1, callbacks: Sequence[Callback] = (),
        strategy: tf.distribute.Strategy | None = None, progress: bool = True,
        guard: Sequence[str] | None = None, max_to_keep: int = 3) -> History:
    """Run `train_step` on batches of `data` until step `steps` or `seconds` have passed.

    Args:
      train_step: batch -> dict of scalar metrics (a `tf.function` for speed). With a
        `strategy` it runs once per replica on that replica's slice of the batch (split along
        axis 0) and the metrics are averaged: scale the loss you differentiate by the global
        batch size.
      data: iterable of batches; `iter(data)` is called after the checkpoint is restored.
      ckpt_dir: the checkpoint folder; created if new, resumed if it holds a checkpoint (the
        newest intact one: a damaged newer one is removed, with a warning). One training at a
        time per folder (checkpoints.FolderInUseError).
      objects: name -> trackable (keras models and optimizers, tf.random.Generator,
        EpochBatches, tf.Variable). An int64 variable under "step" is used as the step counter
        (so the train step can read it); otherwise one is made.
      model_name, config: JSON-able identity and settings, saved in `config.json` and checked
        on resume (another model or config in the folder raises ValueError).
      steps: total step to reach (already reached: return at once). seconds: budget of this
        call, from the end of the first step. Neither: until `data` ends or Ctrl-C.
      checkpoint_every: save every N steps; checkpoint_seconds: also when that much wall time
        has passed since the last save (None: steps only). Always at the end, on Ctrl-C,
        SIGTERM or SIGHUP, after `seconds`, and when a callback or the data raise.
      log_every: write the step's metrics to TensorBoard every N steps (the history keeps all).
      callbacks: `Callback`s, e.g. `every(500, evaluate)`.
      guard: metric names that must stay finite (default: all); else NonFiniteLossError.
      progress: show a tqdm progress bar, and a summary line at the end.
      strategy: a `tf.distribute` strategy whose scope built `objects` (`make_strategy`).
        With several workers (MultiWorkerMirroredStrategy), `data` of `EpochBatches` is
        sharded: each worker reads only its share of every batch (image folders: its files)
        and its replicas split that; other data is read whole by every worker and each
        replica takes its slice (the replica ids are global). All stop and save at the same
        steps, and `ckpt_dir` should be `worker_folder(ckpt_dir,
        strategy)`, so that only the chief writes the user's folder.

    Returns:
      The `History` of every metric since step 0; `history.stop_reason` says why it stopped.
    """
    _check_fit_arguments(steps, seconds, checkpoint_every, checkpoint_seconds, log_every)
    ckpt_dir = Path(ckpt_dir)
    if ckpt_dir.exists() and not ckpt_dir.is_dir():
        raise ValueError(f"{ckpt_dir} is a file, not a folder; choose a new or empty folder")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    with checkpoints.training_lock(ckpt_dir):
        checkpoints.prepare_dir(ckpt_dir, model_name, json.loads(json.dumps(dict(config))))
        checkpoint, step, history = _resume(ckpt_dir, objects, model_name, max_to_keep)
        start = int(step.numpy())
        several = _workers(strategy) > 1
        if several:
            _check_same_start(strategy, start, ckpt_dir)
        if steps is not None and start >= steps:
            history.stop_reason = "steps"
            print(f"{folder_name(ckpt_dir)} is already at step {start} (>= steps={steps}); nothing to do.")
            return history
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=start, unit="step", dynamic_ncols=True) \
            if progress else None
        manager = tf.train.CheckpointManager(checkpoint, ckpt_dir, max_to_keep=max_to_keep)
        try:
            writer = tf.summary.create_file_writer(str(ckpt_dir / "logs"))
        except tf.errors.OpError as e:
            raise OSError(f"cannot write TensorBoard logs in {ckpt_dir / 'logs'} "
                          f"({checkpoints.first_line(e)}): is the disk full or the folder read-only?") from e
        loop = Loop(ckpt_dir, step, manager, writer, bar, history, log_every)
        loop.saved_step = start if manager.latest_checkpoint else -1
        loop.agree = _agree(strategy) if several else None
        workers = 1
        if several and isinstance(data, EpochBatches):
            workers = _workers(strategy)
            data.shard = (worker_index(strategy), workers)
        run_step = _distribute(strategy, train_step, workers) if strategy is not None \
            else train_step
        began = time.perf_counter()
        with _signals(loop):
            _run(loop, run_step, iter(data), callbacks, steps=steps, seconds=seconds,
                 checkpoint_every=checkpoint_every, checkpoint_seconds=checkpoint_seconds,
                 guard=guard)
            _finish(loop, callbacks)
        if progress:
            _summary(loop, start, time.perf_counter() - began, model_name)
    return history


def _check_fit_arguments(steps, seconds, checkpoint_every, checkpoint_seconds, log_every):
    for name, value, low in (("steps", steps, 0), ("checkpoint_every", checkpoint_every, 1),
                             ("log_every", log_every, 1)):
        if value is not None:
            check_int(name, value, low)
    for name, value in (("seconds", seconds), ("checkpoint_seconds", checkpoint_seconds)):
        if value is not None:
            check_positive(name, value)


def _resume(ckpt_dir: Path, objects: Mapping[str, Any], model_name: str, max_to_keep: int):
    """The checkpoint of `objects`, their step variable and the history, restored from the
    newest intact checkpoint in `ckpt_dir` (damaged newer ones are removed, with a warning)."""
    objects = dict(objects)
    step = objects.pop("step", None)
    if step is None:
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(step=step, **objects)
    checkpoints.track_seed_states(checkpoint, objects)
    checkpoints.check_tracked(checkpoint, objects)
    checkpoints.remove_partial_saves(ckpt_dir)
    number, prefix, damaged = checkpoints.restore_newest(checkpoint, ckpt_dir, model_name, partial=False)
    checkpoints.say_damaged(damaged, f"it was removed and training resumes from step {number}")
    for bad, _ in damaged:
        checkpoints.remove_checkpoint(bad)
    if prefix is None:
        return checkpoint, step, History()
    try:  # the index file lists what the manager keeps and deletes
        state = tf.train.get_checkpoint_state(str(ckpt_dir))
    except (tf.errors.OpError, ValueError):
        state = None
    if state is None or Path(state.model_checkpoint_path).name != Path(prefix).name:
        kept = [p for _, p in reversed(checkpoints.checkpoint_files(ckpt_dir))]
        times = [os.stat(f"{p}.index").st_mtime for p in kept]  # the manager deletes by them
        tf.compat.v1.train.update_checkpoint_state(
            str(ckpt_dir), prefix, kept, all_model_checkpoint_timestamps=times,
            last_preserved_timestamp=min(times) - 1)
    return checkpoint, step, _read_history(ckpt_dir, int(step.numpy()))


def _read_history(ckpt_dir: Path, step: int) -> History:
    """The saved history cut at `step`; a damaged file costs only the plot, with a warning."""
    path = ckpt_dir / HISTORY_FILE
    if not path.is_file():
        return History()
    try:
        history = History(json.loads(path.read_text()))
        history.truncate(step)
    except (ValueError, TypeError, AttributeError) as e:
        warnings.warn(f"{path} is damaged ({e}); training resumes, but the curves start again "
                      f"at step {step}", stacklevel=3)
        return History()
    return history


def _run(loop: Loop, run_step, batches, callbacks, *, steps, seconds, checkpoint_every,
         checkpoint_seconds, guard) -> None:
    """The loop proper: step, log, call back, save, until a reason to stop. An error outside
    the step itself (a callback, the data) is raised after saving what was trained."""
    history, began, saved_at = loop.history, None, time.monotonic()
    try:
        with loop.skippable():
            for cb in callbacks:
                cb.on_train_begin(loop)
        while True:
            stop = loop.stop_requested
            time_up = began is not None and seconds is not None and \
                time.perf_counter() - began >= seconds
            if loop.agree is not None:  # several workers: all stop at the same step
                stop, time_up = loop.agree(stop, time_up)
            if stop:
                loop.stop_requested = True
                break
            if steps is not None and loop.step >= steps:
                history.stop_reason = "steps"
                break
            if time_up:
                history.stop_reason = "seconds"
                break
            try:
                batch = next(batches)
            except StopIteration:
                history.stop_reason = "data"
                break
            metrics = _one_step(loop, run_step, batch, guard)
            began = began or time.perf_counter()  # the first step traced and compiled
            with loop.skippable():
                for cb in callbacks:
                    cb.on_step_end(loop, metrics)
            save_due = bool(checkpoint_seconds) and \
                time.monotonic() - saved_at >= checkpoint_seconds
            if loop.agree is not None:  # and save at the same steps
                save_due, = loop.agree(save_due)
            if loop.step % checkpoint_every == 0 or save_due:
                loop.save()
                saved_at = time.monotonic()
        if loop.stop_requested and not history.stop_reason:
            history.stop_reason = "stopped"
    except KeyboardInterrupt:  # a second Ctrl-C, or Ctrl-C outside the main thread
        history.stop_reason = "interrupted"
        loop.signal_name = loop.signal_name or "SIGINT"
    except (NonFiniteLossError, checkpoints.CheckpointSaveError):
        raise
    except BaseException:
        _save_before_raising(loop)
        raise
    finally:
        if loop.bar is not None:
            loop.bar.close()


def _one_step(loop: Loop, run_step, batch, guard) -> dict[str, float]:
    """One training step, its NaN guard, its log line and progress."""
    loop._in_step = True
    metrics = {k: float(v) for k, v in run_step(batch).items()}
    loop._in_step = False
    bad = {k: v for k, v in metrics.items()
           if (guard is None or k in guard) and not math.isfinite(v)}
    if bad:
        _non_finite(loop, bad, loop.step + 1)
    loop._step.assign_add(1)
    if loop.step % loop.log_every == 0:
        loop.log(**metrics)
    else:
        loop.history.log(loop.step, **metrics)
    if loop.bar is not None:
        loop.bar.update(1)
        loop.bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
    return metrics


def _save_before_raising(loop: Loop) -> None:
    """A callback or the data failed: save the steps trained so far, then let the error go on.
    An error inside the step itself leaves the weights half updated: those are not saved."""
    if loop._in_step:
        where = (f"step {loop.saved_step} is the last saved" if loop.saved_step >= 0
                 else "nothing was saved yet")
        loop.write(f"The training step failed; {where} in {folder_name(loop.ckpt_dir)}.")
        return
    try:
        loop.save()
        loop.write(f"Saved step {loop.step} in {folder_name(loop.ckpt_dir)} before stopping on this error:")
    except (tf.errors.OpError, OSError, NonFiniteLossError) as e:
        loop.write(f"Could not save either ({e}).")


def _finish(loop: Loop, callbacks: Sequence[Callback]) -> None:
    """The callbacks' last word (skipped by a second Ctrl-C), then the final save."""
    try:
        with loop.skippable():
            for cb in callbacks:
                cb.on_train_end(loop)
    except KeyboardInterrupt:
        loop.write("Second interrupt: skipping the final pictures and evaluation; saving.")
    except BaseException:
        _save_before_raising(loop)
        raise
    loop.save()
    loop.writer.flush()
    if loop.signal_name:
        print(f"Interrupted ({loop.signal_name}): saved step {loop.step} in {folder_name(loop.ckpt_dir)}; "
              "run again to resume.", flush=True)


def _summary(loop: Loop, start: int, elapsed: float, model_name: str) -> None:
    """One line that still reads right when the progress bar's widget is gone (a reopened
    notebook): steps done, time, last metrics."""
    done = loop.step - start
    last = ", ".join(f"{name} {values[-1][1]:.4g}" for name, values in loop.history.records.items()
                     if values and values[-1][0] == loop.step)
    print(f"{model_name}: trained steps {start} to {loop.step} ({done} steps) in {elapsed:.0f} s"
          + (f"; at step {loop.step}: {last}" if last else "") + f" [{loop.history.stop_reason}]",
          flush=True)


def _non_finite(loop: Loop, bad: dict[str, float], at_step: int):
    """Stop on NaN/inf: keep the last good checkpoint, put it back into memory, say what to do."""
    what = ", ".join(f"{k}={v}" for k, v in bad.items())
    if loop.manager.latest_checkpoint:
        loop.manager.checkpoint.restore(loop.manager.latest_checkpoint).expect_partial()
        kept = (f"The last good checkpoint (step {loop.step}) in {folder_name(loop.ckpt_dir)} was kept and "
                "restored into memory.")
    else:
        kept = f"No checkpoint was saved yet in {folder_name(loop.ckpt_dir)}; nothing bad was written."
    loop.writer.flush()
    raise NonFiniteLossError(f"{what} at step {at_step}: training stopped. {kept} Try a lower "
                             "learning rate or stronger gradient clipping.")
