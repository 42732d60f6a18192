"""Tests for libs.gan: fast layers against Keras, models, the step, EMA, equilibrium, latent
tools, training/resume through training.fit, sampling, evaluation and the CLI. Tiny shapes."""
import json
import os
import subprocess
import sys

import imageio.v3 as iio
import keras
import numpy as np
import pytest
import tensorflow as tf

from libs import gan, gif, images, latents, utils
from libs import layers as fast_layers, training

TINY = dict(image_size=16, channels=1, n_latent=4, n_features=4, batch_size=4)


def tiny(**changes) -> gan.GANConfig:
    return gan.GANConfig(**{**TINY, **changes})


def random_images(n=4, size=16, channels=1, seed=0):
    return tf.random.uniform([n, size, size, channels], 0, 255, seed=seed)


def arr(variable) -> np.ndarray:
    return np.array(variable.numpy())


def weights(model):
    return [arr(w) for w in model.weights]


def assert_same_weights(a, b, atol=1e-5):
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=atol)


# ---------------------------------------------------------------------------- fast layers

@pytest.mark.parametrize("k", [3, 5])
def test_subpixel_equals_conv2d_transpose(k):
    x, w = tf.random.normal([2, 4, 3, 5], seed=1), tf.random.normal([k, k, 7, 5], seed=2)
    expected = tf.nn.conv2d_transpose(x, w, [2, 8, 6, 7], 2, "SAME")
    np.testing.assert_allclose(fast_layers.conv_transpose_subpixel(x, w), expected, atol=1e-4)


@pytest.mark.parametrize("fast_fn, stock_fn, x_shape, k_shape", [
    (fast_layers._conv_s2, lambda x, w: tf.nn.conv2d(x, w, 2, "SAME"), [2, 8, 8, 3], [5, 5, 3, 6]),
    (fast_layers._conv_transpose_s2, lambda x, w: tf.nn.conv2d_transpose(x, w, [2, 8, 8, 6], 2, "SAME"),
     [2, 4, 4, 3], [5, 5, 6, 3]),
])
def test_custom_gradients_equal_tensorflows(fast_fn, stock_fn, x_shape, k_shape):
    x, w = tf.random.normal(x_shape, seed=3), tf.random.normal(k_shape, seed=4)
    results = []
    for fn in (fast_fn, stock_fn):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = fn(x, w)
            loss = tf.reduce_sum(y * tf.cos(y))  # a non-uniform upstream gradient
        results.append([y, *tape.gradient(loss, [x, w])])
    for fast, stock in zip(*results):
        np.testing.assert_allclose(fast, stock, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 3, 5)])
def test_fused_batch_norm_equals_keras(shape):
    x = tf.random.normal(shape, 2.0, 3.0, seed=5)
    fused = fast_layers.FusedBatchNormalization(momentum=0.9)
    stock = keras.layers.BatchNormalization(momentum=0.9)
    fused.build(shape), stock.build(shape)
    for layer in (fused, stock):
        layer.gamma.assign(tf.linspace(0.5, 1.5, shape[-1]))
        layer.beta.assign(tf.linspace(-1.0, 1.0, shape[-1]))
    results = []
    for layer in (fused, stock):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.sin(y))
        results.append([y, *tape.gradient(loss, [x, layer.gamma, layer.beta]),
                        layer.moving_mean, layer.moving_variance, layer(x, training=False)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------- config and models

@pytest.mark.parametrize("changes, message", [
    (dict(image_size=24), "power of two"), (dict(image_size=8), ">= 16"),
    (dict(n_latent=0), "n_latent"), (dict(channels=2), "channels"),
    (dict(margin=0.8), "margin"), (dict(ema=1.0), "ema"), (dict(g_learning_rate=0), "g_learning"),
    (dict(d_learning_rate=1e39), "d_learning_rate must be a number > 0 and <= 10"),
    (dict(g_learning_rate=float("inf")), "g_learning_rate"),
    (dict(seed=2**32), "seed must be an integer >= 0 and <= 4294967295"),
    (dict(image_size=65536, n_features=64), r"of a GAN of image_size=65536 .*\(--image-size\)"),
    (dict(n_features=10**6), r"n_features=1000000 need about .*\(--n-features\)"),
])
def test_config_refuses_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


@pytest.mark.parametrize("changes", [dict(), dict(image_size=64, channels=3, n_latent=7),
                                     dict(dense=True), dict(dense=True, image_size=32)])
def test_n_weights_counts_the_weights_of_both_networks(changes):
    config = tiny(**changes)
    assert config.n_weights() == (gan.generator(config).count_params()
                                  + gan.discriminator(config).count_params())


@pytest.mark.parametrize("size, channels, dense", [(16, 1, False), (32, 3, False), (16, 3, True)])
def test_model_shapes_and_range(size, channels, dense):
    config = tiny(image_size=size, channels=channels, dense=dense)
    g, d = gan.generator(config), gan.discriminator(config)
    x = g(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32), training=False)
    assert x.shape == (3, size, size, channels)
    assert float(tf.reduce_max(tf.abs(x))) <= 1.0
    assert d(x, training=False).shape == (3, 1)
    # Fast and stock layers hold the same variables: checkpoints work with either.
    assert [w.path for w in g.weights] == [w.path for w in gan.generator(config, fast=False).weights]


def test_dcgan_layout_64():
    config = gan.GANConfig(image_size=64, channels=3, n_features=8, n_latent=4)
    g = gan.generator(config)
    ups = [layer.output.shape[1:] for layer in g.layers if "up" in layer.name]
    assert ups == [(8, 8, 32), (16, 16, 16), (32, 32, 8)]
    d = gan.discriminator(config)
    downs = [layer.output.shape[1:] for layer in d.layers if layer.name.startswith("down")]
    assert downs == [(32, 32, 8), (16, 16, 16), (8, 8, 32), (4, 4, 64)]


# ---------------------------------------------------------------------------- the step

@pytest.mark.parametrize("dense, equilibrium", [(False, False), (True, False), (False, True)])
def test_every_path_takes_the_same_step(dense, equilibrium):
    # The layers and XLA change speed only: three steps from the same weights give the same
    # losses (within 1e-4) and weights on the stock layers, the fast ones, and the fast ones
    # with the step compiled by XLA (the latents drawn outside it, from the same generator).
    # With the equilibrium rule, XLA's step updates and puts back where the others skip.
    config = tiny(channels=3, dense=dense, ema=0.9, equilibrium=equilibrium)
    models = {path: gan.GAN(config, path=path) for path in ("fast", "stock", "xla")}
    assert [m.path for m in models.values()] == ["fast", "stock", "xla"]
    assert gan.GAN(config, fast=False).path == "stock"
    fast = models["fast"]
    for other in (models["stock"], models["xla"]):
        for a, b in ((fast.generator, other.generator), (fast.discriminator, other.discriminator),
                     (fast.generator_ema, other.generator_ema)):
            b.set_weights(a.get_weights())
    for seed in range(3):
        x = random_images(channels=3, seed=seed)
        metrics = {path: m.train_step(x) for path, m in models.items()}
        for path in ("stock", "xla"):
            for key in metrics["fast"]:
                assert float(metrics[path][key]) == pytest.approx(float(metrics["fast"][key]),
                                                                  abs=1e-4), (path, key)
    for path in ("stock", "xla"):
        assert_same_weights(weights(fast.generator), weights(models[path].generator), atol=1e-4)
        assert_same_weights(weights(fast.discriminator), weights(models[path].discriminator),
                            atol=1e-4)
        assert_same_weights(weights(fast.generator_ema), weights(models[path].generator_ema),
                            atol=1e-4)


def test_bf16_losses_stay_near_fp32_and_outputs_stay_float32():
    # Three steps from the same seed in mixed bfloat16 (8-bit mantissa) against float32: every
    # loss within 2% (abs 0.02); measured differences were ~1e-3. Eagerly: tracing costs more.
    runs = {}
    for precision in ("fp32", "bf16"):
        keras.utils.set_random_seed(0)
        model = gan.GAN(tiny(ema=0.9), path="fast", precision=precision)
        for seed in range(3):
            metrics = model._train_step(random_images(seed=seed))
        runs[precision] = {k: float(v) for k, v in metrics.items()}
        hidden = model.generator.get_layer("up1")
        assert hidden.compute_dtype == ("bfloat16" if precision == "bf16" else "float32")
        assert hidden.kernel.dtype == "float32"  # the weights stay float32
        assert model.generator.output.dtype == model.discriminator.output.dtype == "float32"
        assert model.generate(np.zeros((2, 4), np.float32)).dtype == np.float32
    for key, value in runs["fp32"].items():
        assert runs["bf16"][key] == pytest.approx(value, rel=0.02, abs=0.02), key
    assert keras.config.dtype_policy().name == "float32"  # the user's other models keep theirs


def test_fp16_scales_the_losses_and_checkpoints_the_adams_only():
    model = gan.GAN(tiny(), path="stock", precision="fp16")
    metrics = model._train_step(random_images())  # eagerly: tracing costs more than a step
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert isinstance(model._g_apply, keras.optimizers.LossScaleOptimizer)
    assert type(model.trackables()["g_optimizer"]) is keras.optimizers.Adam
    assert int(model.g_optimizer.iterations.numpy()) <= 1  # 0 when the first scale overflowed


def test_bad_path_and_precision_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="path must be one of auto, stock, fast, xla, got 'quick'"):
        gan.GAN(tiny(), path="quick")
    with pytest.raises(ValueError, match="path 'xla' does not run under a tf.distribute strategy; "
                                         "use 'stock' or 'fast' or 'auto' there"):
        gan.GAN(tiny(), path="xla", strategy=tf.distribute.get_strategy())
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, fp16, got 'fp8'"):
        gan.GAN(tiny(), precision="fp8")
    with pytest.raises(ValueError, match="path or fast, not both"):
        gan.GAN(tiny(), path="stock", fast=True)


def test_step_returns_losses_and_trains():
    model = gan.GAN(tiny())
    before_g, before_d = weights(model.generator), weights(model.discriminator)
    metrics = model.train_step(random_images())
    assert set(metrics) == {"g_loss", "d_loss", "d_loss_real", "d_loss_fake", "updated_g",
                            "updated_d"}
    assert float(metrics["d_loss"]) == pytest.approx(
        float(metrics["d_loss_real"]) + float(metrics["d_loss_fake"]), rel=1e-6)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert not np.allclose(before_g[0], weights(model.generator)[0])
    assert not np.allclose(before_d[0], weights(model.discriminator)[0])
    assert int(model.g_optimizer.iterations.numpy()) == int(model.d_optimizer.iterations.numpy()) == 1


def test_losses_are_bce_from_logits():
    real, fake = tf.constant([[2.0], [-1.0]]), tf.constant([[0.5], [-3.0]])
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    d_real, d_fake = gan.discriminator_loss(real, fake)
    assert float(d_real) == pytest.approx(float(bce(tf.ones_like(real), real)), rel=1e-5)
    assert float(d_fake) == pytest.approx(float(bce(tf.zeros_like(fake), fake)), rel=1e-5)
    assert float(gan.generator_loss(fake)) == pytest.approx(float(bce(tf.ones_like(fake), fake)),
                                                            rel=1e-5)


LN2 = np.log(2.0)


@pytest.mark.parametrize("real, fake, expected", [
    (LN2, LN2, (True, True)),                     # at equilibrium: both learn
    (LN2 - 0.5, LN2, (True, False)),              # D too good on reals: rest D
    (LN2, LN2 - 0.5, (True, False)),              # D too good on fakes: rest D
    (LN2 + 0.5, LN2, (False, True)),              # D failing: rest G
    (LN2 - 0.5, LN2 + 0.5, (True, True)),         # both rules fire: update both, as the original
])
def test_equilibrium_rule(real, fake, expected):
    update_g, update_d = gan.equilibrium_updates(tf.constant(real), tf.constant(fake), 0.2)
    assert (bool(update_g), bool(update_d)) == expected


@pytest.mark.parametrize("path", ["fast", "xla"])
@pytest.mark.parametrize("decisions", [(True, False), (False, True)])
def test_equilibrium_skips_the_resting_network(monkeypatch, decisions, path):
    # On path "xla" the resting network is updated, then put back (a tf.cond of the updates
    # made XLA's step 15-40x slower): its weights and its Adam's step count stay as they were.
    monkeypatch.setattr(gan, "equilibrium_updates",
                        lambda real, fake, margin: (tf.constant(decisions[0]),
                                                    tf.constant(decisions[1])))
    model = gan.GAN(tiny(equilibrium=True), path=path)
    g0 = [arr(v) for v in model.generator.trainable_variables]
    d0 = [arr(v) for v in model.discriminator.trainable_variables]
    metrics = model.train_step(random_images())
    g1 = [arr(v) for v in model.generator.trainable_variables]
    d1 = [arr(v) for v in model.discriminator.trainable_variables]
    g_changed = not all(np.array_equal(a, b) for a, b in zip(g0, g1))
    d_changed = not all(np.array_equal(a, b) for a, b in zip(d0, d1))
    assert (g_changed, d_changed) == decisions
    assert (float(metrics["updated_g"]), float(metrics["updated_d"])) == tuple(map(float, decisions))
    assert (int(model.g_optimizer.iterations), int(model.d_optimizer.iterations)) == \
        tuple(map(int, decisions))


def test_ema_follows_the_generator():
    model = gan.GAN(tiny(ema=0.5))
    start = [arr(w) for w in model.generator_ema.weights]
    assert_same_weights(start, weights(model.generator), atol=0)
    model.train_step(random_images())
    decay = min(0.5, 2.0 / 11.0)  # warm-up after 1 update: (1 + t) / (10 + t)
    for avg, old, new in zip(model.generator_ema.weights, start, model.generator.weights):
        expected = arr(new) + decay * (old - arr(new)) if new.trainable else arr(new)
        np.testing.assert_allclose(arr(avg), expected, atol=1e-6)


def test_sample_shapes_and_errors():
    model = gan.GAN(tiny())
    out = model.generate(latents.latent(5, 4))
    assert out.shape == (5, 16, 16, 1) and out.dtype == np.float32 and np.abs(out).max() <= 1
    with pytest.raises(ValueError, match="no EMA"):
        model.generate(latents.latent(2, 4), ema=True)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        model.generate(np.zeros((2, 3)))
    drawn = gan.sample(model, 3, seed=5)
    assert drawn.shape == (3, 16, 16, 1) and drawn.dtype == np.uint8
    np.testing.assert_array_equal(drawn, gan.sample(model, 3, seed=5))
    assert not np.array_equal(drawn, gan.sample(model, 3, seed=6))


# ---------------------------------------------------------------------------- latent tools

def test_latent_is_seeded():
    np.testing.assert_array_equal(latents.latent(3, 5, seed=1), latents.latent(3, 5, seed=1))
    assert not np.array_equal(latents.latent(3, 5, seed=1), latents.latent(3, 5, seed=2))


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_interpolate_ends_and_shape(method):
    z0, z1 = latents.latent(2, 6)
    path = latents.interpolate(z0, z1, 5, method)
    assert path.shape == (5, 6) and path.dtype == np.float32
    np.testing.assert_allclose(path[0], z0, atol=1e-5)
    np.testing.assert_allclose(path[-1], z1, atol=1e-5)
    if method == "slerp":  # stays near the sphere the Gaussian latents live on
        norms = np.linalg.norm(path, axis=1)
        assert norms.min() > 0.9 * min(np.linalg.norm(z0), np.linalg.norm(z1))
    with pytest.raises(ValueError, match="slerp"):
        latents.interpolate(z0, z1, 5, "cubic")


def test_latent_path_manifold_and_arithmetic():
    zs = latents.latent(3, 4)
    path = latents.latent_path(zs, 4)
    assert path.shape == (12, 4)
    np.testing.assert_allclose(path[::4], zs, atol=1e-5)
    assert latents.latent_path(zs, 4, loop=False).shape == (9, 4)
    grid = latents.manifold(latents.latent(4, 4), 3)
    assert grid.shape == (9, 4)
    a, b = latents.latent(5, 4, 1), latents.latent(5, 4, 2)
    vector = latents.attribute_vector(a, b)
    np.testing.assert_allclose(vector, a.mean(0) - b.mean(0), atol=1e-6)
    steps = latents.add_attribute(zs[0], vector, [0.0, 1.0])
    np.testing.assert_allclose(steps[1] - steps[0], vector, atol=1e-6)


def test_real_images_among_chosen_indices():
    source = images.image_source("faces", 16)
    everything = images.real_images(source, 16, 200)
    picked = images.real_images(source, 16, 3, seed=1, among=[5, 7, 9, 11])
    assert picked.shape == (3, 16, 16, 1)
    assert all(any(np.array_equal(p, everything[i]) for i in (5, 7, 9, 11)) for p in picked)
    mask = np.zeros(200, bool)
    mask[[5, 7, 9, 11]] = True
    np.testing.assert_array_equal(images.real_images(source, 16, 3, seed=1, among=mask), picked)
    with pytest.raises(ValueError, match="one value per image"):
        images.real_images(source, 16, 3, among=mask[:10])
    with pytest.raises(ValueError, match="integer indices or a boolean mask"):
        images.real_images(source, 16, 3, among=[1.5, 2.0])
    with pytest.raises(ValueError, match="outside 0..199"):
        images.real_images(source, 16, 3, among=[0, 200])
    with pytest.raises(ValueError, match="no indices"):
        images.real_images(source, 16, 3, among=[])


def test_pictures(tmp_path):
    model = gan.GAN(tiny())
    m = gan.montage_of(model, latents.latent(4, 4), tmp_path / "m.png")
    assert m.shape == (2 * 16 + 3, 2 * 16 + 3) and (tmp_path / "m.png").is_file()
    frames = gan.interpolation_gif(model, latents.latent(3, 4), tmp_path / "walk.gif", 2, scale=1)
    assert frames.shape == (6, 16, 16) and iio.improps(tmp_path / "walk.gif", index=None).shape[0] >= 2
    grid = gan.interpolation_gif(model, latents.latent(2, 4).reshape(2, 1, 4).repeat(4, 1),
                                 tmp_path / "grid.gif", 2, scale=1)
    assert grid.shape == (4, 35, 35)
    for i in (0, 10):  # different frames (Pillow merges identical ones)
        gan.montage_of(model, latents.latent(4, 4, seed=i), tmp_path / "progress" / f"step_{i:06d}.png")
    out = gif.progress_gif(tmp_path / "progress")
    assert out == tmp_path / "progress.gif" and iio.improps(out, index=None).shape[0] == 2
    paths = utils.save_samples(model.generate(latents.latent(3, 4)), tmp_path / "samples", (-1, 1))
    assert [p.name for p in paths] == ["sample_0000.png", "sample_0001.png", "sample_0002.png",
                                       "montage.png"]
    assert iio.imread(paths[0]).shape == (16, 16)


# ---------------------------------------------------------------------------- training on training.fit

TRAIN = dict(image_size=16, n_latent=4, n_features=4, batch_size=16, progress=False)


def test_train_writes_checkpoint_progress_and_history(tmp_path):
    model, history = gan.train("faces", tmp_path / "ck", steps=4, montage_every=2, ema=0.9,
                               **TRAIN)
    assert history.stop_reason == "steps" and int(model.step.numpy()) == 4
    steps, values = history["g_loss"]
    assert list(steps) == [1, 2, 3, 4] and np.all(np.isfinite(values))
    assert {"d_loss", "d_loss_real", "d_loss_fake", "updated_g", "updated_d"} <= set(history.keys())
    frames = sorted(p.name for p in (tmp_path / "ck" / "progress").iterdir())
    assert frames == ["step_000000.png", "step_000002.png", "step_000004.png"]
    assert iio.improps(tmp_path / "ck" / "progress.gif", index=None).shape[0] == 3
    # The same montages in TensorBoard, as its images plugin reads them.
    shown = {}
    for events in (tmp_path / "ck" / "logs").glob("events*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                if value.tag == "progress":
                    assert value.metadata.plugin_data.plugin_name == "images"
                    shown[event.step] = tf.make_ndarray(value.tensor)
    assert sorted(shown) == [0, 2, 4]
    width, height, png = shown[4]
    last = iio.imread(tmp_path / "ck" / "progress" / "step_000004.png")
    assert (int(height), int(width)) == last.shape[:2]
    np.testing.assert_array_equal(tf.io.decode_png(png).numpy()[..., 0], last)
    saved = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert saved["model"] == "gan" and saved["config"]["ema"] == 0.9
    assert saved["config"]["channels"] == 1  # taken from the data
    loaded = gan.load(tmp_path / "ck")
    assert int(loaded.step.numpy()) == 4 and loaded.config == model.config
    z = latents.latent(3, 4)
    np.testing.assert_allclose(loaded.generate(z), model.generate(z), atol=1e-6)


def test_split_run_ends_where_an_uninterrupted_one_does(tmp_path):
    settings = dict(montage_every=100, equilibrium=True, ema=0.9, **TRAIN)
    whole, _ = gan.train("faces", tmp_path / "whole", steps=6, **settings)
    gan.train("faces", tmp_path / "split", steps=4, **settings)  # crosses an epoch boundary
    split, history = gan.train("faces", tmp_path / "split", steps=6, **settings)
    assert list(history["g_loss"][0]) == [1, 2, 3, 4, 5, 6]
    for a, b in ((whole.generator, split.generator), (whole.discriminator, split.discriminator),
                 (whole.generator_ema, split.generator_ema)):
        assert_same_weights(weights(a), weights(b), atol=1e-5)


def test_resume_takes_the_saved_config_and_refuses_contradictions(tmp_path):
    gan.train("faces", tmp_path / "ck", steps=1, **TRAIN)
    model, _ = gan.train("faces", tmp_path / "ck", steps=2, progress=False)  # no settings
    assert model.config.n_features == 4 and int(model.step.numpy()) == 2
    with pytest.raises(ValueError, match="n_features"):
        gan.train("faces", tmp_path / "ck", steps=3, progress=False, n_features=8)


def test_resume_with_other_channels_is_refused(tmp_path):
    gan.train("faces", tmp_path / "ck", steps=1, **TRAIN)
    rgb = np.random.default_rng(0).integers(0, 255, (16, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="trained on data with channels=1 but these data have channels=3"):
        gan.train(rgb, tmp_path / "ck", steps=2, progress=False)


def test_checkpoint_of_another_model_is_refused(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model": "charrnn", "config": {}}))
    with pytest.raises(ValueError, match="'charrnn' model"):
        gan.train("faces", folder, steps=1, **TRAIN)
    with pytest.raises(ValueError, match="'charrnn' model"):
        gan.load(folder)


@pytest.mark.parametrize("data, settings, error, message", [
    ("faces", dict(image_size=24), ValueError, "power of two"),
    ("faces", dict(image_size=8), ValueError, ">= 16"),
    ("faces", dict(n_latent=0), ValueError, "n_latent"),
    ("faces", dict(batch_size=500), ValueError, "only 200 images"),
    ("faces", dict(channels=3), ValueError, "channels=3 but the data have channels=1"),
    ("faces", dict(colour=True), TypeError, "unknown GAN settings"),
    ("no/such/folder", {}, FileNotFoundError, "not 'faces', 'celeb' or an existing folder"),
])
def test_bad_training_input(tmp_path, data, settings, error, message):
    with pytest.raises(error, match=message):
        gan.train(data, tmp_path / "ck", steps=1, **{**TRAIN, **settings})


def test_folder_without_images_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    with pytest.raises(ValueError, match="holds no images"):
        gan.train(tmp_path / "empty", tmp_path / "ck", steps=1, **TRAIN)


def test_train_on_a_folder_of_rgb_images(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        iio.imwrite(folder / f"{i}.png", rng.integers(0, 255, (20, 24, 3), dtype=np.uint8))
    model, history = gan.train(folder, tmp_path / "ck", steps=2, image_size=16, n_latent=4,
                               n_features=4, batch_size=4, progress=False)
    assert model.config.channels == 3 and history.stop_reason == "steps"
    result = gan.evaluate(model, folder, n=8)
    assert result["n"] == 8 and result["swd_x1e3"] > 0
    # Resuming mid-epoch on files (2 batches per epoch) leaves the first batch's files unread
    # and ends where an uninterrupted run does.
    settings = dict(image_size=16, n_latent=4, n_features=4, batch_size=4, progress=False)
    whole, _ = gan.train(folder, tmp_path / "whole", steps=4, **settings)
    gan.train(folder, tmp_path / "split", steps=3, **settings)
    split, _ = gan.train(folder, tmp_path / "split", steps=4, **settings)
    for a, b in ((whole.generator, split.generator), (whole.discriminator, split.discriminator)):
        assert_same_weights(weights(a), weights(b), atol=1e-5)


def test_nan_loss_stops_training(tmp_path, monkeypatch):
    monkeypatch.setattr(gan, "generator_loss", lambda logits: tf.reduce_mean(logits) * np.nan)
    with pytest.raises(training.NonFiniteLossError, match="g_loss"):
        gan.train("faces", tmp_path / "ck", steps=3, **TRAIN)


def test_evaluate_reports_swd_and_features(tmp_path):
    model = gan.GAN(tiny())
    result = gan.evaluate(model, "faces", n=20, features=lambda x: x.reshape(len(x), -1)[:, :6])
    assert result["n"] == 20 and result["resolutions"] == [16]
    assert result["swd_x1e3"] > 0 and {"fid", "kid_x1e3"} <= set(result)


# ---------------------------------------------------------------------------- command line

def run_cli(*args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "libs.gan", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_train_sample_eval(tmp_path, capsys):
    ck = tmp_path / "ck"
    done = run_cli("train", "--data", "faces", "--ckpt", ck, "--image-size", "16", "--steps", "2",
                   "--batch-size", "16", "--n-latent", "4", "--n-features", "4", "--ema", "0.9",
                   "--path", "stock", "--precision", "bf16")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["stop_reason"] == "steps"
    # The rest in-process: the same main(), without another TensorFlow start-up.
    assert gan.main(["sample", "--ckpt", str(ck), "--n", "5", "--out", str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["montage.png"] + [f"sample_{i:04d}.png" for i in range(5)]
    capsys.readouterr()
    assert gan.main(["eval", "--ckpt", str(ck), "--data", "faces", "--n", "50"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["swd_x1e3"] > 0 and result["n"] == 50 and result["step"] == 2


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "faces", "--ckpt", "x", "--colour"], "unrecognized arguments: --colour"),
    (["train", "--data", "faces", "--ckpt", "x", "--step", "5"], "unrecognized arguments"),
    (["train", "--data", "faces", "--ckpt", "x", "--steps", "-1"],
     "argument --steps: '-1' is not an integer >= 0"),
    (["train", "--data", "faces", "--ckpt", "x", "--n-latent", "zero"],
     "argument --n-latent: 'zero' is not an integer"),
    (["sample", "--ckpt", "x"], "--out"),
    (["sample", "--ckpt", "x", "--out", "y", "--seed", "99999999999999999999999"],
     "argument --seed"),
    (["fit"], "invalid choice"),
    (["train", "--data", "faces", "--ckpt", "x", "--path", "quick"],
     "argument --path: invalid choice: 'quick'"),
    (["train", "--data", "faces", "--ckpt", "x", "--precision", "fp8"], "argument --precision"),
])
def test_cli_refuses_bad_flags(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        gan.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--n-latent", "0"], "n_latent must be an integer >= 1, got 0"),
    (["--g-learning-rate", "1e39"], "g_learning_rate must be a number > 0 and <= 10, got 1e+39"),
    (["--seed", "99999999999999999999999"], "seed must be an integer >= 0 and <= 4294967295"),
])
def test_cli_settings_are_checked_by_the_config_before_anything_is_written(tmp_path, capsys,
                                                                            flags, message):
    ck = tmp_path / "ck"
    assert gan.main(["train", "--data", "faces", "--ckpt", str(ck), "--steps", "1", *flags]) == 1
    assert f"python -m libs.gan train: error: {message}" in capsys.readouterr().err
    assert not ck.exists()


def test_cli_reports_library_errors(tmp_path, capsys):
    assert gan.main(["train", "--data", "faces", "--ckpt", str(tmp_path / "ck"),
                     "--image-size", "24", "--steps", "1"]) == 1
    assert "power of two" in capsys.readouterr().err
    assert gan.main(["sample", "--ckpt", str(tmp_path / "none"), "--out", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_sizes_that_cannot_fit_are_refused_before_anything_is_written(tmp_path, capsys):
    ck = tmp_path / "ck"
    assert gan.main(["train", "--data", "faces", "--ckpt", str(ck), "--image-size", "65536",
                     "--steps", "1"]) == 1
    assert "--image-size" in capsys.readouterr().err and not ck.exists()
    with pytest.raises(ValueError, match="seed must be an integer >= 0 and <= 4294967295"):
        gan.train("faces", ck, steps=1, seed=2**70, **TRAIN)
    assert not ck.exists()
    gan.train("faces", ck, steps=1, seed=5, **TRAIN)  # another seed is no "other settings"
    out = tmp_path / "out"
    assert gan.main(["sample", "--ckpt", str(ck), "--n", "99999999999", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "99,999,999,999 samples of 16x16x1 pixels need" in err and "--n)" in err
    assert not out.exists()


def test_mirrored_strategy_on_two_cpus(tmp_path, on_two_cpus):
    on_two_cpus("""
        import numpy as np
        from libs import gan
        model, history = gan.train("faces", sys.argv[1], steps=2, image_size=16, n_latent=4,
                                   n_features=4, batch_size=8, ema=0.9, progress=False,
                                   strategy=strategy)
        assert history.stop_reason == "steps" and np.all(np.isfinite(history["g_loss"][1]))
        moved = [not np.allclose(a, b) for a, b in zip(model.generator_ema.get_weights(),
                                                        model.generator.get_weights())]
        assert any(moved), "the EMA generator did not follow"
        print("ok")
    """, tmp_path / "ck")
