"""Tests for libs.draw: the filterbank attention against hand-computed values, the model's
shapes and bound, the model contract (step, optimizer, noise generator, trackables),
training/resume through training.fit, two replicas against one device, load/evaluate/sample,
the CLI, and bad input. Tiny shapes: 8x8 images, T=3, 16 units."""
import json
import math

import imageio.v3 as iio
import keras
import numpy as np
import pytest
import tensorflow as tf

from libs import datasets, draw, training, utils

TINY = dict(T=3, read_n=2, write_n=3, enc_size=16, dec_size=16, n_latent=4, batch_size=8)
TRAIN = dict(progress=False, **TINY)


def tiny(**changes) -> draw.DRAWConfig:
    return draw.DRAWConfig(**{"image_size": 8, **TINY, **changes})


_DIGITS = {}


def digits8(n=48) -> np.ndarray:
    """n embedded digits shrunk to 8x8, uint8 (n, 8, 8, 1)."""
    if n not in _DIGITS:
        x = tf.image.resize(datasets.digits(n, seed=3)[0].astype(np.float32), (8, 8), "area")
        _DIGITS[n] = np.clip(np.rint(x.numpy()), 0, 255).astype(np.uint8)
    return _DIGITS[n]


def weights(model):
    return [np.array(w.numpy()) for w in model.weights]


def constant(*values, batch=1):
    return [tf.fill([batch, 1], float(v)) for v in values]


# ---------------------------------------------------------------------------- attention

def test_filterbank_by_hand():
    # N=2 filters over 3 pixels, centre 2, stride 1, 2 sigma^2 = 1: centres 1.5 and 2.5,
    # weights exp(-(a - mu)^2) for a = 1, 2, 3, rows summing to 1.
    gx, gy, log_sigma2, log_delta = constant(2.0, 2.0, math.log(0.5), 0.0)
    Fx, Fy = draw.filterbank(gx, gy, log_sigma2, log_delta, N=2, A=3, B=3)
    near, far = math.exp(-0.25), math.exp(-2.25)
    row = np.array([near, near, far]) / (2 * near + far)       # [0.4683, 0.4683, 0.0634]
    np.testing.assert_allclose(Fx[0], [row, row[::-1]], atol=1e-6)
    np.testing.assert_allclose(Fy[0], Fx[0], atol=1e-6)
    # Reading a 3x3 image with these filters: glimpse[i, j] = sum_hw Fy[i, h] x[h, w] Fx[j, w].
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    g = draw.read(x, 2 * x, Fx, Fy, tf.fill([1, 1], 3.0))
    expected = np.einsum("nh,hw,mw->nm", Fy[0], x[0, ..., 0], Fx[0])
    np.testing.assert_allclose(g[0, ..., 0], 3 * expected, rtol=1e-5)
    np.testing.assert_allclose(g[0, ..., 1], 6 * expected, rtol=1e-5)
    assert float(g[0, 0, 0, 0]) == pytest.approx(3 * (row @ x[0, :, :, 0] @ row), rel=1e-5)


def test_filterbank_shapes_and_normalisation():
    gx, gy, log_sigma2, log_delta = constant(3.0, 2.0, 0.3, 0.5, batch=4)
    Fx, Fy = draw.filterbank(gx, gy, log_sigma2, log_delta, N=3, A=6, B=4)
    assert Fx.shape == (4, 3, 6) and Fy.shape == (4, 3, 4)
    np.testing.assert_allclose(tf.reduce_sum(Fx, -1), 1.0, rtol=1e-5)
    x = tf.random.uniform([4, 4, 6, 2], seed=1)
    glimpse = draw.read(x, x, Fx, Fy, tf.ones([4, 1]))
    assert glimpse.shape == (4, 3, 3, 4)
    assert draw.write(glimpse[..., :2], Fx, Fy, tf.ones([4, 1])).shape == (4, 4, 6, 2)


def test_centred_unit_stride_sharp_filters_are_the_identity():
    S = 5
    gx, gy, log_sigma2, log_delta = constant((S + 1) / 2, (S + 1) / 2, -10.0, 0.0)
    Fx, Fy = draw.filterbank(gx, gy, log_sigma2, log_delta, N=S, A=S, B=S)
    np.testing.assert_allclose(Fx[0], np.eye(S), atol=1e-6)
    x = tf.random.uniform([1, S, S, 1], seed=2)
    x_hat = 1.0 - x
    np.testing.assert_allclose(draw.read(x, x_hat, Fx, Fy, tf.ones([1, 1])),
                               tf.concat([x, x_hat], -1), atol=1e-5)
    np.testing.assert_allclose(draw.write(x, Fx, Fy, tf.ones([1, 1])), x, atol=1e-5)


def dense5(bias):
    layer = keras.layers.Dense(5, kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(bias))
    layer.build((None, 3))
    return layer


def test_attention_params_at_zero_cover_the_image():
    h = tf.random.normal([2, 3])
    gx, gy, log_sigma2, log_delta, log_gamma = draw.attention_params(h, dense5(0.0), N=4, A=7, B=7)
    np.testing.assert_allclose(gx, 4.0)          # (A + 1) / 2: the centre
    np.testing.assert_allclose(tf.exp(log_delta), 2.0, rtol=1e-6)  # (7 - 1) / (4 - 1)
    np.testing.assert_allclose(log_sigma2, 0.0) and np.testing.assert_allclose(log_gamma, 0.0)
    sharp = tf.fill([2, 1], -10.0)
    Fx, _ = draw.filterbank(gx, gy, sharp, log_delta, 4, 7, 7)
    centres = np.sum(Fx[0] * np.arange(1, 8), axis=-1)  # from the first pixel to the last
    np.testing.assert_allclose(centres, [1, 3, 5, 7], atol=1e-4)
    # N = image size with sharp filters: the read is the identity.
    x = tf.random.uniform([2, 7, 7, 1], seed=3)
    params = draw.attention_params(h, dense5([0, 0, -10.0, 0, 0]), N=7, A=7, B=7)
    Fx, Fy = draw.filterbank(*params[:4], 7, 7, 7)
    np.testing.assert_allclose(draw.read(x, x, Fx, Fy, tf.exp(params[4]))[..., :1], x, atol=1e-5)


@pytest.mark.parametrize("bias", [[0, 0, 0, 0, 0], [5.0, -5.0, -30.0, 2.0, 1.0]])
def test_attention_gradients_are_finite(bias):
    # The second case points the grid outside the image with vanishing filters: all weights
    # underflow to 0 and only the epsilon keeps the normalisation finite.
    layer, h = dense5(bias), tf.random.normal([3, 3], seed=4)
    x = tf.random.uniform([3, 6, 6, 1], seed=5)
    with tf.GradientTape() as tape:
        params = draw.attention_params(h, layer, N=2, A=6, B=6)
        Fx, Fy = draw.filterbank(*params[:4], 2, 6, 6)
        glimpse = draw.read(x, x, Fx, Fy, tf.exp(params[4]))
        loss = tf.reduce_sum(draw.write(glimpse[..., :1], Fx, Fy, tf.exp(params[4])) ** 2) \
            + tf.reduce_sum(glimpse)
    grads = tape.gradient(loss, layer.trainable_variables)
    assert all(np.all(np.isfinite(g)) for g in grads)


# ---------------------------------------------------------------------------- the model

@pytest.mark.parametrize("attention, channels", [(True, 1), (False, 1), (True, 3)])
def test_model_shapes(attention, channels):
    model = draw.DRAW(tiny(attention=attention, channels=channels))
    x = tf.random.uniform([5, 8, 8, channels], seed=6)
    canvases, kl = model(x, draw.latent(5, model.config))
    assert canvases.shape == (3, 5, 8, 8, channels) and kl.shape == (3, 5)
    assert np.all(kl.numpy() >= 0)
    assert model(x)[0].shape == (3, 5, 8, 8, channels)  # noise drawn inside
    assert model.generate(draw.latent(2, model.config)).shape == (3, 2, 8, 8, channels)
    names = {w.path.split("/")[0] for w in model.weights}
    assert ("read_attention" in names) == attention and {"encoder", "decoder", "q"} <= names


def test_bound_is_bernoulli_cross_entropy_plus_kl():
    model = draw.DRAW(tiny())
    images = digits8(4)
    z = draw.latent(4, model.config, seed=1)
    reconstruction, kl = model.bound(images, z)
    x = (images >= 128).astype(np.float32)
    logits = model(x, z)[0][-1].numpy().astype(np.float64)
    p = 1 / (1 + np.exp(-logits))
    expected = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    np.testing.assert_allclose(reconstruction, expected, rtol=1e-4)
    np.testing.assert_allclose(kl, tf.reduce_sum(model(x, z)[1], 0), rtol=1e-5)
    for w in model.q.weights:  # Q(z) = N(0, I) exactly: no KL
        w.assign(tf.zeros_like(w))
    np.testing.assert_allclose(model.bound(images, z)[1], 0.0, atol=1e-6)


def test_targets():
    images = np.array([0, 127, 128, 255], np.uint8)
    np.testing.assert_array_equal(draw.targets(images, True), [0, 0, 1, 1])
    np.testing.assert_allclose(draw.targets(images, False), images / 255.0)


def test_the_model_carries_its_training_state():
    assert draw.Config is draw.DRAWConfig and draw.MODEL_NAME == "draw"
    model = draw.DRAW(tiny(learning_rate=0.01, clip=2.0))
    assert model.step.dtype == tf.int64 and int(model.step.numpy()) == 0
    optimizer = model.train_optimizer
    assert optimizer.built and optimizer.global_clipnorm == 2.0
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    assert isinstance(model.rng, tf.random.Generator)
    held = model.trackables()
    assert list(held) == ["step", "model", "optimizer", "rng"]
    assert held["step"] is model.step and held["optimizer"] is optimizer
    assert held["rng"] is model.rng and held["model"] is model
    assert {w.path.split("/")[0] for w in model.weights} == {  # the networks' weights only
        "encoder", "decoder", "q", "write_patch", "read_attention", "write_attention"}


def test_whole_batch_noise_on_one_device_is_the_generators_own():
    a, b = tf.random.Generator.from_seed(5), tf.random.Generator.from_seed(5)
    np.testing.assert_array_equal(draw.whole_batch_normal(a, 3, 4, 2), b.normal([3, 4, 2]))
    np.testing.assert_array_equal(a.state, b.state)


def test_latent_is_per_image():
    cfg = tiny()
    a, b = draw.latent(3, cfg, seed=7), draw.latent(5, cfg, seed=7)
    assert a.shape == (3, 3, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b[:, :3])


@pytest.mark.parametrize("attention", [True, False])
def test_mixed_precision_bounds_stay_near_fp32_and_stay_float32(attention):
    # Three steps from the same seed in mixed bfloat16 (8-bit mantissa) and float16 (loss
    # scaled): every figure within 2% of float32's; the canvas, the KL and the losses are
    # float32, and the checkpoint holds the Adam alone.
    runs = {}
    for precision in ("fp32", "bf16", "fp16"):
        keras.utils.set_random_seed(0)
        model = draw.DRAW(tiny(attention=attention), precision=precision)
        step = draw.make_train_step(model)
        for _ in range(3):
            metrics = step(digits8(8))
        runs[precision] = {k: float(v) for k, v in metrics.items()}
        dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[precision]
        assert model.encoder.compute_dtype == model.write_patch.compute_dtype == dtype
        assert model.q.compute_dtype == "float32" and model.encoder.kernel.dtype == "float32"
        canvases, kl = model(np.zeros((2, 8, 8, 1), np.float32))
        assert canvases.dtype == kl.dtype == tf.float32
        assert draw.sample(model, 2, seed=0).dtype == np.uint8
        assert isinstance(model.apply_optimizer, keras.optimizers.LossScaleOptimizer) == \
            (precision == "fp16")
        assert type(model.trackables()["optimizer"]) is keras.optimizers.Adam
    for precision in ("bf16", "fp16"):
        for key, value in runs["fp32"].items():
            assert runs[precision][key] == pytest.approx(value, rel=0.02, abs=0.02), (precision, key)
    assert keras.config.dtype_policy().name == "float32"


def test_the_xla_step_trains_as_the_graph_does():
    # Path "xla" compiles the bound, its gradient and the update by XLA; the noise is drawn
    # outside it, so both paths train on the same noise and end at the same weights.
    runs = {}
    for xla in (False, True):
        keras.utils.set_random_seed(0)
        model = draw.DRAW(tiny())
        step = draw.make_train_step(model, xla=xla)
        losses = [float(step(digits8(8))["nll_bound_nats"]) for _ in range(3)]
        runs[xla] = losses, weights(model), model.rng.state.numpy()
    np.testing.assert_allclose(runs[True][0], runs[False][0], rtol=1e-4)
    for a, b in zip(runs[True][1], runs[False][1]):
        np.testing.assert_allclose(a, b, atol=2e-5)
    np.testing.assert_array_equal(runs[True][2], runs[False][2])
    with pytest.raises(ValueError, match="does not run under a tf.distribute strategy"):
        draw.make_train_step(draw.DRAW(tiny()), distributed=True, xla=True)


def test_auto_speed_settings_are_fixed_under_pytest_and_follow_the_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("CADL_PATH", raising=False)
    monkeypatch.delenv("CADL_PRECISION", raising=False)
    monkeypatch.setenv("CADL_DATA_DIR", str(tmp_path / "data"))
    # nothing timed under pytest: the graph, in float32
    assert draw.speed_settings(draw.DRAWConfig()) == ("stock", "fp32")
    monkeypatch.setenv("CADL_PRECISION", "bf16")
    monkeypatch.setenv("CADL_PATH", "xla")
    assert draw.speed_settings(draw.DRAWConfig()) == ("xla", "bf16")
    assert draw.speed_settings(draw.DRAWConfig(), "stock", "fp16") == ("stock", "fp16")
    assert not (tmp_path / "data" / draw.paths.CACHE_NAME).exists()  # nothing timed or cached
    with pytest.raises(ValueError, match="path 'xla' does not run under a tf.distribute strategy; "
                                         "use 'stock' or 'auto' there"):
        draw.train(digits8(), tmp_path / "ck", steps=1, strategy=tf.distribute.get_strategy(),
                   **TRAIN)
    assert not (tmp_path / "ck").exists()


def test_auto_times_both_steps_once_and_keeps_the_faster(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CADL_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(draw.paths, "STEPS", 1)
    monkeypatch.setattr(draw.paths, "ROUNDS", 1)
    monkeypatch.setattr(draw.paths, "may_time", lambda: True)
    monkeypatch.setattr(draw.paths, "SMALL_BATCH_PIXELS", 0)
    chosen = draw.speed_settings(tiny(), "auto", "fp32")
    assert "Timing the DRAW's path on this machine" in capsys.readouterr().out
    assert chosen[0] in ("stock", "xla") and chosen[1] == "fp32"
    (key, entry), = json.loads((tmp_path / draw.paths.CACHE_NAME).read_text()).items()
    assert json.loads(key)["name"] == "DRAW's path" and set(entry["rates"]) == {"stock", "xla"}
    assert draw.speed_settings(tiny(), "auto", "fp32") == chosen  # read back, not timed again
    assert "Timing" not in capsys.readouterr().out


# ---------------------------------------------------------------------------- training

def test_loss_decreases(tmp_path):
    model, history = draw.train(digits8(), tmp_path / "ck", steps=40, learning_rate=1e-2, **TRAIN)
    steps, values = history["nll_bound_nats"]
    assert list(steps) == list(range(1, 41)) and np.all(np.isfinite(values))
    assert values[-5:].mean() < 0.7 * values[:5].mean()  # about 44 -> 19 nats
    _, recon = history["reconstruction_nats"]
    np.testing.assert_allclose(values, recon + history["kl_nats"][1], rtol=1e-4)
    saved = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert saved["model"] == "draw" and saved["config"] == {
        **saved["config"], **TINY, "image_size": 8, "channels": 1, "learning_rate": 1e-2}
    assert model.step.dtype == tf.int64 and int(model.step.numpy()) == 40


def test_split_run_ends_where_an_uninterrupted_one_does(tmp_path):
    images = digits8(40)  # 5 batches per epoch: the split at 4 crosses into the second epoch
    whole, _ = draw.train(images, tmp_path / "whole", steps=7, **TRAIN)
    draw.train(images, tmp_path / "split", steps=4, **TRAIN)
    split, history = draw.train(images, tmp_path / "split", steps=7, **TRAIN)
    assert list(history["nll_bound_nats"][0]) == list(range(1, 8)) and int(split.step.numpy()) == 7
    for a, b in zip(weights(whole), weights(split)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_mirrored_strategy_trains_like_one_device(tmp_path, on_two_cpus):
    """Two replicas of half a batch each end where one device with the whole batch does: the
    same noise, and the gradient clipped as a whole (clip=0.5 clips every step here; Keras
    alone would clip each replica's half)."""
    on_two_cpus("""
        import numpy as np
        from libs import draw
        from test_draw import TRAIN, digits8
        def run(folder, **kwargs):
            model, history = draw.train(digits8(), sys.argv[1] + folder, steps=4, clip=0.5,
                                        **TRAIN, **kwargs)
            assert int(model.step.numpy()) == 4 and history.stop_reason == "steps"
            return model, history
        one, one_history = run("/one")
        two, two_history = run("/two", strategy=strategy)
        for a, b in zip(one.weights, two.weights):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(one_history["nll_bound_nats"][1],
                                   two_history["nll_bound_nats"][1], rtol=1e-5)
        loaded = draw.load(sys.argv[1] + "/two")
        assert int(loaded.step.numpy()) == 4
        for a, b in zip(loaded.weights, two.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert draw.sample(loaded, 2, seed=0).shape == (2, 8, 8, 1)
        try:
            draw.train(digits8(), sys.argv[1] + "/odd", steps=1, strategy=strategy,
                       **{**TRAIN, "batch_size": 7})
        except ValueError as e:
            assert "batch_size=7 does not split evenly across the strategy's 2 replicas" in str(e)
        else:
            raise AssertionError("a batch of 7 was split across 2 replicas")
        print("ok")
    """, tmp_path)


def test_load_evaluate_sample_and_gif(tmp_path):
    model, _ = draw.train(digits8(), tmp_path / "ck", steps=3, **TRAIN)
    loaded = draw.load(tmp_path / "ck")
    assert loaded.config == model.config and int(loaded.step.numpy()) == 3
    for a, b in zip(weights(model), weights(loaded)):
        np.testing.assert_array_equal(a, b)
    # load() is for using the model: weights and step; the optimizer's moments and the noise
    # generator stay in the folder, for train() to resume.
    assert int(loaded.train_optimizer.iterations.numpy()) == 0
    result = draw.evaluate(loaded, digits8(), n=20)
    assert result == draw.evaluate(model, digits8(), n=20)  # the same noise: repeatable
    assert result["n"] == 20 and result["step"] == 3 and result["kl_nats"] >= 0
    assert result["nll_bound_nats"] == pytest.approx(result["reconstruction_nats"]
                                                     + result["kl_nats"], abs=1e-3)
    json.dumps(result)
    images = draw.sample(loaded, 5, seed=1)
    assert images.shape == (5, 8, 8, 1) and images.dtype == np.uint8
    canvases = draw.drawing_steps(loaded, 5, seed=1)
    assert canvases.shape == (3, 5, 8, 8, 1) and canvases.dtype == np.uint8
    np.testing.assert_array_equal(images, canvases[-1])
    np.testing.assert_array_equal(draw.sample(loaded, 5, seed=1), images)
    np.testing.assert_array_equal(draw.sample(loaded, 2, seed=1), images[:2])
    assert not np.array_equal(draw.sample(loaded, 5, seed=2), images)
    assert not np.array_equal(draw.sample(loaded, 5), draw.sample(loaded, 5))  # new seeds
    assert draw.drawing_steps(loaded, 300, seed=1).shape == (3, 300, 8, 8, 1)  # two chunks
    np.testing.assert_array_equal(draw.sample(loaded, 300, seed=1)[:5], images)
    frames = draw.canvas_gif(loaded, tmp_path / "d.gif", n=4, scale=1, hold=2)
    assert frames.shape == (3 + 2, 19, 19) and (tmp_path / "d.gif").is_file()
    paths = utils.save_samples(images, tmp_path / "out")
    assert [p.name for p in paths][-2:] == ["sample_0004.png", "montage.png"]
    np.testing.assert_array_equal(iio.imread(paths[0]), images[0, ..., 0])


def test_resume_keeps_the_saved_config_and_refuses_others(tmp_path):
    draw.train(digits8(), tmp_path / "ck", steps=1, **TRAIN)
    model, _ = draw.train(digits8(), tmp_path / "ck", steps=2, progress=False)  # no settings
    assert model.config.enc_size == 16 and int(model.step.numpy()) == 2
    with pytest.raises(ValueError, match=r"T=4 \(saved: 3\)"):
        draw.train(digits8(), tmp_path / "ck", steps=3, progress=False, T=4)
    rgb = np.repeat(digits8(), 3, axis=-1)
    with pytest.raises(ValueError, match="trained on data with image_size=8, channels=1 but "
                                         "these data have image_size=8, channels=3"):
        draw.train(rgb, tmp_path / "ck", steps=3, progress=False)


# ---------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("changes, message", [
    (dict(T=0), "T must be an integer >= 1, got 0"),
    (dict(read_n=9), r"read_n=9 is larger than the 8x8 image; use 1 to 8"),
    (dict(write_n=12), "write_n=12 is larger"),
    (dict(channels=2), "channels must be 1"),
    (dict(enc_size=2.5), "enc_size must be an integer"),
    (dict(learning_rate=0), "learning_rate must be a number > 0"),
    (dict(learning_rate=1e39), "learning_rate must be a number > 0 and <= 10"),
    (dict(seed=2**32), "seed must be an integer >= 0 and <= 4294967295"),
    (dict(clip=float("nan")), "clip must be a number > 0"),
    (dict(attention="yes"), "attention must be True or False"),
])
def test_config_refuses_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


def test_no_attention_allows_any_read_n():
    assert tiny(attention=False, read_n=20).read_n == 20


@pytest.mark.parametrize("data, settings, error, message", [
    (np.zeros((10, 8, 6), np.uint8), {}, ValueError, r"square images.*got shape \(10, 8, 6\)"),
    (np.zeros((10, 8, 8, 2), np.uint8), {}, ValueError, r"1 or 3"),
    (np.full((10, 8, 8), 2.0), {}, ValueError, r"float images must be in \[0, 1\]"),
    (np.full((10, 8, 8), -1), {}, ValueError, "uint8 0-255"),
    ("faces", {}, ValueError, "'digits', 'mnist' or an image array"),
    (None, dict(batch_size=100), ValueError, "only 48 images for batches of 100"),
    (None, dict(image_size=16), ValueError, "image_size=16 but the data have image_size=8"),
    (None, dict(colour=True), TypeError, "unknown DRAW model settings"),
])
def test_bad_training_input(tmp_path, data, settings, error, message):
    with pytest.raises(error, match=message):
        draw.train(digits8() if data is None else data, tmp_path / "ck", steps=1,
                   **{**TRAIN, **settings})


def test_float_and_2d_arrays_are_accepted():
    x = draw.image_data(np.linspace(0, 1, 2 * 8 * 8).reshape(2, 8, 8))
    assert x.shape == (2, 8, 8, 1) and x.dtype == np.uint8 and x.max() == 255


def test_load_refuses_missing_or_foreign_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        draw.load(tmp_path / "none")
    foreign = tmp_path / "gan"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({"model": "gan", "config": {}}))
    with pytest.raises(ValueError, match="holds a 'gan' model, not a 'draw' one"):
        draw.load(foreign)
    with pytest.raises(ValueError, match="'gan' model"):
        draw.train(digits8(), foreign, steps=1, **TRAIN)
    empty = tmp_path / "new"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"model": "draw",
                                                   "config": {"image_size": 8, **TINY}}))
    with pytest.raises(FileNotFoundError, match="no checkpoint; train first"):
        draw.load(empty)


def test_evaluate_refuses_other_image_sizes():
    with pytest.raises(ValueError, match=r"draws \(8, 8, 1\) images but the data are \(28, 28"):
        draw.evaluate(draw.DRAW(tiny()), "digits", n=2)


def test_sample_refuses_more_images_than_fit_in_memory_and_bad_seeds():
    model = draw.DRAW(tiny())
    with pytest.raises(ValueError, match=r"99,999,999,999 samples of 8x8x1 pixels need .*--n\)"):
        draw.sample(model, 99_999_999_999)
    with pytest.raises(ValueError, match=r"9,999,999,999 samples of 8x8x1 pixels need .*--n\)"):
        draw.drawing_steps(model, 9_999_999_999)  # T canvases each
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        draw.sample(model, 2, seed=-1)


# ---------------------------------------------------------------------------- command line

def test_cli_train_sample_eval(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(draw, "N_DIGITS", 64)  # fewer digits to render
    ck = str(tmp_path / "ck")
    assert draw.main(["train", "--data", "digits", "--ckpt", ck, "--steps", "2", "--T", "2",
                      "--batch-size", "16", "--enc-size", "8", "--dec-size", "8",
                      "--n-latent", "2", "--no-attention", "--seed", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["stop_reason"] == "steps"
    config = json.loads((tmp_path / "ck" / "config.json").read_text())["config"]
    assert config["attention"] is False and config["image_size"] == 28 and config["T"] == 2
    out = tmp_path / "out"
    assert draw.main(["sample", "--ckpt", ck, "--n", "3", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["canvas.gif", "montage.png", "sample_0000.png",
                                                     "sample_0001.png", "sample_0002.png"]
    capsys.readouterr()
    assert draw.main(["eval", "--ckpt", ck, "--data", "digits", "--n", "10"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 10 and result["step"] == 2 and result["nll_bound_nats"] > 0


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "digits", "--ckpt", "x", "--colour"], "unrecognized arguments: --colour"),
    (["train", "--data", "digits", "--ckpt", "x", "--step", "5"], "unrecognized arguments"),
    (["train", "--data", "faces", "--ckpt", "x"], "invalid choice: 'faces'"),
    (["train", "--data", "digits", "--ckpt", "x", "--T", "ten"],
     "argument --T: 'ten' is not an integer"),
    (["train", "--data", "digits", "--ckpt", "x", "--learning-rate", "fast"],
     "argument --learning-rate: 'fast' is not a number"),
    (["sample", "--ckpt", "x"], "--out"),
    (["eval", "--ckpt", "x", "--data", "digits", "--n", "0"], "'0' is not an integer >= 1"),
    (["fit"], "invalid choice"),
    (["train", "--data", "digits", "--ckpt", "x", "--precision", "fp8"],
     "argument --precision: invalid choice: 'fp8'"),
])
def test_cli_refuses_bad_flags(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        draw.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_cli_reports_library_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(draw, "N_DIGITS", 16)
    assert draw.main(["sample", "--ckpt", str(tmp_path / "none"), "--out", str(tmp_path)]) == 1
    assert "python -m libs.draw sample: error:" in capsys.readouterr().err
    assert draw.main(["train", "--data", "digits", "--ckpt", str(tmp_path / "ck"),
                      "--read-n", "40", "--steps", "1"]) == 1
    assert "read_n=40 is larger than the 28x28 image" in capsys.readouterr().err
    assert draw.main(["train", "--data", "digits", "--ckpt", str(tmp_path / "ck"),
                      "--T", "0", "--steps", "1"]) == 1
    assert "T must be an integer >= 1, got 0" in capsys.readouterr().err


def test_nan_loss_stops_training(tmp_path, monkeypatch):
    monkeypatch.setattr(draw, "targets",
                        lambda images, binarize: tf.cast(images, tf.float32) * np.nan)
    with pytest.raises(training.NonFiniteLossError, match="nll_bound_nats"):
        draw.train(digits8(), tmp_path / "ck", steps=2, **TRAIN)
