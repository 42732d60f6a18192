"""The homework's self-checks pass the library's own answers and catch the typical mistakes,
each with its own message."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from libs import checks, gan

CONFIG = gan.GANConfig(image_size=16, channels=1, n_features=4, n_latent=8)


def fails(match):
    return pytest.raises(checks.CheckFailed, match=match)


def given(model):
    """A builder that returns `model`, whatever it is asked for."""
    return lambda *args: model


def not_written(*args):
    raise NotImplementedError()  # what a student copy's exercise holds


def test_an_exercise_not_written_yet_is_named_in_every_check():
    for check, args in [(checks.discriminator, (16, 1, 4)), (checks.generator, (8, 16, 1, 4)),
                        (checks.discriminator_loss, ()), (checks.generator_loss, ()),
                        (checks.variables_and_optimizers, (None, None)),
                        (checks.charrnn_model, (11, 8, 1)), (checks.clipping, ()),
                        (checks.sampling, ()), (checks.temperature, ()),
                        (checks.equilibrium, ()), (checks.reparameterize, ()),
                        (checks.kl_prior, ()), (checks.attribute_vector, ()),
                        (checks.train_step, (11,))]:
        with fails(r"is not written yet: put your code in place of `raise NotImplementedError\(\)`"):
            check(not_written, *args)


def test_discriminator_check():
    D = checks.discriminator(lambda size, channels, n: gan.discriminator(
        gan.GANConfig(image_size=size, channels=channels, n_features=n)), 16, 1, 4)
    assert D.output_shape == (None, 1)
    keras.utils.set_random_seed(0)
    with_sigmoid = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
                                     keras.layers.Dense(1, activation="sigmoid")])
    with fails("seems to end with a sigmoid"):
        checks.discriminator(given(with_sigmoid), 16, 1, 4)
    no_flatten = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Dense(1)])
    with fails(r"one logit per image, shape \(4, 1\).*gave \(4, 16, 16, 1\)"):
        checks.discriminator(given(no_flatten), 16, 1, 4)
    with fails("should be a keras.Model"):
        checks.discriminator(given(lambda x: x), 16, 1, 4)


def test_generator_check():
    G = checks.generator(lambda n_latent, size, channels, n: gan.generator(gan.GANConfig(
        n_latent=n_latent, image_size=size, channels=channels, n_features=n)), 8, 16, 1, 4)
    assert G.output_shape == (None, 16, 16, 1)
    keras.utils.set_random_seed(0)
    no_tanh = keras.Sequential([keras.Input((8,)), keras.layers.Dense(256),
                                keras.layers.Rescaling(50.0), keras.layers.Reshape((16, 16, 1))])
    with fails(r"should lie in \[-1, 1\].*tanh"):
        checks.generator(given(no_tanh), 8, 16, 1, 4)
    small = keras.Sequential([keras.Input((8,)), keras.layers.Dense(64, activation="tanh"),
                              keras.layers.Reshape((8, 8, 1))])
    with fails(r"images of shape \(4, 16, 16, 1\); it gave \(4, 8, 8, 1\)"):
        checks.generator(given(small), 8, 16, 1, 4)


def test_loss_checks():
    checks.discriminator_loss(gan.discriminator_loss)
    checks.generator_loss(gan.generator_loss)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    checks.discriminator_loss(lambda r, f: (bce(tf.ones_like(r), r), bce(tf.zeros_like(f), f)))
    with fails("wrong sign"):
        checks.discriminator_loss(lambda r, f: [-v for v in gan.discriminator_loss(r, f)])
    twice = keras.losses.BinaryCrossentropy(from_logits=True)
    with fails("applies the sigmoid twice"):
        checks.discriminator_loss(lambda r, f: (twice(tf.ones_like(r), tf.sigmoid(r)),
                                                twice(tf.zeros_like(f), tf.sigmoid(f))))
    with fails("loss on real images is .* against ones"):
        checks.discriminator_loss(lambda r, f: (bce(tf.zeros_like(r), r), bce(tf.zeros_like(f), f)))
    with fails("saturating loss"):
        checks.generator_loss(lambda f: -bce(tf.zeros_like(f), f))
    with fails("raised ZeroDivisionError"):
        checks.generator_loss(lambda f: 1 / 0)


def test_variables_and_optimizers_check():
    D, G = gan.discriminator(CONFIG), gan.generator(CONFIG)
    d_opt, g_opt = keras.optimizers.Adam(2e-4), keras.optimizers.Adam(2e-4)
    chosen = (D.trainable_variables, G.trainable_variables, d_opt, g_opt)
    assert checks.variables_and_optimizers(lambda d, g: chosen, D, G) == chosen
    with fails("holds variables of the other network"):
        checks.variables_and_optimizers(
            lambda d, g: (g.trainable_variables, g.trainable_variables, d_opt, g_opt), D, G)
    with fails("should be all .* trainable variables"):
        checks.variables_and_optimizers(
            lambda d, g: (d.trainable_variables[:1], g.trainable_variables, d_opt, g_opt), D, G)
    with fails("share one optimizer"):
        checks.variables_and_optimizers(
            lambda d, g: (d.trainable_variables, g.trainable_variables, d_opt, d_opt), D, G)
    with fails("return four things"):
        checks.variables_and_optimizers(lambda d, g: (d_opt, g_opt), D, G)


def test_gan_step_check():
    keras.utils.set_random_seed(0)
    D, G = gan.discriminator(CONFIG), gan.generator(CONFIG)
    d_opt, g_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)
    real = tf.random.stateless_uniform((4, 16, 16, 1), (7, 8), -1, 1)

    def step(images, training=True, train_g=True):
        z = tf.random.normal([4, CONFIG.n_latent])
        with tf.GradientTape(persistent=True) as tape:
            fake = G(z, training=training)
            d_real, d_fake = gan.discriminator_loss(D(images, training=training),
                                                    D(fake, training=training))
            g_loss = gan.generator_loss(D(fake, training=training))
            d_loss = d_real + d_fake
        d_opt.apply_gradients(zip(tape.gradient(d_loss, D.trainable_variables),
                                  D.trainable_variables))
        if train_g:
            g_opt.apply_gradients(zip(tape.gradient(g_loss, G.trainable_variables),
                                      G.trainable_variables))
        return d_loss, g_loss

    checks.gan_step(step, D, G, real)
    with fails("call D with training=True"):
        checks.gan_step(lambda x: step(x, training=False), D, G, real)
    with fails("G's weights did not change: apply g_opt's gradients"):
        checks.gan_step(lambda x: step(x, train_g=False), D, G, real)
    with fails("is not written yet"):
        checks.gan_step(not_written, D, G, real)


def _char_model(vocab, bidirectional=False, sequences=True):
    rnn = keras.layers.GRU(8, return_sequences=sequences)
    return keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(vocab, 8),
                             keras.layers.Bidirectional(rnn) if bidirectional else rnn,
                             keras.layers.Dense(vocab)])


def test_charrnn_checks():
    keras.utils.set_random_seed(0)
    model = checks.charrnn_model(lambda vocab, n_cells, n_layers: _char_model(vocab), 11, 8, 1)
    with fails("looks ahead"):
        checks.charrnn_model(given(_char_model(11, bidirectional=True)), 11, 8, 1)
    with fails(r"return_sequences=True"):
        checks.charrnn_model(given(_char_model(11, sequences=False)), 11, 8, 1)

    checks.clipping(lambda grads: [tf.clip_by_value(g, -5, 5) for g in grads])
    checks.clipping(lambda grads: tf.clip_by_global_norm(grads, 5.0)[0])
    with fails("came back unchanged"):
        checks.clipping(lambda grads: grads)

    checks.sampling(lambda p, rng: np.array([rng.choice(p.shape[1], p=row) for row in p]))
    with fails("that is greedy decoding"):
        checks.sampling(lambda p, rng: np.argmax(p, axis=1))
    with fails("probability 0 was drawn"):
        checks.sampling(lambda p, rng: rng.integers(0, p.shape[1], len(p)))

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    opt = keras.optimizers.Adam(1e-2)

    def step(x, y, apply=True):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        if apply:
            opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    checks.train_step(step, 11)
    with fails("did not fall"):
        checks.train_step(lambda x, y: step(x, y, apply=False), 11)
    with fails(r"far from ln\(11\)"):
        checks.train_step(lambda x, y: 10 * step(x, y), 11)
