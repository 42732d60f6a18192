"""The homework's self-checks pass the library's own answers and catch the typical mistakes,
each with its own message."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from libs import charrnn, checks, dataset_utils, datasets, gan, latents, utils, vaegan
from libs.text import Vocabulary

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
                        (checks.train_step, (11,)), (checks.manifold, ()),
                        (checks.input_pipeline, (["a.png"], 16, 1)),
                        (checks.encoder, (16, 1, 4, 8)), (checks.vaegan_losses, (None,)),
                        (checks.vaegan_step, (None, None, None, None)),
                        (checks.priming, (None, ["ab"])), (checks.slerp, ()),
                        (checks.add_attribute, ()), (checks.vocabulary, ("ab",))]:
        with fails(r"is not written yet: put your code in place of `raise NotImplementedError\(\)`"):
            check(not_written, *args)


def test_discriminator_check():
    D = checks.discriminator(lambda size, channels, n: gan.discriminator(
        gan.GANConfig(image_size=size, channels=channels, n_features=n)), 16, 1, 4)
    assert D.output_shape == (None, 1)
    keras.utils.set_random_seed(0)
    with_sigmoid = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
                                     keras.layers.Dense(1, activation="sigmoid")])
    with fails("D ends with a sigmoid"):
        checks.discriminator(given(with_sigmoid), 16, 1, 4)
    sigmoid_layer = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
                                      keras.layers.Dense(1), keras.layers.Activation("sigmoid")])
    with fails("D ends with a sigmoid"):
        checks.discriminator(given(sigmoid_layer), 16, 1, 4)
    no_flatten = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Dense(1)])
    with fails(r"one logit per image, shape \(4, 1\).*gave \(4, 16, 16, 1\)"):
        checks.discriminator(given(no_flatten), 16, 1, 4)
    with fails("should be a keras.Model"):
        checks.discriminator(given(lambda x: x), 16, 1, 4)
    fixed = gan.discriminator(gan.GANConfig(image_size=16, channels=1, n_features=4))
    with fails(r"D = build_discriminator\(32, 3, 4\), given 2 images of 32x32x3, raised "
               r"ValueError .* instead of \(2, 1\): build D for the image_size and channels"):
        checks.discriminator(given(fixed), 16, 1, 4)            # written for 16x16x1 only
    narrow = lambda size, channels, n: gan.discriminator(gan.GANConfig(       # noqa: E731
        image_size=size, channels=channels, n_features=4))             # n_features fixed
    with fails(r"D = build_discriminator\(16, 1, 16\) has no more weights than with "
               r"n_features = 8: let n_features set how many maps its convolutions have"):
        checks.discriminator(narrow, 16, 1, 8)


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
    sized = lambda n_latent, size, channels, n: gan.generator(gan.GANConfig(   # noqa: E731
        n_latent=n_latent, image_size=16, channels=1, n_features=n))   # image_size, channels fixed
    with fails(r"G = build_generator\(9, 32, 3, 4\), given 2 latents, gave \(2, 16, 16, 1\) "
               r"instead of \(2, 32, 32, 3\): build G for the n_latent, image_size and channels"):
        checks.generator(sized, 8, 16, 1, 4)
    narrow = lambda n_latent, size, channels, n: gan.generator(gan.GANConfig(   # noqa: E731
        n_latent=n_latent, image_size=size, channels=channels, n_features=4))
    with fails(r"G = build_generator\(8, 16, 1, 16\) has no more weights"):
        checks.generator(narrow, 8, 16, 1, 8)


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

    def step(images, training=True, train_g=True, g_loss_in_tape=True):
        z = tf.random.normal([4, CONFIG.n_latent])
        with tf.GradientTape(persistent=True) as tape:
            fake = G(z, training=training)
            d_real, d_fake = gan.discriminator_loss(D(images, training=training),
                                                    D(fake, training=training))
            if g_loss_in_tape:
                g_loss = gan.generator_loss(D(fake, training=training))
            d_loss = d_real + d_fake
        if not g_loss_in_tape:
            g_loss = gan.generator_loss(D(fake, training=training))   # the tape saw none of it
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
    with fails(r"gan_step\(real\) has no gradients to apply: compute the loss inside "
               r"the GradientTape's `with` block"):
        checks.gan_step(lambda x: step(x, g_loss_in_tape=False), D, G, real)
    with fails("is not written yet"):
        checks.gan_step(not_written, D, G, real)


def _char_model(vocab, bidirectional=False, sequences=True, n_cells=8, n_layers=1,
                activation=None):
    rnns = [keras.layers.GRU(n_cells, return_sequences=sequences) for _ in range(n_layers)]
    if bidirectional:
        rnns = [keras.layers.Bidirectional(rnn) for rnn in rnns]
    return keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(vocab, 8),
                             *rnns, keras.layers.Dense(vocab, activation=activation)])


def test_charrnn_checks():
    keras.utils.set_random_seed(0)
    model = checks.charrnn_model(lambda vocab, n_cells, n_layers: _char_model(
        vocab, n_cells=n_cells, n_layers=n_layers), 11, 8, 1)
    with fails("looks ahead"):
        checks.charrnn_model(given(_char_model(11, bidirectional=True)), 11, 8, 1)
    with fails(r"return_sequences=True"):
        checks.charrnn_model(given(_char_model(11, sequences=False)), 11, 8, 1)
    two = checks.charrnn_model(lambda vocab, n_cells, n_layers: _char_model(
        vocab, n_cells=n_cells, n_layers=n_layers), 11, 8, 2)
    assert len(two.layers) == 4                               # embedding, 2 GRUs, dense
    with fails(r"has 1 recurrent layer\(s\): stack n_layers of them, whatever n_layers is"):
        checks.charrnn_model(lambda vocab, n_cells, n_layers: _char_model(vocab, n_cells=n_cells),
                             11, 8, 1)                        # n_layers ignored: 1 always
    with fails(r"layers of 8 cells: give each n_cells"):
        checks.charrnn_model(lambda vocab, n_cells, n_layers: _char_model(
            vocab, n_layers=n_layers), 11, 8, 1)              # n_cells ignored: 8 always
    stacked = checks.charrnn_model(lambda vocab, n_cells, n_layers: keras.Sequential([
        keras.Input((None,), dtype="int32"), keras.layers.Embedding(vocab, 8),
        keras.layers.RNN([keras.layers.LSTMCell(n_cells) for _ in range(n_layers)],
                         return_sequences=True),                # TF1's MultiRNNCell
        keras.layers.Dense(vocab)]), 11, 8, 2)
    assert len(stacked.layers) == 3
    with fails("ends with a softmax"):
        checks.charrnn_model(given(_char_model(11, activation="softmax")), 11, 8, 1)
    with fails("ends with a softmax"):                        # the softmax as a layer of its own
        checks.charrnn_model(given(keras.Sequential([_char_model(11), keras.layers.Softmax()])),
                             11, 8, 1)

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

    @tf.function  # as the exercise's; eagerly, a step of Keras's GRU takes 0.4 s
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


def test_input_pipeline_check(tmp_path):
    files = datasets.face_files(tmp_path)

    def batches(files, batch_size, image_size, crop_factor, **kwargs):
        return dataset_utils.create_input_pipeline(
            files, batch_size, 1, crop_shape=(image_size, image_size), crop_factor=crop_factor,
            **kwargs)

    checks.input_pipeline(batches, files, 16, 1)
    with fails("in the order of the files: shuffle"):
        checks.input_pipeline(lambda *a: batches(*a, shuffle=False), files, 16, 1)
    with fails("central 80%"):
        checks.input_pipeline(lambda f, b, s, c: batches(f, b, s, 1.0), files, 16, 1)
    with fails("0-255"):
        checks.input_pipeline(lambda *a: batches(*a).map(lambda x: x / 255.0), files, 16, 1)
    with fails(r"has shape \(8, 8, 8, 1\), expected \(8, 16, 16, 1\)"):
        checks.input_pipeline(lambda f, b, s, c: batches(f, b, 8, c), files, 16, 1)
    with fails("each of the 32 files once; it gave 64"):
        checks.input_pipeline(lambda *a: batches(*a).repeat(2), files, 16, 1)
    with fails("return the tf.data.Dataset"):
        checks.input_pipeline(lambda *a: list(batches(*a)), files, 16, 1)


def test_manifold_check():
    checks.manifold(latents.manifold)
    with fails("transposed"):
        checks.manifold(lambda c, n: latents.manifold(c[[0, 2, 1, 3]], n))
    with fails(r"n \* n = 25 latents"):
        checks.manifold(lambda c, n: latents.manifold(c, n)[:n])
    with fails("first and last latents should be corners"):
        checks.manifold(lambda c, n: latents.manifold(c, n + 1).reshape(n + 1, n + 1, -1)
                        [:n, :n].reshape(n * n, -1))


def test_encoder_check():
    E = checks.encoder(lambda s, c, n, latent: vaegan.encoder(vaegan.VAEGANConfig(
        image_size=s, channels=c, n_features=n, n_latent=latent)), 16, 1, 4, 8)
    assert [tuple(o.shape) for o in E.outputs] == [(None, 8), (None, 8)]
    x = keras.Input((16, 16, 1))
    h = keras.layers.Flatten()(x)
    one = keras.layers.Dense(8)(h)
    with fails("the same: give each its own Dense"):
        checks.encoder(given(keras.Model(x, [one, one])), 16, 1, 4, 8)
    with fails("log_var is never negative"):
        checks.encoder(given(keras.Model(x, [one, keras.layers.Dense(8, activation="softplus")(h)])),
                       16, 1, 4, 8)
    with fails(r"two outputs, \[mean, log_var\]"):
        checks.encoder(given(keras.Model(x, one)), 16, 1, 4, 8)
    fixed = lambda s, c, n, latent: vaegan.encoder(vaegan.VAEGANConfig(   # noqa: E731
        image_size=s, channels=c, n_features=n, n_latent=8))          # n_latent fixed at 8
    with fails(r"E = build_encoder\(32, 3, 4, 9\), given 2 images of 32x32x3, gave "
               r"\(\(2, 8\), \(2, 8\)\) instead of \(\(2, 9\), \(2, 9\)\): build E for the "
               r"image_size, channels and n_latent"):
        checks.encoder(fixed, 16, 1, 4, 8)
    narrow = lambda s, c, n, latent: vaegan.encoder(vaegan.VAEGANConfig(   # noqa: E731
        image_size=s, channels=c, n_features=4, n_latent=latent))
    with fails(r"E = build_encoder\(16, 1, 16, 8\) has no more weights"):
        checks.encoder(narrow, 16, 1, 8, 8)


def _vaegan_losses(prior, llike, real, tilde, fake, gamma):
    d_real, d_fake = gan.discriminator_loss(real, fake)
    d_tilde = gan.discriminator_loss(real, tilde)[1]
    g_loss = gan.generator_loss(fake) + gan.generator_loss(tilde)
    return prior + llike, gamma * llike + g_loss, d_real + d_fake + d_tilde


def test_vaegan_losses_check():
    checks.vaegan_losses(vaegan.feature_loss, _vaegan_losses)
    with fails("twice the expected"):
        checks.vaegan_losses(lambda a, b: 2 * vaegan.feature_loss(a, b), _vaegan_losses)
    with fails("averaged over the features"):
        checks.vaegan_losses(lambda a, b: tf.reduce_mean(0.5 * tf.square(a - b)), _vaegan_losses)

    def mistake(which):
        def losses(prior, llike, real, tilde, fake, gamma):
            enc, dec, dis = _vaegan_losses(prior, llike, real, tilde, fake, gamma)
            d_real, d_fake = gan.discriminator_loss(real, fake)
            return {"gamma on the encoder": (prior + gamma * llike, dec, dis),
                    "two terms for D": (enc, dec, d_real + d_fake),
                    "saturating": (enc, gamma * llike - dis, dis),
                    "no gamma": (enc, llike + dec - gamma * llike, dis)}[which]
        return losses

    with fails("gamma weighs the encoder's feature loss"):
        checks.vaegan_losses(vaegan.feature_loss, mistake("gamma on the encoder"))
    with fails("misses one kind of fake"):
        checks.vaegan_losses(vaegan.feature_loss, mistake("two terms for D"))
    with fails("saturating form"):
        checks.vaegan_losses(vaegan.feature_loss, mistake("saturating"))
    with fails("not weighted"):
        checks.vaegan_losses(vaegan.feature_loss, mistake("no gamma"))


def _make_vaegan_step(E, G, D, gamma, margin, gate=True, shared=False, training=True):
    """A right VAE-GAN step, or one with a typical mistake."""
    optimizers = [keras.optimizers.Adam(1e-3, beta_1=0.5) for _ in range(3)]
    if shared:
        optimizers = optimizers[:1] * 3

    def step(real):
        with tf.GradientTape(persistent=True) as tape:
            mean, log_var = E(real, training=training)
            z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
            x_tilde, x_p = G(z, training=training), G(tf.random.normal(tf.shape(mean)),
                                                     training=training)
            (real_logits, real_f), (tilde_logits, tilde_f) = D(real), D(x_tilde)
            p_logits = D(x_p)[0]
            enc, dec, dis = _vaegan_losses(vaegan.kl_prior(mean, log_var),
                                           vaegan.feature_loss(real_f, tilde_f), real_logits,
                                           tilde_logits, p_logits, gamma)
            d_real, d_fake = gan.discriminator_loss(real_logits, p_logits)
        update_g, update_d = gan.equilibrium_updates(d_real, d_fake, margin)
        for net, loss, opt, gate_open in ((E, enc, optimizers[0], True),
                                          (G, dec, optimizers[1], update_g or not gate),
                                          (D, dis, optimizers[2], update_d or not gate)):
            if gate_open:
                opt.apply_gradients(zip(tape.gradient(loss, net.trainable_variables),
                                        net.trainable_variables))
        return dict(enc_loss=enc, dec_loss=dec, dis_loss=dis, d_real=d_real, d_fake=d_fake,
                    update_g=update_g, update_d=update_d)
    return step


def test_vaegan_step_check():
    keras.utils.set_random_seed(0)
    vconfig = vaegan.VAEGANConfig(image_size=16, channels=1, n_features=4, n_latent=8)
    E, G, D = vaegan.encoder(vconfig), gan.generator(vconfig.gan_config()), vaegan.discriminator(vconfig)
    real = tf.random.stateless_uniform((4, 16, 16, 1), (7, 8), -1, 1)
    checks.vaegan_step(_make_vaegan_step, E, G, D, real)
    with fails("applies one optimizer to two networks"):
        checks.vaegan_step(lambda *a: _make_vaegan_step(*a, shared=True), E, G, D, real)
    with fails("learned in a step whose gate was closed"):
        checks.vaegan_step(lambda *a: _make_vaegan_step(*a, gate=False), E, G, D, real)
    with fails("should return a dict"):
        checks.vaegan_step(lambda *a: lambda real: 0.0, E, G, D, real)


def test_priming_check():
    keras.utils.set_random_seed(0)
    vocab = Vocabulary.from_text("the cat sat on the mat and the hat ")
    model = charrnn.CharRNN(charrnn.CharRNNConfig(n_cells=8, n_layers=2), vocab)
    primes = ["the cat", "on the ", "hat and"]

    def read(model, primes, upto=-1, carry=True):
        ids = np.array([model.vocab.encode(p) for p in primes])
        states = None
        for column in ids.T[:upto] if upto else ids.T:
            _, new = model.advance(tf.constant(column), states)
            states = new if carry else states
        return states, ids[:, -1]

    checks.priming(read, model, primes)
    with fails("read the last character too"):
        checks.priming(lambda m, p: read(m, p, upto=None), model, primes)
    with fails("where they started"):
        checks.priming(lambda m, p: (read(m, p, carry=False)[0] or m.initial_states(3),
                                     read(m, p)[1]), model, primes)
    with fails(r"should hold 3 streams, one per prime; they hold \[1\]"):
        checks.priming(lambda m, p: read(m, p[:1])[:1] + (read(m, p)[1],), model, primes)
    with fails("the last ids should be one per prime"):
        checks.priming(lambda m, p: (read(m, p)[0], read(m, p)[1][:1]), model, primes)


def test_gan_and_vae_formula_checks():
    checks.equilibrium(gan.equilibrium_updates)
    with fails("the two answers are swapped"):
        checks.equilibrium(lambda r, f, m: gan.equilibrium_updates(r, f, m)[::-1])
    with fails("both when the rule would stop both"):
        checks.equilibrium(lambda r, f, m: (r <= np.log(2) + m, r >= np.log(2) - m))
    checks.reparameterize(lambda mean, log_var, eps: mean + tf.exp(0.5 * log_var) * eps)
    with fails("scaled by the variance"):
        checks.reparameterize(lambda mean, log_var, eps: mean + tf.exp(log_var) * eps)
    checks.kl_prior(vaegan.kl_prior)
    with fails("wrong sign"):
        checks.kl_prior(lambda mean, log_var: -vaegan.kl_prior(mean, log_var))
    with fails("averaged over the latent's dimensions"):
        checks.kl_prior(lambda mean, log_var: vaegan.kl_prior(mean, log_var) / 3)
    assert checks.attribute_vector(latents.attribute_vector) is latents.attribute_vector
    with fails("points away from the attribute"):
        checks.attribute_vector(lambda a, b: latents.attribute_vector(b, a))
    with fails(r"one latent, shape \(4,\)"):
        checks.attribute_vector(lambda a, b: a[:3] - b)


def test_gif_check(tmp_path):
    from libs import gif

    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 8), dtype=np.uint8)
    checks.gif(lambda path: gif.build_gif(frames, saveto=path), str(tmp_path / "a.gif"))
    with fails("no file was written"):
        checks.gif(lambda path: None, str(tmp_path / "b.gif"))
    with fails("has 1 frame"):
        checks.gif(lambda path: gif.build_gif(frames[:1], saveto=path), str(tmp_path / "c.gif"))
    (tmp_path / "d.gif").write_text("not a gif")
    with fails("cannot be read back"):
        checks.gif(lambda path: None, str(tmp_path / "d.gif"))


def test_decoding_checks():
    keras.utils.set_random_seed(0)
    vocab = Vocabulary.from_text("the cat sat on the mat and the hat ")
    model = charrnn.CharRNN(charrnn.CharRNNConfig(n_cells=8, n_layers=1), vocab)

    def greedy(model, prime, n, carry=True):
        ids = model.vocab.encode(prime)
        states = None
        for i in ids[:-1]:
            _, states = model.advance(tf.constant([i]), states)
        current, text = ids[-1], ""
        for _ in range(n):
            logits, new = model.advance(tf.constant([current]), states)
            states = new if carry else states
            current = int(tf.argmax(logits[0]))
            text += model.vocab.decode([current])
        return text

    checks.greedy(greedy, model, "the ")
    with fails("differs from the model's at character"):
        checks.greedy(lambda m, p, n: greedy(m, p, n, carry=False), model, "the cat ")
    with fails("should return the 30 new characters"):
        checks.greedy(lambda m, p, n: p + greedy(m, p, n), model, "the ")
    checks.temperature(lambda logits, t: tf.nn.softmax(logits / t))
    with fails("multiplied by the temperature"):
        checks.temperature(lambda logits, t: tf.nn.softmax(logits * t))
    with fails("each row should sum to 1"):
        checks.temperature(lambda logits, t: tf.exp(logits / t))


def test_an_error_in_the_students_code_names_its_line(tmp_path):
    cell = tmp_path / "ipykernel_7" / "cell.py"     # where ipykernel keeps a cell's code
    cell.parent.mkdir()
    cell.write_text("def build(*args):\n    return 1 / 0\n")
    namespace = {}
    exec(compile(cell.read_text(), str(cell), "exec"), namespace)
    with fails(r"raised ZeroDivisionError \(line 2 of your cell: `return 1 / 0`\): division"):
        checks.discriminator(namespace["build"], 16, 1, 4)
    cell.write_text("def build(*args):\n    return tf.gather(tf.zeros([3]), [5])\n")
    namespace = {"tf": tf}
    exec(compile(cell.read_text(), str(cell), "exec"), namespace)
    with fails(r"raised InvalidArgumentError \(line 2 of your cell: `return tf.gather\(tf.zeros"
               r"\(\[3\]\), \[5\]\)`\): indices\[0\] = 5 is not in \[0, 3\)$"):
        checks.discriminator(namespace["build"], 16, 1, 4)      # TensorFlow's op names left out
    # Jupyter shows a failed check as its message alone, in red
    assert checks.CheckFailed("x")._render_traceback_() == ["\x1b[31mCheckFailed\x1b[39m: x"]


@pytest.mark.parametrize("mistake, raised, message", [
    ("[:, :, :5]", "InvalidArgumentError", "Received a label value of"),   # in the graph
    ("[:, 0]", "ValueError", "Argument `output` must have rank"),          # while tracing
])
def test_an_error_inside_a_tf_function_names_its_line_not_tensorflows_stack(
        tmp_path, mistake, raised, message):
    cell = tmp_path / "ipykernel_8" / "cell.py"
    cell.parent.mkdir()
    cell.write_text(
        "@tf.function\n"
        "def train_step(x, y):\n"
        "    with tf.GradientTape() as tape:\n"
        f"        loss = loss_fn(y, model(x, training=True){mistake})\n"
        "    grads = tape.gradient(loss, model.trainable_variables)\n"
        "    optimizer.apply_gradients(zip(grads, model.trainable_variables))\n"
        "    return loss\n")
    namespace = {"tf": tf, "model": _char_model(11), "optimizer": keras.optimizers.Adam(),
                 "loss_fn": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
    exec(compile(cell.read_text(), str(cell), "exec"), namespace)
    with pytest.raises(checks.CheckFailed) as failed:
        checks.train_step(namespace["train_step"], 11)
    text = str(failed.value)
    line = f"loss = loss_fn(y, model(x, training=True){mistake})"
    assert text.startswith(f"train_step(x, y) raised {raised} (line 4 of your cell: `{line}`): "
                           f"{message}"), text
    assert "File " not in text and "{{node" not in text and "\n" not in text, text


def test_latent_arithmetic_checks():
    checks.slerp(lambda z0, z1, t: utils.slerp(t, z0, z1))
    with fails("that is the straight line"):
        checks.slerp(lambda z0, z1, t: (1 - t) * z0 + t * z1)
    with fails("runs from z1 to z0"):
        checks.slerp(lambda z0, z1, t: utils.slerp(t, z1, z0))
    assert checks.add_attribute(latents.add_attribute) is latents.add_attribute
    with fails("swapped"):
        checks.add_attribute(lambda z, d, a: latents.add_attribute(d, z, a))
    with fails("one latent per amount"):
        checks.add_attribute(lambda z, d, a: z + d)


def test_vocabulary_check():
    text = "the cat sat on the mat"

    def vocabulary(text, order=sorted):
        chars = order(set(text))
        return chars, {c: i for i, c in enumerate(chars)}

    checks.vocabulary(vocabulary, text)
    with fails("sort the characters"):
        checks.vocabulary(lambda t: vocabulary(t, lambda s: sorted(s, reverse=True)), text)
    with fails("each of the 10 distinct characters once"):
        checks.vocabulary(lambda t: (list(t), {}), text)
    with fails("a dict from each character"):
        checks.vocabulary(lambda t: (sorted(set(t)), list(sorted(set(t)))), text)
