"""What a training run records and does beside its steps: `History` (every metric by step,
for plots) and the callbacks `fit` calls (`every` for periodic work, `KeepBest` for the best
model on held-out data, as Keras's ModelCheckpoint(save_best_only=True) and EarlyStopping do).

    history = training.fit(step, data, "ckpt/gan", objects, model_name="gan",
                           callbacks=[callbacks.every(500, save_frame),
                                      callbacks.KeepBest("val_loss", {"model": model})])
    history.plot(["loss", "val_loss"], mark_best="val_loss")
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from libs import checkpoints
from libs.arguments import check_int
from libs.files import write_bytes_atomic

if TYPE_CHECKING:  # only for the hooks' annotations: training imports this module
    from libs.training import Loop


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

    def plot(self, names: Sequence[str] | None = None, ax=None, ylabel: str | None = None,
             title: str | None = None, mark_best: str | None = None):
        """Plot the named metrics (default: all) against the step, whole steps on the x-axis;
        `mark_best`: circle that metric's lowest value (the model `KeepBest` keeps). Returns the
        matplotlib axes."""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        if ax is None:
            ax = plt.subplots(figsize=(7, 4))[1]
        for name in names or list(self.records):
            steps, values = self[name]
            ax.plot(steps, values, label=name, marker="." if len(steps) < 30 else None)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ylabel is not None:
            ax.set_ylabel(ylabel)
        if title is not None:
            ax.set_title(title)
        steps, values = self[mark_best] if mark_best else ([], [])
        if len(values):
            best = int(np.argmin(values))
            ax.plot(steps[best], values[best], "o", markersize=10, fillstyle="none", color="black",
                    label=f"best {mark_best}: {values[best]:.3g} at step {steps[best]}")
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
        self.n, self.fn, self.at_end = check_int("n", n, 1), fn, at_end
        self._last = None

    def on_step_end(self, loop, metrics):
        if loop.step % self.n == 0:
            self._last = loop.step
            self.fn(loop)

    def on_train_end(self, loop):
        if self.at_end and self._last != loop.step and loop.history.stop_reason != "interrupted":
            self.fn(loop)


class KeepBest(Callback):
    """Keep the weights with the lowest `metric` (e.g. "val_loss", logged by an earlier
    callback) in `ckpt_dir/best/`, beside the latest checkpoint, as Keras's
    `ModelCheckpoint(save_best_only=True)` does; `best/best.json` records the step and value.

    objects: name -> trackable to keep (the model, not its optimizer). patience: stop training
    after that many evaluations in a row without improvement (Keras's EarlyStopping); None:
    never. `checkpoints.restore(ckpt_dir, what, best=True, ...)` loads the best.
    """

    def __init__(self, metric: str, objects: Mapping[str, Any], patience: int | None = None):
        self.metric, self.objects = metric, dict(objects)
        self.patience = None if patience is None else check_int("patience", patience, 1)
        self.best, self.waited, self._manager, self._judged = None, 0, None, None

    def on_train_begin(self, loop):
        folder = loop.ckpt_dir / checkpoints.BEST_DIR
        if folder.is_dir():
            checkpoints.remove_partial_saves(folder)
        self._manager = tf.train.CheckpointManager(tf.train.Checkpoint(**self.objects), folder,
                                                   max_to_keep=1)
        self.best = checkpoints.read_best(loop.ckpt_dir)

    def on_step_end(self, loop, metrics):
        records = loop.history.records.get(self.metric)  # the last one only: this runs each step
        if not records or records[-1][0] != loop.step or not math.isfinite(records[-1][1]) \
                or self._judged == loop.step:  # each evaluation counts once
            return
        self._judged = loop.step
        value = float(records[-1][1])
        if self.best is None or value < self.best["value"]:
            self._manager.save(checkpoint_number=loop.step)
            self.best = {"step": loop.step, "metric": self.metric, "value": value}
            write_bytes_atomic(loop.ckpt_dir / checkpoints.BEST_DIR / checkpoints.BEST_FILE,
                               checkpoints.to_json(self.best))
            self.waited = 0
        elif self.best["step"] != loop.step:
            self.waited += 1
            if self.patience is not None and self.waited >= self.patience:
                loop.write(f"No better {self.metric} in {self.waited} evaluations: stopping "
                           f"(best {self.best['value']:.4g} at step {self.best['step']}).")
                loop.history.stop_reason = "patience"
                loop.stop()

    def on_train_end(self, loop):
        self.on_step_end(loop, {})  # an evaluation made at the end
