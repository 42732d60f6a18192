"""Tests for libs.charrnn: the model against Keras, exact resume, sampling, evaluation, CLI.

Tiny shapes (16 cells, sequences of 8, batches of 4), offline, seconds each.
"""
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from libs import charrnn, checkpoints, sampling, training
from libs.charrnn import CharRNNConfig
from libs.text import Vocabulary, split_held_out
from test_rnn import KERAS_CELLS

TEXT = ("the quick brown fox jumps over the lazy dog. " * 12
        + "pack my box with five dozen liquor jugs!\n" * 6)
TINY = dict(n_cells=16, n_layers=2, batch_size=4, sequence_length=8)


def tiny_train(ckpt, steps, **kwargs):
    options = dict(TINY, progress=False, eval_every=10**6, sample_chars=0)
    options.update(kwargs)
    return charrnn.train(TEXT, ckpt, steps=steps, **options)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint folder with a tiny LSTM trained for 30 steps."""
    folder = tmp_path_factory.mktemp("charrnn") / "ckpt"
    model, history = tiny_train(folder, 30, cell="lstm")
    return folder, model, history


# --- Model -------------------------------------------------------------------------------------

def test_model_advance_continues_the_sequence():
    keras.utils.set_random_seed(3)
    model = charrnn.CharRNN(CharRNNConfig(cell="lstm", **TINY), Vocabulary.from_text(TEXT))
    ids = model.vocab.encode("the lazy dog")[None]                        # (1, 12)
    logits, _ = model(ids)
    _, states = model(ids[:, :-1])
    last, _ = model.advance(ids[:, -1], states)                           # (1, V)
    np.testing.assert_allclose(last, logits[:, -1], atol=1e-5)
    first, _ = model.advance(ids[:, 0])                                   # from zero states
    np.testing.assert_allclose(first, logits[:, 0], atol=1e-5)


@pytest.mark.parametrize("cell", charrnn.CELLS)
def test_layer_norm_model_advance_continues_the_sequence(cell):
    # Sampling steps with layer norm as the sequence does; recurrent dropout is off outside
    # training, and in training it follows the seed.
    keras.utils.set_random_seed(3)
    config = CharRNNConfig(cell=cell, recurrent_dropout=0.25, layer_norm=True, **TINY)
    model = charrnn.CharRNN(config, Vocabulary.from_text(TEXT))
    ids = model.vocab.encode("the lazy dog")[None]                        # (1, 12)
    logits, _ = model(ids)
    _, states = model(ids[:, :-1])
    last, _ = model.advance(ids[:, -1], states)                           # (1, V)
    np.testing.assert_allclose(last, logits[:, -1], atol=1e-5)
    seed = tf.constant([4, 5], tf.int64)
    trained = [model(ids, training=True, seed=s)[0] for s in (seed, seed, seed + 1)]
    np.testing.assert_array_equal(trained[0], trained[1])
    assert not np.allclose(trained[0], trained[2]) and not np.allclose(trained[0], logits)


def test_default_model_keeps_the_weights_older_checkpoints_hold(tmp_path):
    model = charrnn.CharRNN(CharRNNConfig(cell="lstm", **TINY), Vocabulary.from_text(TEXT))
    V = len(model.vocab)
    layer = [("kernel", (16, 64)), ("recurrent_kernel", (16, 64)), ("bias", (64,))]
    assert [(w.path, tuple(w.shape)) for w in model.weights] == \
        [("charrnn/embedding", (V, 16))] + [(f"rnn{i}/{name}", shape) for i in range(2)
                                            for name, shape in layer] \
        + [("logits/kernel", (16, V)), ("logits/bias", (V,))]
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    keys = {name for name, _ in tf.train.list_variables(path) if name.startswith("model/")}
    assert keys == {f"model/{name}/.ATTRIBUTES/VARIABLE_VALUE" for name in
                    ["embedding", "head/_kernel", "head/bias"]
                    + [f"rnn{i}/{n}" for i in range(2) for n, _ in layer]}
    normed = charrnn.CharRNN(CharRNNConfig(cell="lstm", layer_norm=True, **TINY), model.vocab)
    assert [w.path for w in normed.weights if w.path not in {v.path for v in model.weights}] \
        == [f"rnn{i}/{n}" for i in range(2) for n in ("input_norm", "recurrent_norm", "cell_norm")]


@pytest.mark.parametrize("cell", charrnn.CELLS)
def test_model_matches_keras_sequential(cell):
    keras.utils.set_random_seed(2)
    vocab = Vocabulary.from_text(TEXT)
    model = charrnn.CharRNN(CharRNNConfig(cell=cell, **TINY), vocab)
    H, V = 16, len(vocab)
    reference = keras.Sequential(
        [keras.Input((8,), dtype="int32"), keras.layers.Embedding(V, H)]
        + [keras.layers.RNN(KERAS_CELLS[cell](H), return_sequences=True) for _ in range(2)]
        + [keras.layers.Dense(V)])
    weights = [model.embedding.numpy()]
    for layer in model.layers_rnn:
        weights += [layer.kernel.numpy(), layer.recurrent_kernel.numpy(), layer.bias.numpy()]
    reference.set_weights(weights + [w.numpy() for w in model.head.weights])
    ids = np.random.default_rng(0).integers(0, V, size=(3, 8)).astype(np.int32)
    logits, states = model(ids)
    assert logits.shape == (3, 8, V) and len(states) == 2
    np.testing.assert_allclose(logits, reference(ids), atol=1e-5)


# --- Vocabulary and config ---------------------------------------------------------------------

def test_vocabulary_round_trip_and_errors(tmp_path):
    vocab = Vocabulary.from_text("banana!")
    assert vocab.chars == ["!", "a", "b", "n"] and len(vocab) == 4
    ids = vocab.encode("banana")
    assert ids.dtype == np.int32 and vocab.decode(ids) == "banana"
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json") == vocab
    with pytest.raises(ValueError, match=r"2 character\(s\).*'c', 'x'"):
        vocab.encode("cab x".replace(" ", ""), "prime")
    with pytest.raises(ValueError, match="empty"):
        Vocabulary.from_text("")


@pytest.mark.parametrize("field, value, message", [
    ("clip", 0.0, "clip must be a number > 0"), ("clip", -1.0, "clip must be a number > 0"),
    ("cell", "transformer", "cell must be one of"), ("clip_mode", "both", "clip_mode"),
    ("n_cells", 0, "n_cells must be an integer >= 1"), ("dropout", 1.0, "dropout"),
    ("recurrent_dropout", 1.0, r"recurrent_dropout must be a number in \[0, 1\), got 1.0"),
    ("recurrent_dropout", -0.1, r"recurrent_dropout must be a number in \[0, 1\), got -0.1"),
    ("layer_norm", "yes", "layer_norm must be True or False, got 'yes'"),
    ("validation_fraction", 1.0, "validation_fraction"), ("learning_rate", 0, "learning_rate"),
    ("learning_rate", 1e39, r"learning_rate must be a number > 0 and <= 10, got 1e\+39"),
    ("learning_rate", float("inf"), "learning_rate"),
    ("seed", 2**32, "seed must be an integer >= 0 and <= 4294967295"),
    ("batch_size", 2.5, "batch_size")])
def test_config_refuses_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        CharRNNConfig(**{field: value})


def test_defaults_are_the_courses_shapes_with_the_measured_optimiser():
    config = CharRNNConfig()
    assert (config.batch_size, config.sequence_length, config.n_cells, config.n_layers,
            config.clip) == (100, 100, 256, 2, 5.0)                  # the original course's
    assert (config.learning_rate, config.clip_mode) == (3e-3, "norm")  # see CharRNNConfig
    assert config.cell == charrnn.DEFAULT_CELL


# --- Training ----------------------------------------------------------------------------------

def test_train_learns_and_writes_a_complete_folder(trained):
    folder, model, history = trained
    steps, losses = history["loss"]
    assert steps[-1] == 30 and losses[-5:].mean() < losses[:5].mean()
    _, bits = history["bits_per_char"]
    np.testing.assert_allclose(bits, losses / math.log(2), rtol=1e-6)
    assert history["val_loss"][0].tolist() == [30]  # held out, at the end
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "vocabulary.json", "checkpoint", "history.json", "logs"} <= names
    assert checkpoints.read_config(folder, "charrnn")["n_cells"] == 16


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_each_cell_trains(tmp_path, cell):
    _, history = tiny_train(tmp_path / cell, 12, cell=cell, clip_mode="norm")
    losses = history["loss"][1]
    assert np.all(np.isfinite(losses)) and losses[-3:].mean() < losses[:3].mean()


def test_split_run_ends_where_an_uninterrupted_one_does(tmp_path):
    # 22 batches per epoch: 25 steps cross an epoch; the split at 10 is mid-epoch. Dropout
    # makes the RNG state matter.
    whole, h_whole = tiny_train(tmp_path / "whole", 25, dropout=0.2)
    tiny_train(tmp_path / "split", 10, dropout=0.2)
    split, h_split = tiny_train(tmp_path / "split", 25)  # settings come from the folder
    for a, b in zip(whole.weights, split.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_split["loss"][1], h_whole["loss"][1], rtol=1e-5)


def test_model_carries_its_training_state_and_a_split_run_equals_one_run(tmp_path):
    # The model contract: the step, optimizer and RNG ride on the model, trackables() names
    # them, and a run split at 3 ends at 6 exactly where one run to 6 does.
    model = charrnn.CharRNN(charrnn.Config(**TINY), Vocabulary.from_text(TEXT))
    items = model.trackables()
    assert set(items) == {"step", "model", "optimizer", "rng"} and items["model"] is model
    assert items["step"] is model.step and model.step.dtype == tf.int64
    assert items["optimizer"] is model.train_optimizer and items["rng"] is model.rng
    assert getattr(model, "optimizer", None) is None  # Keras's compile slot is left alone
    assert len(model.weights) == 1 + 3 * 2 + 2  # the network's alone: embedding, cells, head
    whole, _ = tiny_train(tmp_path / "whole", 6, dropout=0.2, validation_fraction=0,
                          learning_rate=0.01)
    first, _ = tiny_train(tmp_path / "split", 3, dropout=0.2, validation_fraction=0,
                          learning_rate=0.01)
    assert int(first.step.numpy()) == 3 and int(first.train_optimizer.iterations.numpy()) == 3
    split, _ = tiny_train(tmp_path / "split", 6)  # settings come from the folder
    for model in (whole, split):
        assert int(model.step.numpy()) == 6 and int(model.train_optimizer.iterations.numpy()) == 6
    np.testing.assert_array_equal(whole.rng.state.numpy(), split.rng.state.numpy())
    for a, b in zip(whole.weights + whole.train_optimizer.variables,
                    split.weights + split.train_optimizer.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    loaded = charrnn.load(tmp_path / "split")  # no held-out text: the latest step's weights
    assert int(loaded.step.numpy()) == 6
    for a, b in zip(loaded.weights, split.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # load() is for using a model: the optimizer's state stays in the folder for train()
    assert int(loaded.train_optimizer.iterations.numpy()) == 0


def test_recurrent_dropout_and_layer_norm_train_resume_load_and_sample(tmp_path):
    options = dict(n_cells=8, batch_size=2, sequence_length=8, recurrent_dropout=0.25,
                   layer_norm=True, validation_fraction=0)
    tiny_train(tmp_path / "ckpt", 2, **options)
    model, history = tiny_train(tmp_path / "ckpt", 3, **options)  # resumed from step 2
    assert int(model.step.numpy()) == 3 and np.all(np.isfinite(history["loss"][1]))
    assert {"rnn0/recurrent_norm", "rnn1/input_norm"} <= {w.path for w in model.weights}
    loaded = charrnn.load(tmp_path / "ckpt")
    assert loaded.config.layer_norm and loaded.config.recurrent_dropout == 0.25
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    texts = charrnn.sample(loaded, 20, prime="the ", n_samples=2, seed=1)
    assert texts == charrnn.sample(model, 20, prime="the ", n_samples=2, seed=1)
    assert all(t.startswith("the ") and len(t) == 24 for t in texts)


def test_train_refuses_unknown_settings(tmp_path):
    with pytest.raises(TypeError, match=r"unknown char-RNN settings \['n_cell'\]"):
        tiny_train(tmp_path / "x", 1, n_cell=8)
    assert not (tmp_path / "x").exists()


def test_resume_refuses_other_settings_vocabulary_or_model(tmp_path, trained):
    folder = trained[0]
    with pytest.raises(ValueError, match=r"cell='gru' \(saved: 'lstm'\)"):
        charrnn.train(TEXT, folder, steps=31, cell="gru", progress=False)
    with pytest.raises(ValueError, match=r"characters differ.*new \['Z'\]"):
        charrnn.train(TEXT + "Z", folder, steps=31, progress=False)
    checkpoints.prepare_dir(tmp_path / "gan", "gan", {})
    with pytest.raises(ValueError, match="holds a 'gan' model"):
        tiny_train(tmp_path / "gan", 1)


def test_a_folder_from_before_newer_settings_resumes_and_refuses_other_values(tmp_path):
    """config.json written before a setting existed: the setting has its default there."""
    folder = tmp_path / "old"
    tiny_train(folder, 2, n_layers=1)
    saved = json.loads((folder / checkpoints.CONFIG_FILE).read_text())
    for name in ("recurrent_dropout", "layer_norm", "kind", "records", "sample_rate"):
        del saved["config"][name]
    (folder / checkpoints.CONFIG_FILE).write_text(json.dumps(saved))
    model, _ = tiny_train(folder, 3, n_layers=1)
    assert int(model.step.numpy()) == 3 and not model.config.layer_norm
    with pytest.raises(ValueError, match=r"layer_norm=True \(saved: False\)"):
        tiny_train(folder, 4, n_layers=1, layer_norm=True)


def test_bad_text_is_refused(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        charrnn.train("", tmp_path / "a", steps=1, **TINY)
    with pytest.raises(ValueError, match="fewer than sequence_length"):
        charrnn.train("abc", tmp_path / "b", steps=1, **TINY)
    with pytest.raises(ValueError, match=r"one batch needs batch_size \* sequence_length"):
        charrnn.train("abcdefghij" * 3, tmp_path / "c", steps=1, **TINY)
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    # A learning rate of 1e38 sends the weights to ~1e38 after one step: the logits overflow.
    # The config refuses rates above LEARNING_RATE_MAX; lifted here to provoke the NaN.
    monkeypatch.setattr(charrnn, "LEARNING_RATE_MAX", 1e38)
    with pytest.raises(training.NonFiniteLossError,
                       match=r"loss=nan.* at step 2.*checkpoint \(step 1\).*learning rate"):
        tiny_train(tmp_path / "nan", 5, learning_rate=1e38, checkpoint_every=1)
    assert tf.train.latest_checkpoint(str(tmp_path / "nan")).endswith("ckpt-1")
    assert np.all(np.isfinite(charrnn.load(tmp_path / "nan").head.weights[0].numpy()))


def test_mirrored_strategy_trains_like_one_device(tmp_path, on_two_cpus):
    """Two replicas of half a batch each end where one device with the whole batch does."""
    on_two_cpus("""
        import numpy as np
        from libs import charrnn
        from test_charrnn import TEXT, TINY
        def run(folder, **kwargs):
            model, history = charrnn.train(TEXT, folder, steps=4, progress=False,
                                           sample_chars=0, **TINY, **kwargs)
            return np.concatenate([w.numpy().ravel() for w in model.weights])
        one = run(sys.argv[1] + "/one")
        two = run(sys.argv[1] + "/two", strategy=strategy)
        np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-5)
        run(sys.argv[1] + "/dropout", dropout=0.3, strategy=strategy)
        print("ok")
    """, tmp_path)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_like_float32_and_is_a_speed_setting_only(tmp_path, precision):
    # The same seed and steps: the held-out loss within 0.05 nats of float32's (bfloat16 keeps
    # 8 bits of mantissa, float16 10, its loss scaled); logits and losses stay float32.
    losses = {}
    for p in ("fp32", precision):
        model, history = tiny_train(tmp_path / p, 150, cell="lstm", precision=p)
        losses[p] = history.last("val_loss")
        dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[p]
        assert model.precision == p and model.rnn1.compute_dtype == dtype
        assert model.head.compute_dtype == dtype and model(np.zeros((1, 3), np.int32))[0].dtype == tf.float32
        # Samples, a prime's states (which Keras casts to float32 on the way in) included.
        assert charrnn.sample(model, 6, prime="the q", seed=0)[0].startswith("the q")
    assert losses["fp32"] < math.log(len(set(TEXT))) - 0.5, losses  # trained, not two untrained models
    assert abs(losses[precision] - losses["fp32"]) < 0.05, losses
    # And on the graph's step, the pair an Intel Xeon with AMX chose for bfloat16.
    stock, history = tiny_train(tmp_path / f"{precision}-stock", 150, cell="lstm",
                                precision=precision, path="stock")
    assert abs(history.last("val_loss") - losses["fp32"]) < 0.05, (history.last("val_loss"), losses)
    # Its held-out loss computed as it trained, in the graph: the same as XLA's.
    assert stock.step_path == "stock" and charrnn._eval_step(stock)._jit_compile is False
    graph = charrnn.evaluate(stock, TEXT)["loss_nats"]
    stock.step_path = "xla"
    del charrnn._EVAL_STEPS[stock]
    assert charrnn._eval_step(stock)._jit_compile is True
    assert abs(charrnn.evaluate(stock, TEXT)["loss_nats"] - graph) < 1e-2
    assert isinstance(model.apply_optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "fp16")
    # Not saved: the folder resumes in float32, and loads.
    resumed, _ = tiny_train(tmp_path / precision, 152, cell="lstm")
    assert int(resumed.step.numpy()) == 152 and resumed.precision == "fp32"
    assert charrnn.load(tmp_path / precision).precision == "fp32"


def test_auto_path_and_precision_time_once_per_shape_and_not_under_pytest(tmp_path, monkeypatch,
                                                                        capsys):
    from libs import paths

    monkeypatch.setenv("CADL_DATA_DIR", str(tmp_path))
    for name in ("CADL_PATH", "CADL_PRECISION"):
        monkeypatch.delenv(name, raising=False)
    config, vocab = CharRNNConfig(**TINY), Vocabulary.from_text(TEXT)
    choose = charrnn.speed_settings
    assert choose(config, vocab) == ("xla", "fp32")  # pytest: nothing timed
    assert choose(config, vocab, distributed=True) == ("stock", "fp32")  # no XLA under a strategy
    for path in ("xla", "fast"):
        with pytest.raises(ValueError, match=f"path '{path}' does not run under a tf.distribute "
                                             "strategy; use 'stock' or 'auto' there"):
            choose(config, vocab, path, distributed=True)
    assert not (tmp_path / paths.CACHE_NAME).exists()
    monkeypatch.setenv("CADL_PRECISION", "bf16")
    assert choose(config, vocab) == ("xla", "bf16")
    assert choose(config, vocab, "stock", "fp16") == ("stock", "fp16")  # the arguments first
    monkeypatch.delenv("CADL_PRECISION")
    monkeypatch.setattr(paths, "may_time", lambda: True)
    monkeypatch.setattr(charrnn, "SMALL_BATCH_CHARS", 0)
    monkeypatch.setattr(paths, "STEPS", 1)
    monkeypatch.setattr(paths, "ROUNDS", 1)
    monkeypatch.setattr(paths, "bf16_instructions", lambda: False)  # bfloat16 emulated: not timed
    path, precision = choose(config, vocab)
    assert precision == "fp32" and "Timing the char-RNN's path on this machine (once): xla " \
        in capsys.readouterr().out
    monkeypatch.setattr(paths, "bf16_instructions", lambda: True)
    chosen = choose(config, vocab)
    out = capsys.readouterr().out
    assert "Timing the char-RNN's path and precision on this machine (once): xla fp32 " in out
    entries = json.loads((tmp_path / paths.CACHE_NAME).read_text())
    key, entry = next((json.loads(k), e) for k, e in entries.items() if "and precision" in k)
    assert key["name"] == "char-RNN's path and precision" and key["n_cells"] == 16
    assert entry["choice"] == " ".join(chosen)
    assert set(entry["rates"]) == {f"{path} {precision}" for path in ("xla", "fast", "stock")
                                   for precision in ("fp32", "bf16")}
    assert choose(config, vocab) == chosen  # read back, not timed again
    assert "Timing" not in capsys.readouterr().out
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, fp16, got 'fp8'"):
        choose(config, vocab, precision="fp8")


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_the_graph_step_and_the_halves_train_as_xlas_step_does(tmp_path, dropout):
    """The three paths are one computation: the same seed and steps, the same losses. With
    dropout, the graph draws the same masks as XLA's step (the first step's loss agrees), and
    float32's rounding, which XLA fuses in another order, drifts the later ones apart by under
    1%; the halves draw each half's masks from a seed of its own: other masks, as good."""
    losses = {}
    for path in ("xla", "stock", "fast"):
        _, history = tiny_train(tmp_path / path, 20, cell="lstm", dropout=dropout, path=path)
        losses[path] = history["loss"][1]
    assert losses["xla"][-1] < losses["xla"][0] - 0.03, losses  # it trained
    np.testing.assert_allclose(losses["stock"][0], losses["xla"][0], rtol=1e-5)
    np.testing.assert_allclose(losses["stock"], losses["xla"], rtol=1e-2 if dropout else 1e-5)
    if dropout:
        assert abs(np.mean(losses["fast"][-5:]) - np.mean(losses["xla"][-5:])) < 0.05, losses
    else:
        np.testing.assert_allclose(losses["fast"], losses["xla"], rtol=1e-5)


def test_the_halves_take_records_weights_an_odd_batch_and_float16(tmp_path):
    # Records: the padding's weights are cut with the batch; 5 windows: halves of 2 and 3.
    records = [" ".join(TEXT.split()[k:k + 1 + k % 4]) for k in range(40)]  # 1-4 words each
    losses = {}
    for path in ("xla", "fast"):
        model, history = tiny_train(tmp_path / path, 6, cell="gru", path=path, batch_size=5,
                                    sequence_length=24)
        losses[path] = history["loss"][1]
    np.testing.assert_allclose(losses["fast"], losses["xla"], rtol=1e-5)
    for path in ("xla", "fast"):
        _, history = charrnn.train(records, tmp_path / f"records-{path}", steps=6, path=path,
                                   **dict(TINY, batch_size=5, sequence_length=64),
                                   progress=False, eval_every=10**6, sample_chars=0)
        losses[f"records {path}"] = history["loss"][1]
    np.testing.assert_allclose(losses["records fast"], losses["records xla"], rtol=1e-5)
    assert model.step_path == "fast" and charrnn._eval_step(model)._jit_compile is True
    for path in ("xla", "fast"):  # float16: each half's loss scaled, the sum unscaled once
        _, history = tiny_train(tmp_path / f"fp16-{path}", 4, path=path, precision="fp16")
        losses[f"fp16 {path}"] = history["loss"][1]
    np.testing.assert_allclose(losses["fp16 fast"], losses["fp16 xla"], rtol=1e-3)


# --- Sampling ----------------------------------------------------------------------------------

def test_sampling_is_seeded_and_keeps_the_prime(trained):
    folder, model, _ = trained
    a = charrnn.sample(model, 40, prime="the ", n_samples=3, seed=7)
    assert len(a) == 3 and all(len(s) == 44 and s.startswith("the ") for s in a)
    assert a == charrnn.sample(model, 40, prime="the ", n_samples=3, seed=7)
    assert a != charrnn.sample(model, 40, prime="the ", n_samples=3, seed=8)
    assert charrnn.sample(folder, 40, prime="the ", n_samples=3, seed=7) == a  # from disk
    assert charrnn.sample(model, 0, prime="fox") == ["fox"]
    assert set("".join(charrnn.sample(model, 300, temperature=2.0, seed=0))) <= set(TEXT)


def test_greedy_stateful_sampling_equals_rerunning_the_prefix(trained):
    model = trained[1]
    got = charrnn.sample(model, 12, prime="the qu", sampling="max")[0]
    text = "the qu"
    for _ in range(12):  # the naive O(n^2) way: read the whole prefix for every character
        logits, _ = model(model.vocab.encode(text)[None])
        text += model.vocab.chars[int(np.argmax(logits[0, -1]))]
    assert got == text
    longer = charrnn.sample(model, 300, prime="the qu", sampling="max")[0]  # 2 compiled chunks
    assert longer.startswith(got)


def test_sampling_any_length_compiles_once_and_continues_the_same_draws(trained):
    model = trained[1]
    short = charrnn.sample(model, 37, prime="the ", n_samples=2, seed=4)
    traces = model.generate_chunk.experimental_get_tracing_count()
    longer = charrnn.sample(model, 300, prime="the ", n_samples=2, seed=4)  # 256 + 44
    charrnn.sample(model, 5, prime="the ", n_samples=2, seed=4)
    assert model.generate_chunk.experimental_get_tracing_count() == traces
    assert [s[:41] for s in longer] == short


def test_top_k_one_and_tiny_top_p_are_greedy(trained):
    model = trained[1]
    greedy = charrnn.sample(model, 30, prime="over ", sampling="max")
    assert charrnn.sample(model, 30, prime="over ", top_k=1, seed=3) == greedy
    assert charrnn.sample(model, 30, prime="over ", top_p=1e-6, seed=3) == greedy
    assert charrnn.sample(model, 30, prime="over ", temperature=1e-4, seed=3) == greedy
    kept = charrnn.sample(model, 30, prime="over ", top_k=3, top_p=0.9, seed=3)
    assert len(kept[0]) == 35


@pytest.mark.parametrize("temperature", [1e-300, 1e-45, 1e-40, 1e-38])
def test_temperatures_too_small_for_float32_sample_greedily(trained, temperature):
    # They used to divide the logits by 0 (or a subnormal flushed to 0): NaNs, then newlines.
    model = trained[1]
    greedy = charrnn.sample(model, 30, prime="over ", sampling="max")
    assert charrnn.sample(model, 30, prime="over ", temperature=temperature, seed=3) == greedy
    assert charrnn.sample(model, 30, prime="over ", temperature=temperature, top_k=3,
                          top_p=0.9, seed=3) == greedy


def test_many_texts_are_drawn_a_batch_of_streams_at_a_time(trained, monkeypatch):
    model = trained[1]
    two = charrnn.sample(model, 20, prime="the ", n_samples=2, seed=5)
    monkeypatch.setattr(sampling, "STREAMS", 2)
    five = charrnn.sample(model, 20, prime="the ", n_samples=5, seed=5)  # batches of 2, 2, 1
    assert len(five) == 5 and five[:2] == two
    assert five[2:4] != two  # each batch draws from its own seed


def test_texts_that_cannot_fit_in_memory_are_refused(trained, capsys):
    folder, model, _ = trained
    with pytest.raises(ValueError, match=r"1,000,000,000,000 texts of 501 characters need .*"
                                         r"--n-samples"):
        charrnn.sample(model, 500, prime="t", n_samples=10**12)
    code, out, err = cli(["sample", "--ckpt", str(folder), "--n-samples", "10000000000000"],
                         capsys)
    assert code == 1 and "--n-samples" in err and "--n-chars" in err and out == ""


def test_choose_respects_top_k_and_top_p():
    logits = tf.math.log(tf.constant([[0.5, 0.3, 0.15, 0.05]] * 2000))     # (S, V)
    def draw(top_k=None, top_p=None):
        ids = sampling.choose(logits, tf.constant([1, 2], tf.int64), 1.0,
                              tf.constant(top_k or 1), tf.constant(top_p or 1.0), False,
                              top_k is not None, top_p is not None)
        return np.bincount(ids.numpy(), minlength=4) / 2000
    assert draw(top_k=2)[2:].sum() == 0 and draw(top_k=2)[1] > 0.3
    assert draw(top_p=0.75)[2:].sum() == 0          # 0.5 + 0.3 reaches 0.75
    assert draw(top_p=0.85)[3] == 0 and draw(top_p=0.85)[2] > 0
    np.testing.assert_allclose(draw(), [0.5, 0.3, 0.15, 0.05], atol=0.04)


def test_choose_draws_like_tf_random_categorical_at_any_temperature():
    logits = tf.constant([[2.0, 1.0, 0.0, -1.0, -30.0]] * 20000)
    for temperature in (0.5, 1.0, 3.0):
        ids = sampling.choose(logits, tf.constant([5, 6], tf.int64), temperature, tf.constant(1),
                              tf.constant(1.0), False, False, False)
        ours = np.bincount(ids.numpy(), minlength=5) / 20000
        ref = tf.random.stateless_categorical(logits / temperature, 1, [5, 6])[:, 0]
        ref = np.bincount(ref.numpy(), minlength=5) / 20000
        np.testing.assert_allclose(ours, ref, atol=0.02)
        np.testing.assert_allclose(ours, tf.nn.softmax(logits[0] / temperature), atol=0.015)
        assert ours[4] < 1e-3  # exp(-30) is as good as never


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": 0}, "temperature must be a number > 0"),
    ({"temperature": -1.0}, "temperature"), ({"top_k": 0}, "top_k must be an integer >= 1"),
    ({"top_p": 0.0}, r"top_p must be a number in \(0, 1\]"), ({"top_p": 1.5}, "top_p"),
    ({"n_chars": -1}, "n_chars must be an integer >= 0"), ({"n_samples": 0}, "n_samples"),
    ({"sampling": "greedy"}, "sampling"), ({"prime": "the Q#"}, r"prime has 2 .*'#', 'Q'"),
    ({"seed": 2**64}, "seed must be an integer >= 0 and <= 4294967295"),
    ({"prime": ""}, "prime must have")])
def test_sampling_refuses_bad_arguments(trained, kwargs, message):
    with pytest.raises(ValueError, match=message):
        charrnn.sample(trained[1], **kwargs)


# --- Loading and evaluation --------------------------------------------------------------------

def test_load_rebuilds_the_model_from_the_folder(trained):
    folder, model, _ = trained
    loaded = charrnn.load(folder)
    assert loaded.config == model.config and loaded.vocab == model.vocab
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_load_refuses_missing_or_foreign_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        charrnn.load(tmp_path / "missing")
    checkpoints.prepare_dir(tmp_path / "gan", "gan", {})
    with pytest.raises(ValueError, match="holds a 'gan' model"):
        charrnn.load(tmp_path / "gan")
    checkpoints.prepare_dir(tmp_path / "new", "charrnn", {})
    Vocabulary.from_text("ab").save(tmp_path / "new" / "vocabulary.json")
    with pytest.raises(FileNotFoundError, match="no checkpoint; train first"):
        charrnn.load(tmp_path / "new")


def test_evaluate_counts_every_character_after_the_first(trained):
    model = trained[1]
    text = TEXT[:50]
    result = charrnn.evaluate(model, text)
    assert result["chars"] == 49
    assert result["bits_per_char"] == pytest.approx(result["loss_nats"] / math.log(2))
    ids = model.vocab.encode(text)
    expected = 0.0
    for start in range(0, 49, 8):  # windows of 8 + 1 that overlap by one, each from zero state
        window = ids[start:start + 9]
        logits, _ = model(window[None, :-1])
        expected += tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
            window[1:], logits[0])).numpy()
    assert result["loss_nats"] == pytest.approx(expected / 49, rel=1e-5)


def test_evaluate_unknown_characters(trained):
    model = trained[1]
    with pytest.raises(ValueError, match=r"evaluation text has 1 .*'@'"):
        charrnn.evaluate(model, "the @ dog")
    assert charrnn.evaluate(model, "the @ dog", skip_unknown=True)["chars"] == 7
    with pytest.raises(ValueError, match="at least 2"):
        charrnn.evaluate(model, "t")


def test_untrained_model_costs_about_log_v():
    vocab = Vocabulary.from_text(TEXT)
    model = charrnn.CharRNN(CharRNNConfig(**TINY), vocab)
    for w in model.head.weights:
        w.assign(tf.zeros_like(w))
    assert charrnn.evaluate(model, TEXT)["loss_nats"] == pytest.approx(math.log(len(vocab)))


# --- Command line ------------------------------------------------------------------------------

def cli(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(charrnn.main(args))
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_cli_train_sample_eval(tmp_path, capsys):
    text_file = tmp_path / "text.txt"
    text_file.write_text(TEXT)
    ckpt = str(tmp_path / "ckpt")
    flags = ["--n-cells", "16", "--batch-size", "4", "--sequence-length", "8"]
    code, out, err = cli(["train", "--text", str(text_file), "--ckpt", ckpt, "--steps", "3"]
                         + flags, capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["step"] == 3
    code, out, _ = cli(["train", "--text", str(text_file), "--ckpt", ckpt, "--steps", "5"],
                       capsys)  # resume: the settings come from the folder
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["step"] == 5
    code, out, _ = cli(["sample", "--ckpt", ckpt, "--n-chars", "20", "--prime", "the ",
                        "--seed", "1", "--top-k", "5", "--top-p", "0.9"], capsys)
    assert code == 0 and out.startswith("the ") and len(out) == 25
    code, out, _ = cli(["sample", "--ckpt", ckpt, "--n-chars", "10", "--n-samples", "2",
                        "--sampling", "max", "--prime", "ab"], capsys)
    assert code == 0 and out.count("ab") >= 2
    code, out, _ = cli(["eval", "--ckpt", ckpt, "--text", str(text_file)], capsys)
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and set(result) == {"loss_nats", "bits_per_char", "chars"}
    assert result["chars"] == len(TEXT) - 1


def test_cli_path_and_precision_reach_training(tmp_path, capsys, monkeypatch):
    asked = []
    choose = charrnn.speed_settings
    monkeypatch.setattr(charrnn, "speed_settings",
                        lambda *a, **k: asked.append(a[2:]) or choose(*a, **k))
    code, out, err = cli(["train", "--corpus", "embedded", "--ckpt", str(tmp_path / "c"),
                          "--steps", "1", "--n-cells", "8", "--n-layers", "1", "--batch-size",
                          "2", "--sequence-length", "4", "--path", "stock", "--precision", "bf16"],
                         capsys)
    assert code == 0 and asked == [("stock", "bf16")], err
    code, _, err = cli(["train", "--corpus", "embedded", "--ckpt", "x", "--precision", "fp8"],
                       capsys)
    assert code == 2 and "argument --precision: invalid choice: 'fp8'" in err


def test_cli_train_on_the_embedded_corpus(tmp_path, capsys):
    code, out, _ = cli(["train", "--corpus", "embedded", "--ckpt", str(tmp_path / "c"),
                        "--steps", "1", "--n-cells", "8", "--n-layers", "1", "--batch-size", "2",
                        "--sequence-length", "4", "--validation-fraction", "0"], capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["val_loss_nats"] is None


@pytest.mark.parametrize("args, message", [
    (["train", "--corpus", "embedded", "--ckpt", "x", "--bogus"], "unrecognized arguments"),
    (["train", "--corpus", "embedded", "--ckpt", "x", "--step", "3"], "unrecognized"),
    (["train", "--corpus", "embedded", "--ckpt", "x", "--clip", "none"],
     "argument --clip: 'none' is not a number"),
    (["train", "--corpus", "nowhere", "--ckpt", "x"], "invalid choice"),
    (["train", "--ckpt", "x"], "one of the arguments --text --corpus --midi --wav is required"),
    (["train", "--corpus", "embedded", "--text", "t", "--ckpt", "x"], "not allowed with"),
    (["sample", "--ckpt", "x", "--temperature", "0"],
     "argument --temperature: '0' is not a number > 0"),
    (["sample", "--ckpt", "x", "--top-k", "0"], "argument --top-k: '0' is not an integer >= 1"),
    (["sample", "--ckpt", "x", "--top-p", "1.5"],
     "argument --top-p: '1.5' is not a number in (0, 1]"),
    (["sample", "--ckpt", "x", "--n-chars", "-5"],
     "argument --n-chars: '-5' is not an integer >= 0"),
    (["sample", "--ckpt", "x", "--seed", "99999999999999999999999"],
     "argument --seed: '99999999999999999999999' is not an integer >= 0 and <= 4294967295"),
    (["eval", "--ckpt", "x"], "--text"), (["fly"], "invalid choice")])
def test_cli_refuses_bad_flags(args, message, capsys):
    code, _, err = cli(args, capsys)
    assert code == 2 and message in err.replace("\n", " ")


@pytest.mark.parametrize("flags, message", [
    (["--clip", "0"], "clip must be a number > 0, got 0.0"),
    (["--cell", "cnn"], "cell must be one of rnn, lstm, gru, got 'cnn'"),
    (["--recurrent-dropout", "1"], "recurrent_dropout must be a number in [0, 1), got 1.0"),
    (["--learning-rate", "1e39"], "learning_rate must be a number > 0 and <= 10, got 1e+39"),
    (["--seed", "99999999999999999999999"], "seed must be an integer >= 0 and <= 4294967295"),
])
def test_cli_settings_are_checked_by_the_config_before_anything_is_written(tmp_path, capsys,
                                                                            flags, message):
    text_file, ckpt = tmp_path / "text.txt", tmp_path / "ckpt"
    text_file.write_text(TEXT)
    code, _, err = cli(["train", "--text", str(text_file), "--ckpt", str(ckpt), *flags], capsys)
    assert code == 1 and f"python -m libs.charrnn train: error: {message}" in err
    assert not ckpt.exists()


def test_a_refused_seed_leaves_nothing_written(tmp_path):
    ckpt = tmp_path / "ckpt"
    with pytest.raises(ValueError, match="seed must be an integer >= 0 and <= 4294967295"):
        tiny_train(ckpt, 1, seed=2**70)  # Python callers: the config's check
    assert not ckpt.exists()
    _, history = tiny_train(ckpt, 1, seed=5)  # another seed is no "other settings"
    assert history.stop_reason == "steps"


def test_cli_reports_bad_input_with_exit_code_1(tmp_path, capsys, trained):
    folder = str(trained[0])
    code, _, err = cli(["sample", "--ckpt", folder, "--prime", "Q"], capsys)
    assert code == 1 and "'Q'" in err
    assert err.splitlines()[-1].startswith("python -m libs.charrnn sample: error:")
    (tmp_path / "odd.txt").write_text("the @@ dog")
    code, _, err = cli(["eval", "--ckpt", folder, "--text", str(tmp_path / "odd.txt")], capsys)
    assert code == 1 and "'@'" in err
    code, _, err = cli(["sample", "--ckpt", str(tmp_path / "none")], capsys)
    assert code == 1 and "does not exist" in err


def test_held_out_text_is_cut_from_places_spread_over_the_text():
    text = "".join(f"{i:06d}|" for i in range(20000))   # 140,000 characters, each piece unique
    train, held = split_held_out(text, 100, 100, 0.1)
    assert len(held) == 14000 and len(train) + len(held) == len(text)
    pieces = held.split("|")
    assert text.index(held[:1400]) > 0 and text.endswith(held[-1400:])   # from the start to the end
    positions = [text.index(held[k * 1400:(k + 1) * 1400]) for k in range(10)]
    assert positions == sorted(positions) and np.ptp(positions) > 100000   # ten pieces, in order
    assert not set(pieces[1:-1]) & set(train.split("|"))                  # none trained on
    short = "abcdefghij" * 300                                           # too short for ten
    assert split_held_out(short, 100, 2, 0.1)[1] == short[-300:]         # one piece, the end
    assert split_held_out(text, 100, 100, 0)[0] == text


def test_training_keeps_the_best_model_on_held_out_text(tmp_path, capsys):
    # A learning rate so high that the held-out loss gets worse after the first evaluations:
    # the best model is kept in best/, returned, and used by load() unless best=False.
    ckpt = tmp_path / "ckpt"
    model, history = tiny_train(ckpt, 40, eval_every=5, learning_rate=0.3, cell="rnn",
                                validation_fraction=0.2)
    steps, losses = history["val_loss"]
    best = checkpoints.read_best(ckpt)
    assert best["step"] == steps[np.argmin(losses)]
    assert best["value"] == pytest.approx(losses.min())
    config = model.config
    held_out = split_held_out(TEXT, config.sequence_length, config.batch_size,
                              config.validation_fraction)[1]
    ours = charrnn.evaluate(model, held_out)["loss_nats"]
    assert best["step"] < 40 and ours < losses[-1]  # the run ended worse than its best
    assert "best char-RNN on held-out data" in capsys.readouterr().out
    assert charrnn.evaluate(charrnn.load(ckpt), held_out)["loss_nats"] == pytest.approx(ours)
    assert int(model.step.numpy()) == 40  # the step reached; the weights are the best's
    assert int(charrnn.load(ckpt).step.numpy()) == best["step"]
    latest = charrnn.load(ckpt, best=False)
    assert "of step 40" in latest.restored_from and int(latest.step.numpy()) == 40
    assert charrnn.evaluate(latest, held_out)["loss_nats"] == pytest.approx(losses[-1], rel=1e-4)


def test_patience_stops_when_held_out_loss_no_longer_improves(tmp_path, capsys):
    _, history = tiny_train(tmp_path / "ckpt", 400, eval_every=2, learning_rate=0.5, cell="rnn",
                            validation_fraction=0.2, patience=2)
    assert history.stop_reason == "patience" and history["loss"][0][-1] < 400
    out = capsys.readouterr()
    assert (out.out + out.err).count("No better val_loss") == 1  # said once, at the stop
    best = checkpoints.read_best(tmp_path / "ckpt")
    assert history["val_loss"][0][-1] - best["step"] == 4  # two evaluations without improvement


def test_only_the_per_model_functions_retrace_warnings_are_dropped():
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = tf.get_logger()
    logger.addHandler(handler)
    try:
        logger.warning("5 out of the last 13 calls to <function CharRNN.generate_chunk at 0x1> "
                       "triggered tf.function retracing. Tracing is expensive")
        for name in ("_eval_step.<locals>.step", "make_train_step.<locals>.train_step"):
            logger.warning(f"6 out of the last 36 calls to <function {name} at 0x3> "
                           "triggered tf.function retracing. Tracing is expensive")
        logger.warning("5 out of the last 13 calls to <function other at 0x2> triggered "
                       "tf.function retracing. Tracing is expensive")
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage()[:40] for r in records] == ["5 out of the last 13 calls to <function "]
    assert "other" in records[0].getMessage()
