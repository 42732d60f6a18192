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

from libs import checkpoints, metrics, training
from libs.arguments import (LEARNING_RATE_MAX, SEED_MAX, arg_int, arg_positive, arg_type,
                            check_fits, check_int, check_number, check_positive,
                            seed_or_fresh)
from libs.callbacks import History, KeepBest, every
from libs.commands import config_flags, run_command
from libs.rnn import CELLS, Recurrent
from libs.sampling import CHUNK, choose, streams
from libs.text import Vocabulary, split_held_out, training_windows

# The cell that learns fastest in equal wall time at the default settings, measured on 2 CPU
# cores with `python benchmarks/bench_charrnn.py --compare-cells SECONDS` (held-out nats/char):
# after 480 s: gru 1.83, rnn 1.82, lstm 2.26; the GRU overtakes the basic RNN (which plateaus
# near 1.80) after about 5 minutes and keeps improving. The LSTM costs 1.3x a GRU step.
DEFAULT_CELL = "gru"
MODEL_NAME = "charrnn"
VOCABULARY_FILE = "vocabulary.json"


class _SamplingTraces(logging.Filter):
    """Drops TensorFlow's warning that `CharRNN.generate_chunk` "triggered tf.function
    retracing": the sampling loop is compiled once per model and way of sampling (greedy, top-k,
    top-p, number of streams), each then reused, so a notebook that tries them all on two
    models traces it five times by design, and the warning's advice does not apply."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and "generate_chunk" in message)


tf.get_logger().addFilter(_SamplingTraces())


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
    validation_fraction: float = 0.1  # held out, from places spread over the text; 0 allowed
    seed: int = 0

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.clip_mode not in ("value", "norm"):
            raise ValueError(f"clip_mode must be 'value' or 'norm', got {self.clip_mode!r}")
        for name in ("n_layers", "n_cells", "batch_size", "sequence_length"):
            setattr(self, name, check_int(name, getattr(self, name), 1))
        self.seed = check_int("seed", self.seed, 0, SEED_MAX)
        self.learning_rate = check_positive("learning_rate", self.learning_rate, LEARNING_RATE_MAX)
        self.clip = check_positive("clip", self.clip)  # clipping cannot be switched off with 0
        for name in ("dropout", "validation_fraction"):
            setattr(self, name, check_number(name, getattr(self, name), 0, 1, open_high=True))


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
    """

    def __init__(self, config: CharRNNConfig, vocab: Vocabulary):
        super().__init__(name=MODEL_NAME)
        self.config, self.vocab = config, vocab
        H, V = config.n_cells, len(vocab)
        self.embedding = self.add_weight(shape=(V, H), name="embedding",
                                         initializer=keras.initializers.RandomUniform(-0.05, 0.05))
        for i in range(config.n_layers):  # attributes, not a list: tf.train.Checkpoint sees them
            setattr(self, f"rnn{i}", Recurrent(config.cell, H, input_dim=H, name=f"rnn{i}"))
        self.head = keras.layers.Dense(V, name="logits")
        self.head.build((None, H))
        self.built = True  # every weight exists now; nothing is left for Keras to build
        clip = {"clipvalue" if config.clip_mode == "value" else "global_clipnorm": config.clip}
        # The training state sits beside the network (its best/ checkpoint holds weights alone).
        training.carry_training_state(self, keras.optimizers.Adam(config.learning_rate, **clip),
                                      config.seed)

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
        """ids (B, T) -> logits (B, T, V), final states. `seed` (2,) ints: dropout's, if any."""
        if training and self.config.dropout > 0 and seed is None:
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
        ids = tf.transpose(tf.cast(ids, tf.int32))                # (T, B): time-major inside
        states = states or [None] * self.config.n_layers
        xw = tf.gather(self.input_table(), ids)                   # (T, B, G*H)
        final, h = [], None
        for i, layer in enumerate(self.layers_rnn):
            if i > 0:
                xw = layer.project(h)                             # (T, B, G*H), one matmul
            h, state = layer.run(xw, states[i])                   # (T, B, H)
            final.append(state)
            if training and self.config.dropout > 0:
                h = tf.nn.experimental.stateless_dropout(h, self.config.dropout, seed + [0, i])
        logits = self.head(h)                                     # (T, B, V)
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
        return self.head(h), new

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

def _loss_sum(model: CharRNN, ids: np.ndarray, batch_size: int) -> tuple[float, int]:
    """Summed nats over every character of `ids` after the first, and their count.

    The ids are cut into windows of sequence_length + 1 that overlap by one (as in training,
    each starts from a zero state); the last window is padded and the padding masked out.
    """
    T = model.config.sequence_length
    n_windows = -(-(len(ids) - 1) // T)
    n_padded = -(-n_windows // batch_size) * batch_size
    flat = np.zeros(n_padded * T + 1, np.int32)
    flat[:len(ids)] = ids
    weight = np.zeros(n_padded * T, np.float32)
    weight[:len(ids) - 1] = 1.0
    x = flat[:-1].reshape(n_padded, T)
    y = flat[1:].reshape(n_padded, T)
    w = weight.reshape(n_padded, T)
    fn = _eval_step(model)
    total, count = 0.0, 0.0
    for i in range(0, n_padded, batch_size):
        s, c = fn(x[i:i + batch_size], y[i:i + batch_size], w[i:i + batch_size])
        total, count = total + float(s), count + float(c)
    return total, int(count)


_EVAL_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _eval_step(model: CharRNN):
    """A compiled (x, y, weights) -> (summed nats, count) for this model, made once."""
    if model not in _EVAL_STEPS:
        @tf.function(jit_compile=True, autograph=False)  # straight-line: nothing to convert
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


def make_train_step(model: CharRNN, optimizer=None, rng: tf.random.Generator | None = None,
                    jit_compile: bool = True):
    """The compiled step: (x, y) ids (B, T) -> {"loss": nats/char, "bits_per_char": ...}.

    It updates the model with `optimizer` (default: the model's own) and draws dropout's seeds
    from `rng` (default: the model's own). XLA (`jit_compile`) fuses the cells' element-wise
    work: 1.15-1.3x faster steps on CPU. Leave it off under a tf.distribute strategy (as Keras
    does).
    """
    optimizer = model.train_optimizer if optimizer is None else optimizer
    rng = model.rng if rng is None else rng
    n_chars = model.config.batch_size * model.config.sequence_length  # per global batch

    @tf.function(jit_compile=jit_compile)
    def train_step(batch):
        x, y = batch                                              # (B, T) each
        seed = rng.make_seeds(1)[:, 0]                            # dropout's, (2,)
        with tf.GradientTape() as tape:
            logits, _ = model(x, training=True, seed=seed)       # (B, T, V)
            total, count = metrics.sparse_cross_entropy(y, logits)
            # Divided by the global batch, so that replicas' gradients add up to the mean's.
            loss = total / n_chars
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        mean = total / count
        return {"loss": mean, "bits_per_char": mean / metrics.LN2}
    return train_step


def train(data: str, ckpt_dir, *, steps: int | None = None, seconds: float | None = None,
          strategy: tf.distribute.Strategy | None = None, callbacks=(), progress: bool = True,
          checkpoint_every: int = 500, eval_every: int = 500, sample_chars: int = 200,
          keep_best: bool = True, patience: int | None = None,
          **settings) -> tuple[CharRNN, History]:
    """Train a char-RNN on the text `data`, checkpointing into `ckpt_dir`: (model, history).

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
    saves and returns. `history["loss"]` is the training loss (nats per character) by step.
    Calls keras.utils.set_random_seed(seed), which also seeds Python's and NumPy's generators.
    """
    ckpt_dir = Path(ckpt_dir)
    config = checkpoints.resume_config(ckpt_dir, MODEL_NAME, "char-RNN", Config, settings)
    train_text, val_text = split_held_out(data, config.sequence_length, config.batch_size,
                                          config.validation_fraction)
    vocab = Vocabulary.from_text(data)
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

    keras.utils.set_random_seed(config.seed)  # weights, and tf.data's shuffles
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = CharRNN(config, vocab)
    batches = training_windows(vocab.encode(train_text), config.sequence_length,
                               config.batch_size, config.seed)
    train_step = make_train_step(model, jit_compile=strategy is None)
    val_ids = vocab.encode(val_text) if val_text else None
    prime = "\n" if "\n" in vocab.chars else vocab.chars[0]

    def report(loop: training.Loop):
        if val_ids is not None:
            total, count = _loss_sum(model, val_ids, config.batch_size)
            loop.log(val_loss=total / count, val_bits_per_char=total / count / metrics.LN2)
        if sample_chars:
            sampled = sample(model, sample_chars, prime=prime, seed=loop.step)[0]
            loop.log_text("sample", sampled)
            held_out = loop.history.last("val_bits_per_char") if val_ids is not None else None
            loop.write(f"--- step {loop.step}"
                       + (f", held-out {held_out:.3f} bits/char" if held_out is not None else "")
                       + f" ---\n{sampled}")

    keep = [KeepBest("val_loss", {"model": model}, patience)] \
        if keep_best and val_ids is not None else []
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
    in windows of the model's sequence_length as in training. Characters outside the
    vocabulary are an error, or dropped with `skip_unknown=True`.
    """
    model = _model(model)
    if skip_unknown:
        bad = set(model.vocab.unknown(text))
        text = "".join(c for c in text if c not in bad)
    if len(text) < 2:
        raise ValueError(f"the text has {len(text)} character(s); at least 2 are needed")
    total, count = _loss_sum(model, model.vocab.encode(text, "evaluation text"),
                             model.config.batch_size)
    return {"loss_nats": total / count, "bits_per_char": total / count / metrics.LN2,
            "chars": count}


def sample(model, n_chars: int = 500, prime: str | None = None, temperature: float = 1.0,
           sampling: str = "prob", top_k: int | None = None, top_p: float | None = None,
           n_samples: int = 1, seed: int | None = None) -> list[str]:
    """`n_samples` texts, each `prime` followed by `n_chars` generated characters.

    `model` is a CharRNN or a checkpoint folder. sampling="max" takes the most likely
    character; "prob" draws from the softmax at `temperature` (< 1: safer, > 1: wilder),
    restricted to the `top_k` most likely characters and/or the smallest set whose probability
    reaches `top_p`; a temperature too small for float32 (below 1.2e-38) samples greedily. The
    prime (default: a new line) is read once; then each character costs one step of the
    network, carrying its state. Up to `sampling.STREAMS` texts are drawn side by side at a time; texts
    that would not fit in memory are refused. The same `seed` gives the same texts.
    """
    model = _model(model)
    n_chars, n_samples = check_int("n_chars", n_chars, 0), check_int("n_samples", n_samples, 1)
    if sampling not in ("prob", "max"):
        raise ValueError(f"sampling must be 'prob' or 'max', got {sampling!r}")
    temperature = check_positive("temperature", temperature)
    top_k = None if top_k is None else check_int("top_k", top_k, 1)
    top_p = None if top_p is None else check_number("top_p", top_p, 0, 1, open_low=True)
    vocab = model.vocab
    if prime is None:
        prime = "\n" if "\n" in vocab.chars else vocab.chars[0]
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
    generated = streams(model, ids, n_samples, n_chars, seed, args)  # (n_chars, N)
    return [prime + vocab.decode(generated[:, s]) for s in range(n_samples)]


# --- Command line -------------------------------------------------------------------------------

_POSITIVE_INT, _NATURAL = arg_int(1), arg_int(0)
_POSITIVE = arg_positive()
_SEED = arg_int(0, SEED_MAX)
_PROBABILITY = arg_type(float, "a number in (0, 1]", lambda v: 0 < v <= 1)
CORPORA = ("embedded", "alice")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m libs.charrnn", allow_abbrev=False,
                                     description="Character-level language model.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("train", allow_abbrev=False,
                            help="train, or resume the model in --ckpt up to --steps")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", type=Path, help="a UTF-8 text file")
    source.add_argument("--corpus", choices=CORPORA,
                        help="embedded: text from the Python installation; alice: Alice in "
                             "Wonderland (embedded too)")
    p.add_argument("--ckpt", type=Path, required=True, help="checkpoint folder")
    p.add_argument("--steps", type=_NATURAL,
                   help="total step to reach; a folder already trained resumes up to it")
    p.add_argument("--seconds", type=_POSITIVE,
                   help="time budget of this run (neither flag: until Ctrl-C, which saves)")
    p.set_defaults(settings=config_flags(p, Config))  # --cell, --n-layers, ...
    p.add_argument("--checkpoint-every", type=_POSITIVE_INT, default=500,
                   help="save every N steps (and at least every 5 minutes); default 500")
    p.add_argument("--eval-every", type=_POSITIVE_INT, default=500,
                   help="held-out loss, a sample and the best model kept every N steps")
    p.add_argument("--patience", type=_POSITIVE_INT,
                   help="stop after N evaluations without a better held-out loss")
    p = commands.add_parser("sample", allow_abbrev=False, help="print generated text")
    p.add_argument("--ckpt", type=Path, required=True)
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
    p.add_argument("--text", type=Path, required=True)
    p.add_argument("--latest", action="store_true",
                   help="the latest checkpoint, not the best on held-out text")
    return parser


def _train(args) -> None:
    from libs import datasets

    if args.text is not None:
        text = datasets.load_text(args.text)
    else:
        text = datasets.corpus() if args.corpus == "embedded" else datasets.ALICE()
    model, history = train(text, args.ckpt, steps=args.steps, seconds=args.seconds,
                           checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
                           patience=args.patience,
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
    texts = sample(_load(args), args.n_chars, args.prime, args.temperature, args.sampling,
                   args.top_k, args.top_p, args.n_samples, args.seed)
    print("\n\n".join(texts))


def _evaluate(args) -> None:
    from libs import datasets

    print(json.dumps(evaluate(_load(args), datasets.load_text(args.text))))


def main(argv=None) -> int:
    return run_command(_parser(), argv, {"train": _train, "sample": _sample, "eval": _evaluate})


if __name__ == "__main__":
    raise SystemExit(main())
