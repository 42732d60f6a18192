"""Character-level language model (char-RNN): model, training, sampling, command line.

Read top to bottom: the model (embedding, n layers of the recurrent cells of `libs.rnn`,
logits) and its config (the text's vocabulary and windows are `libs.text`'s); training on the
shared loop of `libs.training`; sampling; evaluation; the command line. It follows the model
contract of `libs.training` (`MODEL_NAME`, `Config`, a model carrying its step, optimizer and
RNG, `train`, `load`, `sample`, `evaluate`, `main`); `sample`'s n counts characters and it
returns strings. The command line:

    python -m libs.charrnn train --corpus embedded --ckpt ckpt/charrnn --seconds 600
    python -m libs.charrnn sample --ckpt ckpt/charrnn --prime "The " --temperature 0.8
    python -m libs.charrnn eval --ckpt ckpt/charrnn --text held_out.txt

Shapes: B batch, T time steps, S sampled streams, H cells per layer, G gates (1, 3 or 4),
V vocabulary size.

Speed: the cells project the input of all steps in one matmul and backpropagate through time by
hand (see `libs.rnn`). The first layer's projection of the embedding is a table lookup
(embedding @ W is (V, G*H)), which removes a quarter of the work. The train step, evaluation
and the sampling loop are compiled with XLA.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import sys
import weakref
from pathlib import Path

import numpy as np
import tensorflow as tf
import keras

from libs import checkpoints, metrics, music, paths, training
from libs.arguments import (LEARNING_RATE_MAX, SEED_MAX, arg_int, arg_positive, arg_type,
                            check_fits, check_int, check_number, check_positive,
                            seed_or_fresh)
from libs.callbacks import History, KeepBest, every
from libs.commands import config_flags, run_command, speed_flags, strategy_flag
from libs.rnn import CELLS, Recurrent
from libs.sampling import CHUNK, choose, streams
from libs.text import (END, KINDS, Vocabulary, as_records, read_records, read_symbols,
                       record_windows, split_held_out, split_records, training_records,
                       training_windows, write_symbols)

# The cell that learns fastest in equal wall time at the default settings, measured on 2 CPU
# cores with `python benchmarks/bench_charrnn.py --compare-cells SECONDS` (held-out nats/char):
# after 480 s: gru 1.83, rnn 1.82, lstm 2.26; the GRU overtakes the basic RNN (which plateaus
# near 1.80) after about 5 minutes and keeps improving. The LSTM costs 1.3x a GRU step.
DEFAULT_CELL = "gru"
MODEL_NAME = "charrnn"
VOCABULARY_FILE = "vocabulary.json"


class _PerModelTraces(logging.Filter):
    """Drops TensorFlow's warning that `CharRNN.generate_chunk`, the evaluation step or the
    train step "triggered tf.function retracing". Each is compiled once per model (and the
    sampling loop once per way of sampling: greedy, top-k, top-p, number of streams), then
    reused; TensorFlow counts the traces of all models together, so a notebook that trains
    seven models, or tries every way of sampling on two, sees the warning by design, and its
    advice does not apply."""
    FUNCTIONS = ("generate_chunk", "_eval_step", "make_train_step")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message
                    and any(name in message for name in self.FUNCTIONS))


tf.get_logger().addFilter(_PerModelTraces())


# --- The model ----------------------------------------------------------------------------------

@dataclasses.dataclass
class CharRNNConfig:
    """Everything needed to rebuild and continue a char-RNN; saved in the checkpoint folder.

    The defaults are the original course's (batch 100, sequence 100, 256 cells, 2 layers, clip
    5) except the cell (see DEFAULT_CELL), the learning rate and the clipping: Adam at 3e-3
    with the gradient's global norm clipped (the original: 1e-3, each entry clipped). Trained
    for 180 s on 2 CPU cores (`benchmarks/bench_charrnn.py --versus-keras 180`), these reached a
    held-out 1.52 nats/char on Alice in Wonderland and 1.78 on 150,000 characters of the
    embedded corpus (the original's settings: 1.88 and 2.37, measured when the held-out text was
    the text's end, which cost about 0.2 there). The embedding has n_cells entries per
    character, as in the original.
    """
    cell: str = DEFAULT_CELL
    n_layers: int = 2
    n_cells: int = 256
    batch_size: int = 100
    sequence_length: int = 100
    learning_rate: float = 3e-3
    clip: float = 5.0
    clip_mode: str = "norm"           # "norm": the global norm, "value": each gradient entry
    dropout: float = 0.0              # on the outputs of each recurrent layer, while training
    recurrent_dropout: float = 0.0    # on each layer's state before h U, one mask per sequence
    layer_norm: bool = False          # layer normalisation inside the cells (see libs.rnn)
    validation_fraction: float = 0.1  # held out, from places spread over the text; 0 allowed
    seed: int = 0
    kind: str = "text"                # what the symbols are: text, bytes, midi, wav (libs.text)
    records: bool = False             # trained on records, one padded window each (libs.text)
    sample_rate: int = 8000           # kind "wav": the sound's samples per second

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.clip_mode not in ("value", "norm"):
            raise ValueError(f"clip_mode must be 'value' or 'norm', got {self.clip_mode!r}")
        for name in ("n_layers", "n_cells", "batch_size", "sequence_length"):
            setattr(self, name, check_int(name, getattr(self, name), 1))
        self.seed = check_int("seed", self.seed, 0, SEED_MAX)
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not isinstance(self.records, (bool, np.bool_)):
            raise ValueError(f"records must be True or False, got {self.records!r}")
        self.records = bool(self.records)
        self.sample_rate = check_int("sample_rate", self.sample_rate, 1000, 192000)
        self.learning_rate = check_positive("learning_rate", self.learning_rate, LEARNING_RATE_MAX)
        self.clip = check_positive("clip", self.clip)  # clipping cannot be switched off with 0
        for name in ("dropout", "recurrent_dropout", "validation_fraction"):
            setattr(self, name, check_number(name, getattr(self, name), 0, 1, open_high=True))
        if not isinstance(self.layer_norm, (bool, np.bool_)):
            raise ValueError(f"layer_norm must be True or False, got {self.layer_norm!r}")
        self.layer_norm = bool(self.layer_norm)


Config = CharRNNConfig  # the contract's name for every model's config


class CharRNN(keras.Model):
    """Embedding (V, H), then `n_layers` layers of `cell`, then logits (H -> V).

    `model(ids)` maps ids (B, T) to logits (B, T, V) and the final states (one tuple per
    layer); `model.advance(ids, states)` advances S streams by one character each. The
    vocabulary and config ride along as `model.vocab` and `model.config`.

    The training state rides along too: `model.step` (int64 variable, the steps trained),
    `model.train_optimizer` (Adam, clipping by value or global norm, built; not Keras's
    `model.optimizer`, which belongs to `compile`) and `model.rng` (dropout's seeds);
    `model.trackables()` names what a checkpoint holds.

    `precision` ("fp32", "bf16", "fp16"): the layers compute in float32, or in bfloat16 or
    float16 with float32 weights (Keras's mixed precision policies); logits and losses are
    float32 always. Speed only: not saved, so a model may be trained, resumed and loaded in
    any precision (`model.apply_optimizer`: see `training.carry_training_state`).
    `model.step_path`, the step `train` chose (`speed_settings`; "xla" otherwise): the held-out
    loss is computed by XLA too, or in TensorFlow's graph where the step is "stock" (on an
    Intel Xeon with AMX, where the graph's bfloat16 products win, XLA's evaluation of a
    bfloat16 model took 1.9x as long as the graph's).
    """

    def __init__(self, config: CharRNNConfig, vocab: Vocabulary, precision: str = "fp32"):
        super().__init__(name=MODEL_NAME)
        self.config, self.vocab, self.precision = config, vocab, precision
        self.step_path = "xla"
        H, V = config.n_cells, len(vocab)
        self.embedding = self.add_weight(shape=(V, H), name="embedding",
                                         initializer=keras.initializers.RandomUniform(-0.05, 0.05))
        with paths.precision_scope(precision):
            for i in range(config.n_layers):  # attributes: tf.train.Checkpoint sees them
                setattr(self, f"rnn{i}", Recurrent(config.cell, H, input_dim=H, name=f"rnn{i}",
                                                   recurrent_dropout=config.recurrent_dropout,
                                                   layer_norm=config.layer_norm))
            self.head = keras.layers.Dense(V, name="logits")
        self.head.build((None, H))
        self.built = True  # every weight exists now; nothing is left for Keras to build
        clip = {"clipvalue" if config.clip_mode == "value" else "global_clipnorm": config.clip}
        # The training state sits beside the network (its best/ checkpoint holds weights alone).
        training.carry_training_state(self, keras.optimizers.Adam(config.learning_rate, **clip),
                                      config.seed, precision)

    def trackables(self) -> dict:
        """What a `tf.train.Checkpoint` of this char-RNN holds: `step` (the steps trained, which
        `training.fit` counts in), the `model`'s weights, the `optimizer`'s state and dropout's
        `rng`. (The best model kept in best/ holds the "model" alone.)"""
        return {"step": self.step, "model": self, "optimizer": self.train_optimizer,
                "rng": self.rng}

    @property
    def layers_rnn(self) -> list[Recurrent]:
        return [getattr(self, f"rnn{i}") for i in range(self.config.n_layers)]

    def initial_states(self, batch_size: int) -> list[tuple]:
        return [layer.initial_state(batch_size) for layer in self.layers_rnn]

    def input_table(self):
        """embedding @ W + b of the first layer, (V, G*H): the projection of every character."""
        return self.layers_rnn[0].project(self.embedding)

    def call(self, ids, states=None, training=False, seed=None):
        """ids (B, T) -> logits (B, T, V), final states. `seed` (2,) ints: dropout's and
        recurrent dropout's (layer i's masks from seed + [0, i] and seed + [1, i]), if any."""
        dropping = self.config.dropout > 0 or self.config.recurrent_dropout > 0
        if training and dropping and seed is None:
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
        states = states or [None] * self.config.n_layers
        # Time-major inside: the rows gathered, then transposed. (Transposing the ids instead,
        # an integer transpose outside XLA, as `sample` reads a prime, has oneDNN print that it
        # leaves integers to TensorFlow's kernels. The lecture's training step takes as long
        # either way: 168 ms on 2 AMD EPYC cores, Zen 5.)
        xw = tf.transpose(tf.gather(self.input_table(), tf.cast(ids, tf.int32)), [1, 0, 2])
        final, h = [], None
        for i, layer in enumerate(self.layers_rnn):
            if i > 0:
                xw = layer.project(h)                             # (T, B, G*H), one matmul
            masked = training and self.config.recurrent_dropout > 0
            h, state = layer.run(xw, states[i], training, seed + [1, i] if masked else None)
            final.append(state)
            if training and self.config.dropout > 0:
                h = tf.nn.experimental.stateless_dropout(h, self.config.dropout, seed + [0, i])
        logits = tf.cast(self.head(h), tf.float32)                # (T, B, V)
        return tf.transpose(logits, [1, 0, 2]), final

    def advance(self, ids, states=None, table=None):
        """One character for each of S streams: ids (S,) -> logits (S, V), new states.

        O(1) work per character: the states (None: zeros) carry everything the prefix said.
        `table` is `input_table()`, passed in when stepping many times.
        """
        table = self.input_table() if table is None else table
        states = self.initial_states(tf.shape(ids)[0]) if states is None else states
        xw = tf.gather(table, tf.cast(ids, tf.int32))             # (S, G*H)
        new, h = [], None
        for i, layer in enumerate(self.layers_rnn):
            if i > 0:
                xw = layer.project(h)
            h, state = layer.step(xw, states[i])                  # (S, H)
            new.append(state)
        return tf.cast(self.head(h), tf.float32), new

    @tf.function(jit_compile=True)
    def generate_chunk(self, first, states, n, seed, start, temperature, top_k, top_p,
                       greedy, use_k, use_p):
        """n <= CHUNK characters for each of S streams in one compiled loop, each drawn by
        `choose` (`libs.sampling`): ids (CHUNK, S), of which the first n rows are written, and the
        final states. `n` is a tensor, so one compilation serves every length."""
        table = self.input_table()

        def body(t, ids, states, out):
            logits, states = self.advance(ids, states, table)     # (S, V)
            ids = choose(logits, tf.stack([seed, start + tf.cast(t, tf.int64)]),
                          temperature, top_k, top_p, greedy, use_k, use_p)
            return t + 1, ids, states, out.write(t, ids)

        out = tf.TensorArray(tf.int32, CHUNK, element_shape=first.shape)
        _, _, states, out = tf.while_loop(lambda t, *_: t < n, body, (0, first, states, out))
        return out.stack(), states


# --- Data ---------------------------------------------------------------------------------------

def _stream_windows(ids: np.ndarray, T: int) -> tuple[np.ndarray, ...]:
    """Every character of `ids` after the first as a target: windows x, y, w (N, T) of
    T + 1 ids that overlap by one (as in training, each starts from a zero state), the last one
    padded and its padding weighted 0."""
    n_windows = -(-(len(ids) - 1) // T)
    flat = np.zeros(n_windows * T + 1, np.int32)
    flat[:len(ids)] = ids
    weight = np.zeros(n_windows * T, np.float32)
    weight[:len(ids) - 1] = 1.0
    return flat[:-1].reshape(-1, T), flat[1:].reshape(-1, T), weight.reshape(-1, T)


def _windows(model: CharRNN, data) -> tuple[np.ndarray, ...]:
    """Evaluation windows (x, y, w) of a text or, for a model of records, of records."""
    records = as_records(data)
    if (records is not None) != model.config.records:
        raise ValueError("this model was trained on " + (
            "records; give records (a list or dict of texts)" if model.config.records
            else "one text; give a text (a str), not records"))
    if records is not None:
        return record_windows(model.vocab, *records, model.config.sequence_length)
    if len(data) < 2:
        raise ValueError(f"the text has {len(data)} character(s); at least 2 are needed")
    return _stream_windows(model.vocab.encode(data, "evaluation text"),
                           model.config.sequence_length)


def _loss_sum(model: CharRNN, windows: tuple[np.ndarray, ...],
              batch_size: int) -> tuple[float, int]:
    """Summed nats over the targets of `windows` (x, y, w) weighted 1, and their count: the
    padding never counts. The last batch is filled up with windows weighted 0."""
    x, y, w = windows
    pad = -len(x) % batch_size
    x, y, w = (np.concatenate([a, np.zeros((pad,) + a.shape[1:], a.dtype)]) for a in (x, y, w))
    fn = _eval_step(model)
    total, count = 0.0, 0.0
    for i in range(0, len(x), batch_size):
        s, c = fn(x[i:i + batch_size], y[i:i + batch_size], w[i:i + batch_size])
        total, count = total + float(s), count + float(c)
    return total, int(count)


_EVAL_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _eval_step(model: CharRNN):
    """A compiled (x, y, weights) -> (summed nats, count) for this model, made once: by XLA,
    or TensorFlow's graph where training chose it (`model.step_path`)."""
    if model not in _EVAL_STEPS:
        @tf.function(jit_compile=model.step_path != "stock", autograph=False)  # straight-line
        def step(x, y, w):
            logits, _ = model(x)                                  # (B, T, V)
            return metrics.sparse_cross_entropy(y, logits, w)
        _EVAL_STEPS[model] = step
    return _EVAL_STEPS[model]


# --- Training -----------------------------------------------------------------------------------

def build(config: CharRNNConfig, vocab: Vocabulary) -> tuple[CharRNN, keras.optimizers.Optimizer]:
    """The model and its optimizer, `(model, model.train_optimizer)`, for callers that use them
    apart (benchmarks); the model carries the optimizer, built, and its RNG itself."""
    model = CharRNN(config, vocab)
    return model, model.train_optimizer


SHAPE_FIELDS = ("cell", "n_layers", "n_cells", "batch_size", "sequence_length", "layer_norm",
                "recurrent_dropout", "dropout")
SMALL_BATCH_CHARS = 2000  # "auto" times nothing below this many characters per batch
STEP_PATHS = ("xla", "fast", "stock")  # the training step's paths, in order of preference


def speed_settings(config: CharRNNConfig, vocab: Vocabulary, path: str | None = None,
                   precision: str | None = None, *, measure: bool = True,
                   distributed: bool = False) -> tuple[str, str]:
    """The step (`make_train_step`: "xla", compiled by XLA, the default; "fast", the batch in
    two halves computed side by side by XLA; "stock", TensorFlow's graph) and the precision
    ("fp32", "bf16", "fp16") to train `config` in: as asked, or None for $CADL_PATH /
    $CADL_PRECISION or `paths.DEFAULTS`. "auto" times the training step
    (`paths.speed_settings`, once per machine and shape; XLA's step in float32 unless another is
    faster). Where nothing is timed (measure=False; `distributed`, under a strategy, where
    "xla" and "fast" are refused; fewer than SMALL_BATCH_CHARS characters a batch; quick mode
    or pytest), "auto" takes a cached choice, else "xla" ("stock" under a strategy) and "fp32".

    XLA fuses the cells' element-wise work and wins in float32 everywhere measured, but does
    not put bfloat16 products on AMX: on an Intel Xeon with AMX (2 cores), the lecture's
    2x256 LSTM trained at 37,900 characters/s with XLA in float32, 16,900 with XLA in
    bfloat16, 32,400 in TensorFlow's graph in bfloat16 (oneDNN); at 2x512, 12,700 against
    16,600 for the graph in bfloat16, which "auto" chose before "fast" existed. On the same
    machine "fast" in float32 wins at 2x256: 44,700 for the LSTM (XLA as one program 36,600),
    55,100 for the GRU (42,100)."""
    B, T = config.batch_size, config.sequence_length

    def make(path, precision):  # called only when something is timed
        model = CharRNN(config, vocab, precision)
        ids = np.random.default_rng(0).integers(0, len(vocab), (2, B, T)).astype(np.int32)
        return make_train_step(model, path=path), (ids[0], ids[1])

    shape = {k: v for k, v in dataclasses.asdict(config).items() if k in SHAPE_FIELDS}
    # Keyed by the shapes of the network, not the vocabulary: each new text's few characters
    # more or less would time it again.
    return paths.speed_settings("char-RNN", make, shape, per_step=B * T, unit="chars/s",
                                path=path, precision=precision,
                                candidates=STEP_PATHS, fallback="xla", distributed=distributed,
                                compiled=tuple(p for p in STEP_PATHS if p != "stock"),
                                measure=measure and B * T >= SMALL_BATCH_CHARS)


def make_train_step(model: CharRNN, optimizer=None, rng: tf.random.Generator | None = None,
                    path: str = "xla"):
    """The compiled step: (x, y) ids (B, T), or (x, y, w) with weights w (B, T) that leave
    records' padding out -> {"loss": nats per real character, "bits_per_char": ...}.

    It updates the model with `optimizer` (default: the model's own, `apply_optimizer`, which
    scales the loss in precision "fp16") and draws dropout's seeds from `rng` (default: the
    model's own). `path`: "xla", the step compiled by XLA, which fuses the cells' element-wise
    work (1.15-1.3x faster steps on CPU than TensorFlow's graph); "fast", the batch in two
    halves whose gradients two XLA programs compute side by side, added before the update;
    "stock", TensorFlow's graph, the one to use under a tf.distribute strategy (as Keras does).

    Why halves: XLA runs one program's kernels one after another, each spread over the cores,
    and most of a recurrent step's kernels are too small to keep them busy; TensorFlow runs two
    independent programs at once, so one's kernels fill the gaps of the other's. The lecture's
    2x256 LSTM on 2 cores of an Intel Xeon with AMX: 43,800 characters/s against 33,000-34,000
    for "xla" (and its matrix products alone, in two halves side by side, in 170 ms a step
    against 216 ms as one program; `benchmarks/run.py charrnn`). The halves' gradients add up
    to the whole batch's (the loss is a sum divided by the batch's characters); dropout draws
    each half's masks from its own seed.
    """
    if path not in paths.PATHS:
        raise ValueError(f"path must be one of {', '.join(paths.PATHS)}, got {path!r}")
    optimizer = model.apply_optimizer if optimizer is None else optimizer
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    rng = model.rng if rng is None else rng
    n_chars = model.config.batch_size * model.config.sequence_length  # per global batch
    parts = 2 if path == "fast" else 1

    def gradients(x, y, w, seed):
        with tf.GradientTape() as tape:
            logits, _ = model(x, training=True, seed=seed)       # (B, T, V)
            total, count = metrics.sparse_cross_entropy(y, logits, w)
            # Divided by the global batch, so that replicas' (and halves') gradients add up to
            # the mean's (records: a constant factor, the padding's share, which Adam does not
            # see).
            loss = total / n_chars
            if scaled:
                loss = optimizer.scale_loss(loss)
        return tape.gradient(loss, model.trainable_variables), total, count

    if parts > 1:
        gradients = tf.function(gradients, jit_compile=True)

    @tf.function(jit_compile=path == "xla")
    def train_step(batch):
        x, y = batch[:2]                                          # (B, T) each
        w = batch[2] if len(batch) > 2 else None                  # records: 0 on the padding
        seeds = rng.make_seeds(parts)                             # dropout's, (2, parts)
        pieces = [(x, y, w)]
        if parts > 1:
            cuts = [x.shape[0] * k // parts for k in range(parts + 1)]
            pieces = [(x[a:b], y[a:b], None if w is None else w[a:b])
                      for a, b in zip(cuts, cuts[1:])]
        results = [gradients(*piece, seeds[:, k]) for k, piece in enumerate(pieces)]
        grads = [tf.add_n(list(g)) for g in zip(*(r[0] for r in results))]
        total, count = (tf.add_n([r[i] for r in results]) for i in (1, 2))
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        mean = total / count
        return {"loss": mean, "bits_per_char": mean / metrics.LN2}
    return train_step


def train(data: str | list[str] | dict[str, str], ckpt_dir, *, steps: int | None = None,
          seconds: float | None = None, strategy: tf.distribute.Strategy | None = None,
          callbacks=(), progress: bool = True, checkpoint_every: int = 500,
          eval_every: int = 500, sample_chars: int = 200,
          keep_best: bool = True, patience: int | None = None, path: str | None = None,
          precision: str | None = None, **settings) -> tuple[CharRNN, History]:
    """Train a char-RNN on the text `data`, checkpointing into `ckpt_dir`: (model, history).

    `data` may also be records (a list of texts, or a dict of name -> text; `text.read_records`
    reads them from files): each record is then one window, END + record + END padded to
    sequence_length, and the held-out part is a share of the records. Data of another kind
    (kind="bytes", "midi", "wav") is text made by `text.read_symbols`.

    settings: `CharRNNConfig` fields (cell="lstm", n_cells=16, ...; None: the default); an
    unknown name is a TypeError. A new folder starts from them. A folder that holds a char-RNN
    is resumed with its saved settings and vocabulary (a setting that contradicts them is
    refused), and training continues to step `steps` exactly where it stopped. `seconds`
    bounds this call. Every `eval_every` steps and at the end the held-out loss is logged
    (`val_loss`, `val_bits_per_char`) and a sample of `sample_chars` characters is printed.
    With held-out text and `keep_best`, the model with the lowest held-out loss is kept in
    `ckpt_dir/best/` and its weights are the ones returned (the last step stays in the
    checkpoint to resume from; `model.step` is the step training reached); `patience`: stop
    after that many evaluations without improvement. Ctrl-C stops after the current step,
    saves and returns. `path`, `precision`: the step (XLA's, XLA's in two halves, or
    TensorFlow's graph) and the precision, see `CharRNN` and `speed_settings` (speed only,
    not saved).
    `history["loss"]` is the training loss (nats per character) by step.
    Calls keras.utils.set_random_seed(seed), which also seeds Python's and NumPy's generators.
    """
    ckpt_dir = training.worker_folder(ckpt_dir, strategy)  # not the chief: a temporary copy
    records = as_records(data)
    config = checkpoints.resume_config(ckpt_dir, MODEL_NAME, "char-RNN", Config, settings,
                                       data={"records": records is not None})
    T, B = config.sequence_length, config.batch_size
    if records is None:
        train_text, val_text = split_held_out(data, T, B, config.validation_fraction)
        vocab = Vocabulary.from_text(data, config.kind)
        batches = training_windows(vocab.encode(train_text), T, B, config.seed)
        val_windows = _stream_windows(vocab.encode(val_text), T) if len(val_text) > 1 else None
    else:
        train_part, val_part = split_records(*records, config.validation_fraction)
        vocab = Vocabulary.from_text(END + "".join(records[0]), config.kind)
        batches = training_records(record_windows(vocab, *train_part, T), B, config.seed)
        val_windows = record_windows(vocab, *val_part, T) if val_part[0] else None
    if (ckpt_dir / VOCABULARY_FILE).is_file():
        saved = Vocabulary.load(ckpt_dir / VOCABULARY_FILE)
        if saved != vocab:
            new, gone = sorted(set(vocab.chars) - set(saved.chars)), \
                sorted(set(saved.chars) - set(vocab.chars))
            raise ValueError(f"this text's characters differ from the vocabulary saved in "
                             f"{ckpt_dir}: new {new[:20]}, missing {gone[:20]}; resume with the "
                             "same text or train in a new folder")
    checkpoints.prepare_dir(ckpt_dir, MODEL_NAME, dataclasses.asdict(config))
    if not (ckpt_dir / VOCABULARY_FILE).is_file():
        vocab.save(ckpt_dir / VOCABULARY_FILE)

    path, precision = speed_settings(config, vocab, path, precision,
                                     distributed=strategy is not None)
    keras.utils.set_random_seed(config.seed)  # weights, and tf.data's shuffles
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = CharRNN(config, vocab, precision)
    model.step_path = path
    train_step = make_train_step(model, path=path)

    def report(loop: training.Loop):
        if val_windows is not None:
            total, count = _loss_sum(model, val_windows, B)
            loop.log(val_loss=total / count, val_bits_per_char=total / count / metrics.LN2)
        if sample_chars:
            sampled = sample(model, sample_chars, seed=loop.step)[0]
            if config.kind != "text":  # bytes, music and sound: their characters' code points
                sampled = " ".join(f"{ord(c):x}" for c in sampled[:64]) + " ..."
            sampled = sampled.replace(END, "\n")  # records one per line
            loop.log_text("sample", sampled)
            held_out = loop.history.last("val_bits_per_char") if val_windows is not None else None
            loop.write(f"--- step {loop.step}"
                       + (f", held-out {held_out:.3f} bits/char" if held_out is not None else "")
                       + f" ---\n{sampled}")

    keep = [KeepBest("val_loss", {"model": model}, patience)] \
        if keep_best and val_windows is not None else []
    history = training.fit(
        train_step, batches, ckpt_dir, {**model.trackables(), "data": batches},
        model_name=MODEL_NAME, config=dataclasses.asdict(config), steps=steps, seconds=seconds,
        checkpoint_every=checkpoint_every, strategy=strategy, progress=progress,
        callbacks=[every(eval_every, report, at_end=True), *keep, *callbacks])
    best, reached = checkpoints.read_best(ckpt_dir) if keep else None, int(model.step.numpy())
    if best is not None and best["step"] != reached:
        used = checkpoints.restore(ckpt_dir, "char-RNN", best=True, model=model)
        print(f"{used} The last step ({reached}) stays in {ckpt_dir} to resume from.",
              flush=True)
    return model, history


# --- Loading, evaluation and sampling -----------------------------------------------------------

def load(ckpt_dir, best: bool | None = None) -> CharRNN:
    """The model saved in `ckpt_dir`, rebuilt from the saved config: the best on held-out text
    when training kept one (best=None), else the latest; best=False: the latest. Which one was
    used is in `model.restored_from`, and `model.step` is its step. The weights are restored
    (`checkpoints.weights`); training resumes through `train`, which restores the rest."""
    ckpt_dir = Path(ckpt_dir)
    config = checkpoints.load_config(ckpt_dir, MODEL_NAME, "char-RNN", Config)
    model = CharRNN(config, Vocabulary.load(ckpt_dir / VOCABULARY_FILE))
    kept = checkpoints.read_best(ckpt_dir) if best is not False else None
    if best or kept is not None:  # best=True without a best model: restore says so
        model.restored_from = checkpoints.restore(ckpt_dir, "char-RNN", best=True, model=model)
        model.step.assign(kept["step"])
    else:
        model.restored_from = checkpoints.restore(ckpt_dir, "char-RNN",
                                                  **checkpoints.weights(model.trackables()))
    return model


def _model(model_or_dir) -> CharRNN:
    return model_or_dir if isinstance(model_or_dir, CharRNN) else load(model_or_dir)


def evaluate(model, text: str, skip_unknown: bool = False) -> dict:
    """Held-out loss of `text`: {"loss_nats", "bits_per_char", "chars"} (chars predicted).

    `model` is a CharRNN or a checkpoint folder. Every character after the first is predicted,
    in windows of the model's sequence_length as in training. A model trained on records is
    given records (a list or dict of texts): every character of each and its END are
    predicted, and the loss is per real character (the padding never counts). Characters
    outside the vocabulary are an error, or dropped with `skip_unknown=True`.
    """
    model = _model(model)
    if skip_unknown:
        text = _known(model.vocab, text)
    total, count = _loss_sum(model, _windows(model, text), model.config.batch_size)
    return {"loss_nats": total / count, "bits_per_char": total / count / metrics.LN2,
            "chars": count}


def _known(vocab: Vocabulary, data):
    """`data` (a text or records) without the characters outside `vocab`."""
    records = as_records(data)
    if records is None:
        bad = set(vocab.unknown(data))
        return "".join(c for c in data if c not in bad)
    return {name: _known(vocab, record) for record, name in zip(*records)}


def sample(model, n_chars: int = 500, prime: str | None = None, temperature: float = 1.0,
           sampling: str = "prob", top_k: int | None = None, top_p: float | None = None,
           n_samples: int = 1, seed: int | None = None, until_end: bool = False) -> list[str]:
    """`n_samples` texts, each `prime` followed by `n_chars` generated characters.

    A model that learned the end mark END (records, music) starts from it by default, a new
    record, and the prime's leading END marks are left out of the texts; `until_end=True` cuts
    each text before the first END it generates (sampling stops once every text has one).

    `model` is a CharRNN or a checkpoint folder. sampling="max" takes the most likely
    character; "prob" draws from the softmax at `temperature` (< 1: safer, > 1: wilder),
    restricted to the `top_k` most likely characters and/or the smallest set whose probability
    reaches `top_p`; a temperature too small for float32 (below 1.2e-38) samples greedily. The
    prime (default: END, else a new line) is read once; then each character costs one step of
    the network, carrying its state. Up to `sampling.STREAMS` texts are drawn side by side at a
    time; texts that would not fit in memory are refused. The same `seed` gives the same texts.
    """
    model = _model(model)
    n_chars, n_samples = check_int("n_chars", n_chars, 0), check_int("n_samples", n_samples, 1)
    if sampling not in ("prob", "max"):
        raise ValueError(f"sampling must be 'prob' or 'max', got {sampling!r}")
    temperature = check_positive("temperature", temperature)
    top_k = None if top_k is None else check_int("top_k", top_k, 1)
    top_p = None if top_p is None else check_number("top_p", top_p, 0, 1, open_low=True)
    vocab = model.vocab
    if until_end and END not in vocab.chars:
        raise ValueError("until_end needs a model that learned the end mark (trained on records "
                         "or music); this one never saw it")
    if prime is None:
        prime = END if END in vocab.chars else "\n" if "\n" in vocab.chars else vocab.chars[0]
    if not prime:
        raise ValueError("prime must have at least one character")
    ids = vocab.encode(prime, "prime")
    seed = seed_or_fresh(seed)
    n_samples = int(n_samples)
    check_fits(4 * n_samples * (len(prime) + n_chars),
               f"{n_samples:,} texts of {len(prime) + n_chars:,} characters",
               "ask for fewer (n_samples, --n-samples) or shorter (n_chars, --n-chars) texts")
    # float32 rounds temperatures below its smallest normal number (1.2e-38) to 0 or to
    # subnormals, which XLA flushes to 0: those sample greedily, as that smallest one does.
    temperature = max(temperature, float(np.finfo(np.float32).tiny))
    args = (tf.constant(temperature, tf.float32), tf.constant(top_k or 1, tf.int32),
            tf.constant(top_p or 1.0, tf.float32), sampling == "max", top_k is not None,
            top_p is not None)
    stop = int(vocab.encode(END)[0]) if until_end else None
    generated = streams(model, ids, n_samples, n_chars, seed, args, stop)  # (n_chars, N)
    texts = [vocab.decode(generated[:, s]) for s in range(n_samples)]
    return [prime.lstrip(END) + (t.split(END)[0] if until_end else t) for t in texts]


# --- Command line -------------------------------------------------------------------------------

_POSITIVE_INT, _NATURAL = arg_int(1), arg_int(0)
_POSITIVE = arg_positive()
_SEED = arg_int(0, SEED_MAX)
_TRANSPOSE = arg_int(0, 12)
_PROBABILITY = arg_type(float, "a number in (0, 1]", lambda v: 0 < v <= 1)
CORPORA = ("embedded", "alice")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m libs.charrnn", allow_abbrev=False,
                                     description="Character-level language model.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("train", allow_abbrev=False,
                            help="train, or resume the model in --ckpt up to --steps")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", type=Path, help="a UTF-8 text file (with --bytes: any file)")
    source.add_argument("--corpus", choices=CORPORA,
                        help="embedded: text from the Python installation; alice: Alice in "
                             "Wonderland (embedded too)")
    source.add_argument("--midi", type=Path, metavar="DIR",
                        help="a folder of MIDI files, as music events (libs.music)")
    source.add_argument("--wav", type=Path, metavar="FILE",
                        help="a PCM WAV file, as 8-bit mu-law codes (libs.sound)")
    p.add_argument("--bytes", action="store_true",
                   help="with --text: the file's bytes, any file (256 symbols)")
    p.add_argument("--records", choices=("lines", "paragraphs", "files"),
                   help="with --text: train on records, each ended by an end mark: the file's "
                        "lines or paragraphs, or the files of the folder --text names")
    p.add_argument("--transpose-by", type=_TRANSPOSE, default=0, metavar="N",
                   help="with --midi: each piece also in the keys up to N semitones down and "
                        "up (0-12; 4: up to a major third, as Performance RNN)")
    p.add_argument("--ckpt", type=Path, required=True, help="checkpoint folder")
    p.add_argument("--steps", type=_NATURAL,
                   help="total step to reach; a folder already trained resumes up to it")
    p.add_argument("--seconds", type=_POSITIVE,
                   help="time budget of this run (neither flag: until Ctrl-C, which saves)")
    p.set_defaults(settings=config_flags(p, Config, skip=("kind", "records")))  # --cell, ...
    p.add_argument("--checkpoint-every", type=_POSITIVE_INT, default=500,
                   help="save every N steps (and at least every 5 minutes); default 500")
    p.add_argument("--eval-every", type=_POSITIVE_INT, default=500,
                   help="held-out loss, a sample and the best model kept every N steps")
    p.add_argument("--patience", type=_POSITIVE_INT,
                   help="stop after N evaluations without a better held-out loss")
    strategy_flag(p)
    speed_flags(p, path_help="the step: xla (compiled by XLA), fast (XLA, the batch in two "
                             "halves side by side), stock (TensorFlow's graph)")
    p = commands.add_parser("sample", allow_abbrev=False,
                            help="print generated text, or write samples with --out")
    p.add_argument("--ckpt", type=Path, required=True)
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="write each sample to a file of the model's kind (text, bytes, MIDI, "
                        "WAV): FILE, or FILE-1, FILE-2, ... for several; never overwrites")
    p.add_argument("--until-end", action="store_true",
                   help="stop each sample at the end mark (models of records or music)")
    p.add_argument("--max-note-seconds", type=_POSITIVE, metavar="S",
                   help="music: end every note after S seconds (a note whose NOTE_OFF never "
                        "comes would sound to the end)")
    p.add_argument("--n-chars", type=_NATURAL, default=500)
    p.add_argument("--prime", help="text to start from (default: a new line)")
    p.add_argument("--temperature", type=_POSITIVE, default=1.0)
    p.add_argument("--sampling", choices=("prob", "max"), default="prob")
    p.add_argument("--top-k", type=_POSITIVE_INT)
    p.add_argument("--top-p", type=_PROBABILITY)
    p.add_argument("--n-samples", type=_POSITIVE_INT, default=1)
    p.add_argument("--seed", type=_SEED)
    p.add_argument("--latest", action="store_true",
                   help="the latest checkpoint, not the best on held-out text")
    p = commands.add_parser("eval", allow_abbrev=False,
                            help="held-out loss of a text; prints JSON on the last line")
    p.add_argument("--ckpt", type=Path, required=True)
    p.add_argument("--text", type=Path, required=True,
                   help="a file (or folder) of the model's kind: text, any file, MIDI, WAV")
    p.add_argument("--records", choices=("lines", "paragraphs", "files"),
                   help="a model trained on records: how to read them from --text")
    p.add_argument("--latest", action="store_true",
                   help="the latest checkpoint, not the best on held-out text")
    return parser


def _train(args) -> None:
    from libs import datasets

    strategy = training.make_strategy(args.strategy)  # before other TensorFlow work
    if (args.bytes or args.records) and args.text is None:
        raise ValueError(f"--{'bytes' if args.bytes else 'records'} goes with --text")
    if args.transpose_by and args.midi is None:
        raise ValueError("--transpose-by goes with --midi (a folder of MIDI files)")
    kind = "midi" if args.midi else "wav" if args.wav else "bytes" if args.bytes else "text"
    if args.records:
        data = read_records(args.text, args.records)
    elif args.corpus is not None:
        data = datasets.corpus() if args.corpus == "embedded" else datasets.ALICE()
    else:
        saved = checkpoints.load_config(args.ckpt, MODEL_NAME, "char-RNN", Config) \
            if (args.ckpt / checkpoints.CONFIG_FILE).is_file() else Config()
        data = read_symbols(kind, args.text or args.midi or args.wav,
                            args.sample_rate or saved.sample_rate, args.transpose_by)
    model, history = train(data, args.ckpt, steps=args.steps, seconds=args.seconds,
                           checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
                           patience=args.patience, kind=kind, strategy=strategy,
                           path=args.path, precision=args.precision,
                           **{name: getattr(args, name) for name in args.settings})
    print(json.dumps({"step": int(model.step.numpy()),
                      "loss_nats": history.last("loss"),
                      "val_loss_nats": history.last("val_loss"),
                      "stop_reason": history.stop_reason}))


def _load(args) -> CharRNN:
    model = load(args.ckpt, best=False if args.latest else None)
    print(model.restored_from, file=sys.stderr)
    return model


def _sample(args) -> None:
    model = _load(args)
    kind = model.config.kind
    if kind != "text" and args.out is None:
        raise ValueError(f"this model's samples are {kind}, not text; give --out FILE")
    if args.max_note_seconds is not None and kind != "midi":
        raise ValueError(f"--max-note-seconds is for models of music; this one's samples are "
                         f"{kind}")
    texts = sample(model, args.n_chars, args.prime, args.temperature, args.sampling,
                   args.top_k, args.top_p, args.n_samples, args.seed, args.until_end)
    if args.max_note_seconds is not None:
        texts = [music.cut_long_notes(t.replace(END, ""), args.max_note_seconds) for t in texts]
    if args.out is None:
        print("\n\n".join(t.replace(END, "\n") for t in texts))  # records one per line
        return
    out = args.out
    paths = [out] if len(texts) == 1 else \
        [out.with_name(f"{out.stem}-{i + 1}{out.suffix}") for i in range(len(texts))]
    taken = [str(p) for p in paths if p.exists()]
    if taken:
        raise FileExistsError(f"{', '.join(taken)} exist(s); choose another --out (samples "
                              "never overwrite a file)")
    for path, symbols in zip(paths, texts):
        print(write_symbols(kind, symbols, path, model.config.sample_rate))


def _evaluate(args) -> None:
    model = _load(args)
    if model.config.records and not args.records:
        raise ValueError("this model was trained on records; say how to read them from --text "
                         "with --records lines|paragraphs|files")
    data = read_records(args.text, args.records) if args.records else \
        read_symbols(model.config.kind, args.text, model.config.sample_rate)
    print(json.dumps(evaluate(model, data)))


def main(argv=None) -> int:
    return run_command(_parser(), argv, {"train": _train, "sample": _sample, "eval": _evaluate})


if __name__ == "__main__":
    raise SystemExit(main())
