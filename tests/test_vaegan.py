"""Tests for libs.vaegan: config, networks, losses, the step, training/resume through
training.fit, load/encode/decode/evaluate/sample, the CLI and bad input. Tiny shapes."""
import json

import imageio.v3 as iio
import keras
import numpy as np
import pytest
import tensorflow as tf

from libs import gan, images, vaegan

TINY = dict(image_size=16, n_latent=4, n_features=4, batch_size=8)
TRAIN = dict(TINY, progress=False)


def tiny(**changes) -> vaegan.VAEGANConfig:
    return vaegan.VAEGANConfig(**{**TINY, **changes})


def random_images(n=8, size=16, channels=1, seed=0):
    return tf.random.uniform([n, size, size, channels], 0, 255, seed=seed)


def weights(model):
    return [np.array(w.numpy()) for w in model.weights]


# ---------------------------------------------------------------------------- config and networks

@pytest.mark.parametrize("changes, message", [
    (dict(image_size=24), "power of two"), (dict(image_size=8), ">= 16"),
    (dict(n_latent=0), "n_latent"), (dict(channels=2), "channels"),
    (dict(gamma=0), "gamma"), (dict(gamma=float("nan")), "gamma"),
    (dict(learning_rate=-1e-3), "learning_rate"), (dict(beta1=1.0), "beta1"),
    (dict(d_learning_rate=1e39), "d_learning_rate must be a number > 0 and <= 10"),
    (dict(seed=2**32), "seed must be an integer >= 0 and <= 4294967295"),
    (dict(batch_size=2.5), "batch_size"),
])
def test_config_refuses_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


@pytest.mark.parametrize("size, channels", [(16, 1), (32, 3)])
def test_network_shapes(size, channels):
    config = tiny(image_size=size, channels=channels)
    model = vaegan.VAEGAN(config)
    x = random_images(3, size, channels) * (2 / 255) - 1
    mean, log_var = model.encoder(x, training=False)
    assert mean.shape == log_var.shape == (3, 4)
    assert model.decoder(mean, training=False).shape == (3, size, size, channels)
    logits, features = model.discriminator(x, training=False)
    assert logits.shape == (3, 1) and features.shape == (3, 4, 4, 4 * size // 8)
    # The discriminator with features is gan.discriminator's layers and variables.
    plain = gan.discriminator(config.gan_config())
    assert [w.path for w in model.discriminator.weights] == [w.path for w in plain.weights]


def test_losses():
    mean = tf.zeros([5, 3])
    assert float(vaegan.kl_prior(mean, tf.zeros([5, 3]))) == 0.0  # q = N(0, I): KL 0
    # KL(N(1, e^1) || N(0, 1)) per dimension: 0.5 * (1 + e - 1 - 1) = 0.5 * (e - 1)
    assert float(vaegan.kl_prior(tf.ones([2, 3]), tf.ones([2, 3]))) == \
        pytest.approx(3 * 0.5 * (np.e - 1), rel=1e-6)
    a, b = tf.ones([2, 4, 4, 2]), tf.zeros([2, 4, 4, 2])
    assert float(vaegan.feature_loss(a, b)) == pytest.approx(0.5 * 32)
    assert float(vaegan.feature_loss(a, a)) == 0.0


def test_step_returns_finite_losses_and_trains_all_three():
    model = vaegan.VAEGAN(tiny())
    before = [weights(n) for n in (model.encoder, model.decoder, model.discriminator)]
    history = [{k: float(v) for k, v in model.train_step(random_images(seed=i)).items()}
               for i in range(3)]
    assert set(history[0]) == {"prior_loss", "llike_loss", "gan_loss", "g_loss", "enc_loss",
                               "dec_loss"}
    for m in history:
        assert all(np.isfinite(v) for v in m.values())
        assert m["enc_loss"] == pytest.approx(m["prior_loss"] + m["llike_loss"], rel=1e-5)
        assert m["dec_loss"] == pytest.approx(0.1 * m["llike_loss"] + m["g_loss"], rel=1e-5)
    for key in ("prior_loss", "llike_loss", "gan_loss"):
        assert len({m[key] for m in history}) == 3  # the losses move
    for net, old in zip((model.encoder, model.decoder, model.discriminator), before):
        assert not np.allclose(old[0], weights(net)[0])
    assert all(int(o.iterations.numpy()) == 3 for o in model.optimizers.values())


def test_every_path_gives_the_same_losses():
    # The layers and XLA change speed only: three steps from the same weights, losses within
    # 1e-4 (relative; llike_loss is ~50), on the stock layers, the fast ones, and the fast ones
    # with the step compiled by XLA (the noise drawn outside it, from the same generator).
    fast, stock = vaegan.VAEGAN(tiny(), path="fast"), vaegan.VAEGAN(tiny(), fast=False)
    xla = vaegan.VAEGAN(tiny(), path="xla")
    assert (fast.path, stock.path, xla.path) == ("fast", "stock", "xla")
    for other in (stock, xla):
        for name in ("encoder", "decoder", "discriminator"):
            getattr(other, name).set_weights(getattr(fast, name).get_weights())
    for seed in range(3):  # eagerly: tracing two VAE-GANs would take longer than the steps
        x = random_images(seed=seed)
        m_fast = fast._train_step(x)
        for other in (stock, xla):
            m_other = other._train_step(x)
            for key in m_fast:
                assert float(m_other[key]) == pytest.approx(float(m_fast[key]), rel=1e-4,
                                                            abs=1e-4), (other.path, key)


def test_mixed_precision_losses_stay_near_fp32_and_stay_float32():
    # Three steps from the same seed in mixed bfloat16 (8-bit mantissa) and float16 (loss
    # scaled): every loss within 3% (abs 0.03) of float32's (measured: under 1.5%); the losses
    # and latents are float32.
    runs = {}
    for precision in ("fp32", "bf16", "fp16"):
        keras.utils.set_random_seed(0)
        model = vaegan.VAEGAN(tiny(), path="fast", precision=precision)
        for seed in range(3):  # eagerly: tracing costs more than the steps
            metrics = model._train_step(random_images(seed=seed))
        runs[precision] = {k: float(v) for k, v in metrics.items()}
        dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[precision]
        assert model.encoder.get_layer("enc1").compute_dtype == dtype
        assert all(v.dtype == tf.float32 for v in metrics.values())
        assert vaegan.encode(model, random_images(2).numpy()).dtype == np.float32
        assert isinstance(model._apply["decoder"], keras.optimizers.LossScaleOptimizer) == \
            (precision == "fp16")
        assert type(model.trackables()["decoder_optimizer"]) is keras.optimizers.Adam
    for precision in ("bf16", "fp16"):
        for key, value in runs["fp32"].items():
            assert runs[precision][key] == pytest.approx(value, rel=0.03, abs=0.03), (precision, key)
    assert keras.config.dtype_policy().name == "float32"  # the user's other models keep theirs


# ---------------------------------------------------------------------------- training and use

def test_train_load_and_use(tmp_path):
    model, history = vaegan.train("faces", tmp_path / "ck", steps=3, montage_every=2, **TRAIN)
    assert history.stop_reason == "steps" and int(model.step.numpy()) == 3
    # Progress: 32 real faces over their 32 reconstructions, at steps 0, 2 and the end.
    frames = sorted(p.name for p in (tmp_path / "ck" / "progress").glob("*.png"))
    assert frames == ["step_000000.png", "step_000002.png", "step_000003.png"]
    first, last = (iio.imread(tmp_path / "ck" / "progress" / f) for f in frames[::2])
    assert first.shape == (8 * 16 + 9, 8 * 16 + 9)
    assert np.array_equal(first[:4 * 17], last[:4 * 17])      # the same real faces on top
    assert not np.array_equal(first[4 * 17:], last[4 * 17:])  # their reconstructions change
    assert iio.imread(tmp_path / "ck" / "progress.gif", index=None).shape[0] == 3
    assert list(history["enc_loss"][0]) == [1, 2, 3]
    saved = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert saved["model"] == "vaegan" and saved["config"]["channels"] == 1
    loaded = vaegan.load(tmp_path / "ck")
    assert int(loaded.step.numpy()) == 3 and loaded.config == model.config
    faces = images.real_images(images.image_source("faces", 16), 16, 5)
    z = vaegan.encode(loaded, faces)
    assert z.shape == (5, 4)
    np.testing.assert_allclose(z, vaegan.encode(model, faces), atol=1e-5)
    recon = vaegan.reconstruct(loaded, faces)
    assert recon.shape == (5, 16, 16, 1) and np.abs(recon).max() <= 1
    np.testing.assert_allclose(recon, vaegan.decode(loaded, z), atol=1e-6)
    path = vaegan.interpolate(loaded, faces[0], faces[1], n=4)
    assert path.shape == (4, 16, 16, 1)
    np.testing.assert_allclose(path[[0, -1]], recon[:2], atol=1e-4)
    drawn = vaegan.sample(loaded, 3, seed=1)
    assert drawn.dtype == np.uint8 and drawn.shape == (3, 16, 16, 1)
    assert np.abs(drawn.astype(int) - vaegan.sample(model, 3, seed=1)).max() <= 1
    result = vaegan.evaluate(loaded, "faces", n=20)
    assert result["n"] == 20 and result["step"] == 3
    assert 0 < result["reconstruction_mse"] < 1 and result["swd_x1e3"] > 0


def test_split_run_ends_where_an_uninterrupted_one_does(tmp_path):
    # 200 faces in batches of 64: 3 per epoch, so step 4 crosses an epoch boundary.
    settings = dict(TRAIN, batch_size=64)
    whole, _ = vaegan.train("faces", tmp_path / "whole", steps=5, **settings)
    vaegan.train("faces", tmp_path / "split", steps=4, **settings)
    split, history = vaegan.train("faces", tmp_path / "split", steps=5, progress=False)
    assert list(history["enc_loss"][0]) == [1, 2, 3, 4, 5]
    for a, b in ((whole.encoder, split.encoder), (whole.decoder, split.decoder),
                 (whole.discriminator, split.discriminator)):
        for x, y in zip(weights(a), weights(b)):
            np.testing.assert_allclose(x, y, atol=1e-5)


def test_resume_refuses_contradicting_settings_and_other_models(tmp_path):
    vaegan.train("faces", tmp_path / "ck", steps=1, **TRAIN)
    with pytest.raises(ValueError, match=r"gamma=0.5 \(saved: 0.1\)"):
        vaegan.train("faces", tmp_path / "ck", steps=2, progress=False, gamma=0.5)
    rgb = np.random.default_rng(0).integers(0, 255, (16, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="trained on data with channels=1 but these data have channels=3"):
        vaegan.train(rgb, tmp_path / "ck", steps=2, progress=False)
    gan.train("faces", tmp_path / "gan", steps=1, image_size=16, n_latent=4, n_features=4,
              batch_size=8, progress=False)
    for call in (lambda: vaegan.load(tmp_path / "gan"),
                 lambda: vaegan.train("faces", tmp_path / "gan", steps=2, **TRAIN)):
        with pytest.raises(ValueError, match="'gan' model, not a 'vaegan' one"):
            call()


@pytest.mark.parametrize("data, settings, error, message", [
    ("faces", dict(image_size=24), ValueError, "power of two"),
    ("faces", dict(image_size=0), ValueError, "image_size must be an integer >= 16, got 0"),
    ("faces", dict(n_latent=0), ValueError, "n_latent"),
    ("faces", dict(batch_size=500), ValueError, "only 200 images"),
    ("faces", dict(channels=3), ValueError, "channels=3 but the data have channels=1"),
    ("faces", dict(colour=True), TypeError, "unknown VAE-GAN settings"),
    ("no/such/folder", {}, FileNotFoundError, "not 'faces', 'celeb' or an existing folder"),
    (np.zeros((10, 32, 32, 1)), {}, ValueError, r"must be \(N, 16, 16\) or \(N, 16, 16, 1 or 3\)"),
])
def test_bad_training_input(tmp_path, data, settings, error, message):
    with pytest.raises(error, match=message):
        vaegan.train(data, tmp_path / "ck", steps=1, **{**TRAIN, **settings})


def test_bad_use_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vaegan.load(tmp_path / "none")
    model = vaegan.VAEGAN(tiny())
    with pytest.raises(ValueError, match=r"images must be \(N, 16, 16, 1\)"):
        vaegan.encode(model, np.zeros((2, 32, 32, 1)))
    with pytest.raises(ValueError, match=r"z must have shape \(N, 4\)"):
        vaegan.decode(model, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="3-channel"):
        vaegan.evaluate(vaegan.VAEGAN(tiny(channels=3)), "faces", n=4)
    with pytest.raises(ValueError, match=r"99,999,999,999 samples of 16x16x1 pixels need"):
        vaegan.sample(model, 99_999_999_999)


# ---------------------------------------------------------------------------- command line

def test_cli_train_sample_eval(tmp_path, capsys):
    ck = str(tmp_path / "ck")
    assert vaegan.main(["train", "--data", "faces", "--ckpt", ck, "--steps", "2",
                        "--image-size", "16", "--batch-size", "8", "--n-latent", "4",
                        "--n-features", "4", "--gamma", "0.1", "--montage-every", "1",
                        "--path", "stock"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["stop_reason"] == "steps"
    assert len(list((tmp_path / "ck" / "progress").glob("step_*.png"))) == 3
    assert vaegan.main(["sample", "--ckpt", ck, "--n", "5", "--out", str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["montage.png"] + [f"sample_{i:04d}.png" for i in range(5)]
    capsys.readouterr()
    assert vaegan.main(["eval", "--ckpt", ck, "--data", "faces", "--n", "30"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 30 and result["step"] == 2
    assert result["reconstruction_mse"] > 0 and result["swd_x1e3"] > 0


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "faces", "--ckpt", "x", "--colour"], "unrecognized arguments: --colour"),
    (["train", "--data", "faces", "--ckpt", "x", "--step", "5"], "unrecognized arguments"),
    (["train", "--data", "faces", "--ckpt", "x", "--gamma", "high"],
     "argument --gamma: 'high' is not a number"),
    (["train", "--data", "faces", "--ckpt", "x", "--n-latent", "0.5"],
     "argument --n-latent: '0.5' is not an integer"),
    (["train", "--data", "faces", "--ckpt", "x", "--montage-every", "0"],
     "argument --montage-every: '0' is not an integer >= 1"),
    (["sample", "--ckpt", "x"], "--out"),
    (["eval", "--ckpt", "x", "--data", "faces", "--n", "1"], "'1' is not an integer >= 2"),
    (["fit"], "invalid choice"),
    (["train", "--data", "faces", "--ckpt", "x", "--path", "quick"], "argument --path: invalid choice"),
    (["train", "--data", "faces", "--ckpt", "x", "--precision", "fp8"],
     "argument --precision: invalid choice: 'fp8'"),
])
def test_cli_refuses_bad_flags(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        vaegan.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_cli_reports_library_errors(tmp_path, capsys):
    assert vaegan.main(["train", "--data", "faces", "--ckpt", str(tmp_path / "ck"),
                        "--gamma", "-1", "--steps", "1"]) == 1
    assert "gamma must be a number > 0, got -1.0" in capsys.readouterr().err
    assert not (tmp_path / "ck").exists()
    assert vaegan.main(["train", "--data", "faces", "--ckpt", str(tmp_path / "ck"),
                        "--image-size", "24", "--steps", "1"]) == 1
    assert "power of two" in capsys.readouterr().err
    assert vaegan.main(["sample", "--ckpt", str(tmp_path / "none"), "--out", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_mirrored_strategy_on_two_cpus(tmp_path, on_two_cpus):
    on_two_cpus("""
        import numpy as np
        from libs import vaegan
        model, history = vaegan.train("faces", sys.argv[1], steps=2, image_size=16, n_latent=4,
                                      n_features=4, batch_size=8, progress=False,
                                      strategy=strategy)
        assert history.stop_reason == "steps" and int(model.step.numpy()) == 2
        for key in ("enc_loss", "dec_loss", "gan_loss"):
            assert np.all(np.isfinite(history[key][1])), key
        assert vaegan.load(sys.argv[1]).step == 2
        print("ok")
    """, tmp_path / "ck")
