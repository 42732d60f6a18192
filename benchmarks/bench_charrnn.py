"""Training chars/s of our char-RNN step against a plain Keras model; sampling chars/s.

Both models have the original course's settings and the same architecture: an embedding of 256,
two LSTM layers of 256 cells, a dense layer to the vocabulary (the embedded corpus: 107
characters); Adam 1e-3, gradients clipped to [-5, 5]; batches of 100 windows of 100
characters. The reference is what one writes in plain Keras: `keras.Sequential([Embedding,
LSTM, LSTM, Dense])`, `compile(...)`, `train_on_batch`. Both train on the same batches,
measured in turns (interleaved) so that both see the same machine; the best round counts.
In the same turns: our step on each of the library's paths in each precision
(`train_chars_per_s_by_path_and_precision`): XLA's step ("xla"), the batch in two halves that
two XLA programs compute side by side ("fast") and TensorFlow's graph step ("stock"), in float32
and mixed bfloat16. `path_and_precision_chosen` applies the library's rule,
`libs.paths.preferred` (the first within 3% of the fastest, XLA's float32 step first), to these
figures, bfloat16's only where the CPU has bfloat16 instructions (`run.chosen_pair`): what
`--path auto --precision auto` picks here (`path_chosen`: its path, as the other benchmarks
name it). `ours`, `ratio` (= `ratio_vs_stock_path`: the library has no stock-layer variant of
the char-RNN, the reference is the stock Keras path) and the fractions below are the chosen
pair's; `ratio_xla_fp32_vs_reference` is XLA's float32
step's.

The ceiling of training, in the same turns: a compiled function of only the matrix products
one training step does (`train_fraction_of_matrix_products_only`, see `_products_step`;
`train_fraction_median_round`, the median over rounds of ours / ceiling within a round, is less
at the mercy of one round's luck), and the same products for each half of the batch, two such
functions side by side, as the path "fast" runs them (`..._in_halves`): XLA runs one program's
kernels one after another, and two programs side by side keep two cores busier, the matrix
products too.

Sampling: characters per second of `charrnn.sample` (multinomial at temperature 1) from the
default model (the seed's settings with `charrnn.DEFAULT_CELL`), for 1 stream and for 100
parallel streams; for 100 streams also with each cell of the same size, and with the draw of
`tf.random.stateless_categorical` in place of ours (`sample_ratio_vs_tf_categorical`), and
the ceiling: a compiled loop of only the matrix products one sampled character needs
(`sample_fraction_of_matrix_products_only`; with `matrix_products_gflop_per_s`, the rate the
machine's cores reached on them).

`python benchmarks/bench_charrnn.py --compare-cells SECONDS` is the experiment behind
`charrnn.DEFAULT_CELL`: each cell trains for the same wall time, in turns, and the held-out
loss is printed.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from run import chosen_pair, interleaved

STEPS_PER_ROUND, ROUNDS = 3, 6


def _name(path: str, precision: str) -> str:
    """A pair's name among the timed steps: XLA's float32 step is "ours", as before pairs."""
    return "ours" if (path, precision) == ("xla", "fp32") else f"ours_{path}_{precision}"


def _batches(config, n: int):
    """`n` (x, y) training batches of the embedded corpus, as numpy int32 (B, T)."""
    from libs import datasets
    from libs.dataset_utils import create_character_windows
    from libs.text import Vocabulary

    text = datasets.corpus()
    vocab = Vocabulary.from_text(text)
    ds = create_character_windows(vocab.encode(text), config.sequence_length, config.batch_size,
                                  shuffle=True, seed=0)
    return vocab, [(x.numpy(), y.numpy()) for x, y in ds.take(n)]


def _keras_model(config, vocab_size: int):
    import keras

    model = keras.Sequential(
        [keras.Input((config.sequence_length,), dtype="int32"),
         keras.layers.Embedding(vocab_size, config.n_cells)]
        + [keras.layers.LSTM(config.n_cells, return_sequences=True)
           for _ in range(config.n_layers)]
        + [keras.layers.Dense(vocab_size)])
    model.compile(keras.optimizers.Adam(config.learning_rate, clipvalue=config.clip),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@contextlib.contextmanager
def _library_draw():
    """Within: models traced for sampling draw with `tf.random.stateless_categorical` (the
    library's multinomial) instead of `sampling.choose`'s inverse-CDF draw (patched where
    `charrnn` calls it)."""
    import tensorflow as tf
    from libs import charrnn

    ours = charrnn.choose

    def categorical(logits, seed, temperature, *_):
        draws = tf.random.stateless_categorical(logits / temperature, 1, tf.cast(seed, tf.int32))
        return tf.cast(draws[:, 0], tf.int32)

    charrnn.choose = categorical
    try:
        yield
    finally:
        charrnn.choose = ours


def _matrix_products_only(model, streams: int, n_chars: int):
    """The ceiling for sampling `model`: a compiled loop of just the matrix products of one
    step per character (each layer's h @ U, the upper layers' x @ W, the logits), each
    product's output feeding the next step, as `charrnn.sample` does them."""
    import tensorflow as tf

    layers = model.layers_rnn
    kernels = [layer.kernel for layer in layers[1:]]
    recurrent = [layer.recurrent_kernel for layer in layers]
    head = model.head.kernel
    H = model.config.n_cells

    @tf.function(jit_compile=True)
    def loop(h):
        def fold(product):  # (S, G*H) -> (S, H), every column used (none optimised away)
            return tf.reduce_sum(tf.reshape(product, [streams, -1, H]), axis=1)

        def body(t, h):
            hs = []
            for i, U in enumerate(recurrent):
                product = fold(tf.matmul(h, U))
                if i > 0:
                    product += fold(tf.matmul(hs[-1], kernels[i - 1]))
                hs.append(tf.tanh(product))
            logits = tf.matmul(hs[-1], head)
            return t + 1, hs[-1] + 1e-3 * tf.reduce_max(logits)
        return tf.while_loop(lambda t, h: t < n_chars, body, (0, h))[1]

    h = tf.zeros([streams, H])
    return lambda: loop(h).numpy()


def _products_step(model, batch: int, T: int, start: float = 0.0):
    """A compiled function of just the matrix products a training step of `model` on (batch, T)
    windows does, with their shapes and their order in time, and its input.

    Forward: the first layer's input table (embedding @ W), each layer's T products h @ U one
    after another, the upper layers' x @ W of all steps at once, the logits. Backward, as
    `libs.rnn` does it by hand: the logits' two products, each layer's T products dz @ U^T one
    after another, its dU in one product, the upper layers' input products, the table's two.
    Each product's output feeds the next (folded to the next one's shape by a sum or a
    tile), so none can be skipped or run out of order.
    """
    import tensorflow as tf

    layers = model.layers_rnn
    H = model.config.n_cells
    G = layers[0].recurrent_kernel.shape[1] // H
    W0, emb, head = layers[0].kernel, model.embedding, model.head.kernel

    def fold(product):  # (B, G*H) -> (B, H), every column used
        return tf.reduce_sum(tf.reshape(product, [batch, G, H]), axis=1)

    def recurrent(U, h, transpose):  # T products one after another, (T, B, H) out
        def body(t, h, out):
            if transpose:  # backward: dz (B, G*H) @ U^T -> (B, H)
                h = tf.tanh(tf.matmul(tf.tile(h, [1, G]), U, transpose_b=True))
            else:
                h = tf.tanh(fold(tf.matmul(h, U)))
            return t + 1, h, out.write(t, h)
        out = tf.TensorArray(tf.float32, T)
        return tf.while_loop(lambda t, *_: t < T, body, (0, h, out))[2].stack()

    @tf.function(jit_compile=True)
    def step(h0):
        table = tf.matmul(emb, W0)                                         # (V, G*H)
        x = recurrent(layers[0].recurrent_kernel, h0 + table[0, :H], False)
        outputs = [x]
        for layer in layers[1:]:
            xw = tf.matmul(tf.reshape(x, [-1, H]), layer.kernel)            # (T*B, G*H)
            x = recurrent(layer.recurrent_kernel, h0 + fold(xw[:batch]), False)
            outputs.append(x)
        flat = tf.reshape(x, [-1, H])
        logits = tf.matmul(flat, head)                                     # (T*B, V)
        d_head = tf.matmul(flat, logits, transpose_a=True)                 # (H, V)
        dh = tf.matmul(logits, head, transpose_b=True)                     # (T*B, H)
        total = tf.reduce_sum(d_head)
        for i in reversed(range(len(layers))):
            dz = recurrent(layers[i].recurrent_kernel, dh[:batch] + 1e-3 * total, True)
            dz = tf.tile(tf.reshape(dz, [-1, H]), [1, G])                  # (T*B, G*H)
            prev = tf.reshape(outputs[i - 1] if i else outputs[0], [-1, H])
            total += tf.reduce_sum(tf.matmul(prev, dz, transpose_a=True))   # dU, then dW
            if i:
                total += tf.reduce_sum(tf.matmul(prev, dz, transpose_a=True))
                dh = tf.matmul(dz, layers[i].kernel, transpose_b=True)     # (T*B, H)
        d_table = tf.tile(dh[:emb.shape[0]], [1, G])                        # (V, G*H)
        total += tf.reduce_sum(tf.matmul(emb, d_table, transpose_a=True))  # dW0
        return total + tf.reduce_sum(tf.matmul(d_table, W0, transpose_b=True))  # d embedding

    return step, tf.zeros([batch, H]) + start


def _training_products_only(model, batch: int, T: int, parts: int = 1):
    """The ceiling for a training step of `model` on (batch, T) windows (`_products_step`).
    With `parts` = 2, that of the step on the path "fast": the same products for each half of
    the batch, two compiled functions that TensorFlow runs side by side."""
    import tensorflow as tf

    steps = [_products_step(model, batch * (k + 1) // parts - batch * k // parts, T, 1e-3 * k)
             for k in range(parts)]

    @tf.function
    def side_by_side():
        return tf.add_n([step(h0) for step, h0 in steps])

    return lambda: side_by_side().numpy()


def run() -> dict:
    import keras
    import tensorflow as tf
    from libs import charrnn

    config = charrnn.CharRNNConfig(cell="lstm")  # the seed's settings and cell
    vocab, batches = _batches(config, STEPS_PER_ROUND)
    keras.utils.set_random_seed(0)
    model, optimizer = charrnn.build(config, vocab)
    # Every pair of path and precision, in libs.paths' order (float32's first); XLA's float32
    # step on `model`, the others on models of their own.
    pairs = [(path, precision) for precision in ("fp32", "bf16") for path in charrnn.STEP_PATHS]
    ours = {pair: charrnn.make_train_step(
        model if pair == ("xla", "fp32") else charrnn.CharRNN(config, vocab, pair[1]),
        optimizer if pair == ("xla", "fp32") else None, tf.random.Generator.from_seed(0),
        path=pair[0]) for pair in pairs}
    reference = _keras_model(config, len(vocab))
    B, T = config.batch_size, config.sequence_length
    ceilings = {"matrix_products_only": _training_products_only(model, B, T),
                "matrix_products_in_halves": _training_products_only(model, B, T, parts=2)}
    steps = {**{_name(*pair): lambda b, s=s: float(s(b)["loss"]) for pair, s in ours.items()},
             "reference": lambda b: float(reference.train_on_batch(*b)),
             **{name: lambda b, c=c: c() for name, c in ceilings.items()}}
    chars = config.batch_size * config.sequence_length
    for name, step in steps.items():  # trace and compile
        t = time.perf_counter()
        step(batches[0])
        print(f"charrnn: first {name} step {time.perf_counter() - t:.1f} s", file=sys.stderr)
    wall, cpu = interleaved({name: lambda step=step: [step(b) for b in batches]
                             for name, step in steps.items()},
                            chars * len(batches), ROUNDS, "charrnn training chars")
    rates = {name: max(r) for name, r in wall.items()}
    by_pair = {f"{path} {precision}": rates[_name(path, precision)] for path, precision in pairs}
    chosen = chosen_pair(by_pair)
    name = _name(*chosen.split())
    fraction_median = statistics.median(
        o / c for o, c in zip(wall[name], wall["matrix_products_only"]))
    ratio = round(rates[name] / rates["reference"], 2)
    cpu_ratio = max(cpu[name]) / max(cpu["reference"])
    H, V, L = config.n_cells, len(vocab), config.n_layers
    train_flops = 3 * 2 * H * (4 * H * (2 * L - 1) + V)  # per character: forward and twice back

    # Sampling speed does not depend on the weights. In turns, best of ROUNDS: the default
    # model (cell charrnn.DEFAULT_CELL) with 1 and 100 streams; with 100 streams also the same
    # model drawing with tf.random.stateless_categorical, and the other cells.
    default = charrnn.CharRNN(charrnn.CharRNNConfig(), vocab)
    with _library_draw():
        library = charrnn.CharRNN(charrnn.CharRNNConfig(), vocab)
        charrnn.sample(library, 1, n_samples=100)  # traced (and kept) with the library's draw
    runs = {1: (default, 1, 2000), 100: (default, 100, 500), "categorical": (library, 100, 500)}
    for cell in charrnn.CELLS:
        if cell != charrnn.DEFAULT_CELL:
            other = model if cell == config.cell else \
                charrnn.CharRNN(charrnn.CharRNNConfig(cell=cell), vocab)
            runs[cell] = (other, 100, 500)
    for m, streams, n_chars in runs.values():  # compile
        charrnn.sample(m, n_chars, n_samples=streams, seed=0)
    ceiling = _matrix_products_only(default, 100, 500)
    ceiling()  # compile
    sampling = {}
    for streams in (1, 100):
        fns = {name: lambda m=m, n=n: charrnn.sample(m, n, n_samples=streams, seed=1)
               for name, (m, s, n) in runs.items() if s == streams}
        if streams == 100:
            fns["matrix_products_only"] = ceiling
        wall, _ = interleaved(fns, streams * runs[streams][2], ROUNDS,
                              f"charrnn sampling {streams} stream(s), chars")
        sampling.update({name: max(r) for name, r in wall.items()})
    by_cell = {m.config.cell: round(sampling[name]) for name, (m, streams, _) in runs.items()
               if streams == 100 and name != "categorical"}
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[charrnn.DEFAULT_CELL]
    flops = 2 * H * (gates * H * (2 * config.n_layers - 1) + V)  # per character
    return {"name": "charrnn", "unit": "chars/s", "ours": round(rates[name]),
            "reference": round(rates["reference"]),
            "ratio": ratio, "ratio_vs_stock_path": ratio,
            "reference_impl": "keras.Sequential(Embedding, LSTM x2, Dense).train_on_batch",
            "chars_per_cpu_second_ratio": round(cpu_ratio, 2),
            "train_chars_per_s_by_path_and_precision": {k: round(v) for k, v in by_pair.items()},
            "path_and_precision_chosen": chosen, "path_chosen": chosen.split()[0],
            "ratio_xla_fp32_vs_reference": round(rates["ours"] / rates["reference"], 2),
            "train_chars_per_s_matrix_products_only": round(rates["matrix_products_only"]),
            "train_fraction_of_matrix_products_only":
                round(rates[name] / rates["matrix_products_only"], 2),
            "train_fraction_median_round": round(fraction_median, 2),
            "train_fraction_xla_fp32_of_matrix_products_only":
                round(rates["ours"] / rates["matrix_products_only"], 2),
            "train_matrix_products_gflop_per_s":
                round(rates["matrix_products_only"] * train_flops / 1e9, 1),
            "train_chars_per_s_matrix_products_in_halves":
                round(rates["matrix_products_in_halves"]),
            "train_fraction_of_matrix_products_in_halves":
                round(rates[name] / rates["matrix_products_in_halves"], 2),
            "train_matrix_products_in_halves_gflop_per_s":
                round(rates["matrix_products_in_halves"] * train_flops / 1e9, 1),
            "sample_chars_per_s_1": round(sampling[1]),
            "sample_chars_per_s_100": round(sampling[100]),
            "sample_chars_per_s_100_by_cell": by_cell,
            "sample_chars_per_s_100_tf_categorical": round(sampling["categorical"]),
            "sample_ratio_vs_tf_categorical": round(sampling[100] / sampling["categorical"], 2),
            "sample_cell": charrnn.DEFAULT_CELL,
            "sample_chars_per_s_100_matrix_products_only": round(sampling["matrix_products_only"]),
            "sample_fraction_of_matrix_products_only":
                round(sampling[100] / sampling["matrix_products_only"], 2),
            "matrix_products_gflop_per_s": round(sampling["matrix_products_only"] * flops / 1e9, 1),
            "cell": config.cell, "n_layers": config.n_layers, "n_cells": config.n_cells,
            "batch_size": config.batch_size, "sequence_length": config.sequence_length,
            "vocabulary": len(vocab)}


def compare_cells(seconds: float, slice_seconds: float = 60.0, cells=("rnn", "lstm", "gru"),
                  folder: str | None = None) -> dict:
    """Train each cell at the seed's settings for `seconds` of wall time, in turns of
    `slice_seconds` (so all see the same machine), resuming each time; print held-out losses.

    With `folder`, the runs are kept there and a later call with a larger `seconds` extends
    them (each slice resumes exactly); otherwise a temporary folder is used.
    """
    from libs import charrnn, datasets

    text = datasets.corpus()
    results = {cell: [] for cell in cells}
    with tempfile.TemporaryDirectory() as tmp:
        root = folder or tmp
        os.makedirs(root, exist_ok=True)
        spent_file = os.path.join(root, "seconds.json")
        spent = {cell: 0.0 for cell in cells}
        if os.path.exists(spent_file):
            with open(spent_file) as f:
                spent.update(json.load(f))
        while min(spent.values()) < seconds:
            for cell in cells:
                budget = min(slice_seconds, seconds - spent[cell])
                if budget <= 0:
                    continue
                # The budget counts training only (not tracing the step, nor evaluating).
                _, history = charrnn.train(
                    text, os.path.join(root, cell), cell=cell, seconds=budget, progress=False,
                    eval_every=10**9, sample_chars=0)
                spent[cell] += budget
                with open(spent_file, "w") as f:
                    json.dump(spent, f)
                step, val = int(history["loss"][0][-1]), history.last("val_loss")
                results[cell].append((round(spent[cell]), step, val))
                print(json.dumps({"cell": cell, "seconds": round(spent[cell]), "step": step,
                                  "val_loss_nats": val,
                                  "val_bits_per_char": val / charrnn.metrics.LN2}), flush=True)
    return results


def _keras_gru_recipe(vocab_size: int, n_cells: int = 256, n_layers: int = 2,
                      sequence_length: int = 100):
    """The best plain-Keras recipe known for a text of this size: GRU layers, Adam 2e-3."""
    import keras

    model = keras.Sequential(
        [keras.Input((sequence_length,), dtype="int32"), keras.layers.Embedding(vocab_size, n_cells)]
        + [keras.layers.GRU(n_cells, return_sequences=True) for _ in range(n_layers)]
        + [keras.layers.Dense(vocab_size)])
    model.compile(keras.optimizers.Adam(2e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _as_charrnn(reference, vocab):
    """The Keras model's weights in a `charrnn.CharRNN` (same gates and layout), so that both
    recipes are scored by the one `charrnn.evaluate`."""
    from libs import charrnn

    grus = [layer for layer in reference.layers if "gru" in layer.name]
    model = charrnn.CharRNN(charrnn.CharRNNConfig(cell="gru", n_layers=len(grus),
                                                  n_cells=grus[0].units), vocab)
    model.embedding.assign(reference.layers[0].embeddings)
    for ours, theirs in zip(model.layers_rnn, grus):
        for name in ("kernel", "recurrent_kernel", "bias"):
            getattr(ours, name).assign(getattr(theirs.cell, name))
    model.head.kernel.assign(reference.layers[-1].kernel)
    model.head.bias.assign(reference.layers[-1].bias)
    return model


def versus_keras(seconds: float, path: str, test_fraction: float = 0.1, **settings) -> dict:
    """Our default recipe against the plain-Keras one, in equal wall time, on held-out text.

    The last `test_fraction` of the text at `path` is the test text, seen by neither. Ours
    (`charrnn.train`, `settings` over the defaults: its own validation split of what remains,
    best-model keeping) trains for `seconds`; the whole call is timed, and the Keras recipe
    (2 x 256 GRU, Adam 2e-3, `train_on_batch` on all that remains, no validation split) gets the
    same wall time, tracing included. Both are scored by `charrnn.evaluate` on the test text.
    """
    import keras
    from libs import charrnn, datasets
    from libs.dataset_utils import create_character_windows
    from libs.text import Vocabulary

    text = datasets.load_text(path)
    cut = len(text) - int(len(text) * test_fraction)
    available, test = text[:cut], text[cut:]
    result = {"text": os.path.basename(path), "chars": len(text), "test_chars": len(test),
              "settings": settings}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ours, history = charrnn.train(available, tmp, seconds=seconds, progress=False,
                                      sample_chars=0, **settings)
        wall = time.perf_counter() - start
        result["ours"] = {"steps": int(ours.step.numpy()), "seconds": round(wall, 1),
                          "kept_step": (charrnn.checkpoints.read_best(tmp) or {}).get("step"),
                          "test_nats": charrnn.evaluate(ours, test, skip_unknown=True)["loss_nats"]}
    vocab = Vocabulary.from_text(available)
    keras.utils.set_random_seed(0)
    reference = _keras_gru_recipe(len(vocab))
    ids, steps, epoch = vocab.encode(available), 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < wall:
        for x, y in create_character_windows(ids, 100, 100, seed=epoch):
            reference.train_on_batch(x, y)
            steps += 1
            if time.perf_counter() - start >= wall:
                break
        epoch += 1
    test_nats = charrnn.evaluate(_as_charrnn(reference, vocab), test, skip_unknown=True)["loss_nats"]
    result["keras"] = {"steps": steps, "seconds": round(time.perf_counter() - start, 1),
                       "test_nats": test_nats}
    result["ours_minus_keras_nats"] = round(result["ours"]["test_nats"] - test_nats, 4)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--compare-cells", type=float, metavar="SECONDS",
                        help="run the default-cell experiment with this budget per cell")
    parser.add_argument("--slice", type=float, default=60.0, help="seconds per turn")
    parser.add_argument("--dir", help="keep (or extend) the runs in this folder")
    parser.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated cells")
    parser.add_argument("--versus-keras", type=float, metavar="SECONDS",
                        help="our recipe against the plain-Keras one, this long each, on --text")
    parser.add_argument("--text", action="append", help="a UTF-8 text file (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a charrnn setting for our recipe (repeatable)")
    args = parser.parse_args()
    if args.versus_keras:
        settings = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
        for path in args.text:
            versus_keras(args.versus_keras, path, **settings)
    elif args.compare_cells:
        compare_cells(args.compare_cells, args.slice, tuple(args.cells.split(",")), args.dir)
    else:
        print(json.dumps(run()))
