"""VAE-GAN: a variational auto-encoder whose reconstruction error is measured in a GAN
discriminator's features (Larsen et al. 2016, "Autoencoding beyond pixels using a learned
similarity metric").

    python -m libs.vaegan train  --data faces|celeb|DIR --ckpt DIR [--steps N] [--seconds S] ...
    python -m libs.vaegan sample --ckpt DIR [--n 64] --out DIR
    python -m libs.vaegan eval   --ckpt DIR --data faces|celeb|DIR [--n 1000]

From Python (a notebook):

    model, history = vaegan.train("faces", "checkpoints/vaegan", seconds=60)   # resumable
    vaegan.reconstruct(model, faces)              # (N, S, S, C) in [-1, 1], through z's mean
    utils.montage(vaegan.real_and_reconstructed(model, faces[:32]), value_range=(-1, 1))
    vaegan.interpolate(model, faces[0], faces[1])  # decoded slerp between two encoded faces
    vaegan.evaluate(model, "faces")               # {"reconstruction_mse": ..., "swd_x1e3": ...}

Three networks: the encoder Enc (x -> mean and log-variance of q(z|x), n_latent values), the
decoder Dec = `gan.generator` (z -> x in [-1, 1]) and the discriminator Dis = `gan.discriminator`,
read at two places: its logit D(x) and Dis_l(x), the output of its last convolutional block.
With z ~ q(z|x), x_tilde = Dec(z) and x_p = Dec(z_p) for z_p ~ N(0, I), the losses (section 2) are

    L_prior = KL(q(z|x) || N(0, I))                        summed over z, batch mean
    L_llike = 0.5 * ||Dis_l(x) - Dis_l(x_tilde)||^2         -log of a unit Gaussian in Dis_l space
    L_GAN   = log D(x) + log(1 - D(x_p)) + log(1 - D(x_tilde))

Enc minimises L_prior + L_llike; Dec minimises gamma * L_llike - L_GAN, here in the
non-saturating form gamma * L_llike - log D(x_p) - log D(x_tilde); Dis maximises L_GAN (it
minimises the three cross-entropies, `gan.discriminator_loss`). Each has its own Adam.

Why a learned similarity: pixel-wise L2 is the log-likelihood of a Gaussian around each pixel,
so a VAE that is unsure where an edge goes pays least by predicting the average of the places,
a blur. Dis_l is trained to tell real images from decoded ones, so its features respond to what
makes images look real (edges, texture, parts) and are tolerant to small shifts; an error there
penalises a blur that L2 would accept, and reconstructions come out sharper.

The original course built it in its homework (part 1) in TensorFlow 1: variable scopes of
`utils.conv2d` layers, variables picked by name prefix, three `minimize` ops, updates gated by an
equilibrium margin of 0.4, gamma 0.75. The lecture (notebooks/lecture-5.ipynb, "VAE-GAN") shows
it beside this form and says where this one differs.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np

import tensorflow as tf
import keras
from keras import layers

from . import arguments, checkpoints, commands, gan, images, latents, paths, training, utils
from .arguments import check_int, check_positive
from .callbacks import History
from .dataset_utils import EpochBatches

MODEL_NAME = "vaegan"
# The demo's budget (make demo, the benchmark's quality figure): train(data, ckpt, **DEMO), about
# two minutes on 2 CPU cores.
DEMO = dict(image_size=32, n_features=32, steps=300, montage_every=25)


# ---------------------------------------------------------------------------- configuration

@dataclasses.dataclass
class VAEGANConfig:
    """Everything needed to rebuild a VAE-GAN; stored as JSON in the checkpoint folder.

    image_size: a power of two >= 16; channels (1 or 3) come from the data. n_features: maps
    of the first convolution of encoder and discriminator (doubling per layer; the decoder
    mirrors it, as `gan.generator`). learning_rate: encoder and decoder; d_learning_rate:
    discriminator. gamma: the decoder's weight of content (L_llike) against style (L_GAN).

    Measured on 2 shared CPU cores, 60 s (~100 steps) on the embedded faces at the defaults:
    gamma 0.01 / 0.1 / 1.0 gave reconstruction_mse 0.039 / 0.016 / 0.015 (the mean face: 0.032)
    and swd_x1e3 124 / 94 / 91 (190 untrained). At 0.01 L_GAN drowns the content signal and
    reconstructions are noise; 0.1 keeps both in play.
    """
    image_size: int = 32
    channels: int = 1
    n_latent: int = 100
    n_features: int = 32
    batch_size: int = 64
    learning_rate: float = 3e-4
    d_learning_rate: float = 3e-4
    beta1: float = 0.5
    gamma: float = 0.1
    seed: int = 0

    def __post_init__(self):
        # The decoder and discriminator are the GAN's, so the GAN's config checks their settings.
        shared = self.gan_config()
        for name in ("image_size", "channels", "n_latent", "n_features", "batch_size", "seed"):
            setattr(self, name, getattr(shared, name))
        for name in ("learning_rate", "d_learning_rate"):
            setattr(self, name, check_positive(name, getattr(self, name), arguments.LEARNING_RATE_MAX))
        self.gamma = check_positive("gamma", self.gamma)
        if isinstance(self.beta1, bool) or not isinstance(self.beta1, (int, float)) \
                or not 0 <= self.beta1 < 1:
            raise ValueError(f"beta1 must be in [0, 1), got {self.beta1!r}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)

    def gan_config(self) -> gan.GANConfig:
        """The GANConfig the decoder and discriminator are built from (convolutional)."""
        return gan.GANConfig(image_size=self.image_size, channels=self.channels,
                             n_latent=self.n_latent, n_features=self.n_features,
                             batch_size=self.batch_size, seed=self.seed)


Config = VAEGANConfig  # the name every model module gives its config (training's contract)

# ---------------------------------------------------------------------------- networks

def encoder(config: VAEGANConfig, fast: bool = True) -> keras.Model:
    """Images (B, S, S, C) in [-1, 1] -> (mean, log_var), each (B, n_latent).

    The discriminator's layout (5x5 stride-2 convolutions from n_features maps, doubling down
    to 4x4, batch norm after the first) with ReLU, as the paper's encoder, then one dense layer.
    """
    conv, _, norm = gan.layer_kinds(fast)
    x = keras.Input(config.image_shape, name="images")
    h = x
    for i in range(int(math.log2(config.image_size)) - 2):  # (B, S / 2^(i+1), ., f * 2^i)
        h = conv(config.n_features << i, 5, strides=2, padding="same", use_bias=i == 0,
                 name=f"enc{i}")(h)
        if i:
            h = norm(momentum=gan.BN_MOMENTUM, name=f"enc_bn{i}")(h)
        h = layers.ReLU()(h)
    h = layers.Flatten()(h)
    # float32 even under a mixed precision policy: the KL term and the latents are computed from them
    mean = layers.Dense(config.n_latent, dtype="float32", name="mean")(h)
    log_var = layers.Dense(config.n_latent, dtype="float32", name="log_var")(h)
    return keras.Model(x, [mean, log_var], name="encoder")


def discriminator(config: VAEGANConfig, fast: bool = True) -> keras.Model:
    """Images (B, S, S, C) -> (logits (B, 1), Dis_l features (B, 4, 4, n_features * S / 8)):
    `gan.discriminator`, also exposing the output of its last convolutional block (the input
    of its Flatten layer), the paper's Dis_l. Same layers, same variables."""
    d = gan.discriminator(config.gan_config(), fast)
    flatten = next(layer for layer in d.layers if isinstance(layer, layers.Flatten))
    return keras.Model(d.input, [d.output, flatten.input], name="discriminator")


# ---------------------------------------------------------------------------- losses

def kl_prior(mean: tf.Tensor, log_var: tf.Tensor) -> tf.Tensor:
    """L_prior: KL(N(mean, exp(log_var)) || N(0, I)) summed over z, averaged over the batch."""
    kl = 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(log_var) - 1.0 - log_var, axis=-1)
    return tf.reduce_mean(kl)


def feature_loss(real_features: tf.Tensor, fake_features: tf.Tensor) -> tf.Tensor:
    """L_llike: 0.5 * squared distance in Dis_l space, summed per image, averaged over the batch
    (-log N(Dis_l(x) | Dis_l(x_tilde), I) up to a constant)."""
    d = tf.reshape(real_features - fake_features, [tf.shape(real_features)[0], -1])
    return tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(d), axis=-1))


# ---------------------------------------------------------------------------- the model

LOSSES = (("encoder", "enc_loss"), ("decoder", "dec_loss"), ("discriminator", "gan_loss"))


class VAEGAN:
    """Encoder, decoder, discriminator (with features), three Adams and the train step.

    `train_step(images)` trains on one batch (B, S, S, C) of float images in 0-255 and returns
    scalar tensors: prior_loss (KL), llike_loss, gan_loss (-L_GAN, the discriminator's
    cross-entropies), g_loss (the decoder's non-saturating GAN part), enc_loss, dec_loss.
    With a `strategy` the variables are built under it and the step is left for
    `training.fit` to compile around `strategy.run`, as `gan.GAN`. path: "stock", "fast",
    "xla", "auto" or None (the library's default), and precision: "fp32", "bf16", "fp16" (mixed,
    with loss scaling), "auto" or None, as `gan.GAN` (timed on this model's own step; the
    losses are float32 in every precision); `fast=True/False` is the older spelling of
    path="fast"/"stock".
    """

    def __init__(self, config: VAEGANConfig | None = None, *, path: str | None = None,
                 precision: str | None = None, fast: bool | None = None, strategy=None):
        self.config = config = config if config is not None else VAEGANConfig()
        if fast is not None:
            if path is not None:
                raise ValueError(f"give path or fast, not both (path={path!r}, fast={fast!r})")
            path = "fast" if fast else "stock"
        self.path, self.precision = gan.speed_settings(
            config, path, precision, build=lambda p, q: VAEGAN(config, path=p, precision=q),
            name="VAE-GAN", distributed=strategy is not None)  # as gan.GAN
        fast = self.path != "stock"
        with (strategy or tf.distribute.get_strategy()).scope(), \
                paths.precision_scope(self.precision):
            self.encoder = encoder(config, fast)
            self.decoder = gan.generator(config.gan_config(), fast)
            self.discriminator = discriminator(config, fast)
            # The checkpoint keeps the Adams; with fp16 the step applies them through Keras's
            # LossScaleOptimizer (float16 gradients underflow), as gan.GAN does.
            self.optimizers, self._apply = {}, {}
            for name, lr in (("encoder", config.learning_rate), ("decoder", config.learning_rate),
                             ("discriminator", config.d_learning_rate)):
                self.optimizers[name] = opt = keras.optimizers.Adam(lr, beta_1=config.beta1)
                self._apply[name] = keras.optimizers.LossScaleOptimizer(opt) \
                    if self.precision == "fp16" else opt
                self._apply[name].build(getattr(self, name).trainable_variables)
            # Noise from a checkpointed generator: a resumed run draws what an uninterrupted
            # one would (under a strategy, each replica its own stream).
            self.rng = tf.random.Generator.from_seed(config.seed)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.train_step = self._train_step if strategy is not None else tf.function(self._train_step)
        # Path "xla": XLA compiles all but the draw of the noise, as in `gan.GAN`.
        self._update = tf.function(self._update_step, jit_compile=True) if self.path == "xla" \
            else self._update_step

    def trackables(self) -> dict:
        """What a checkpoint holds: the networks, their optimizers, the RNG and `step`."""
        return dict(step=self.step, encoder=self.encoder, decoder=self.decoder,
                    discriminator=self.discriminator, rng=self.rng,
                    **{f"{k}_optimizer": v for k, v in self.optimizers.items()})

    def noise(self, batch) -> tuple[tf.Tensor, tf.Tensor]:
        """A batch's noise from the model's generator: that of the reparameterisation and the
        prior's latents, (batch, n_latent) each."""
        shape = tf.stack([batch, self.config.n_latent])
        return self.rng.normal(shape), self.rng.normal(shape)

    def losses(self, real: tf.Tensor, training: bool = True, noise=None) -> dict:
        """The losses of a batch `real` (B, S, S, C) in [-1, 1]; `noise` as `noise()` gives it
        (None: drawn here)."""
        epsilon, z_p = self.noise(tf.shape(real)[0]) if noise is None else noise
        mean, log_var = self.encoder(real, training=training)               # (B, L) each
        z = mean + tf.exp(0.5 * log_var) * epsilon                          # reparameterised
        x_tilde = self.decoder(z, training=training)                        # (B, S, S, C)
        x_p = self.decoder(z_p, training=training)
        # Three calls, not one concatenated batch, so batch norm never mixes real and fake.
        real_logits, real_features = self.discriminator(real, training=training)
        tilde_logits, tilde_features = self.discriminator(x_tilde, training=training)
        p_logits, _ = self.discriminator(x_p, training=training)
        d_real, d_p = gan.discriminator_loss(real_logits, p_logits)
        _, d_tilde = gan.discriminator_loss(real_logits, tilde_logits)
        prior = kl_prior(mean, log_var)
        llike = feature_loss(tf.cast(real_features, tf.float32),          # mixed precision:
                             tf.cast(tilde_features, tf.float32))         # the loss in float32
        g_loss = gan.generator_loss(p_logits) + gan.generator_loss(tilde_logits)
        return dict(prior_loss=prior, llike_loss=llike, gan_loss=d_real + d_p + d_tilde,
                    g_loss=g_loss, enc_loss=prior + llike,
                    dec_loss=self.config.gamma * llike + g_loss)

    def _train_step(self, images):
        return self._update(images, self.noise(tf.shape(images)[0]))

    def _update_step(self, images, noise):
        real = tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0  # 0-255 -> [-1, 1]
        ctx = tf.distribute.get_replica_context()
        n_replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        with tf.GradientTape(persistent=True) as tape:
            metrics = self.losses(real, noise=noise)
            # Optimizers sum gradients over replicas: scale each replica's mean loss.
            scaled = {k: metrics[k] / n_replicas for _, k in LOSSES}
            if self.precision == "fp16":
                scaled = {k: self._apply[name].scale_loss(scaled[k]) for name, k in LOSSES}
        for name, loss in LOSSES:
            variables = getattr(self, name).trainable_variables
            grads = tape.gradient(scaled[loss], variables)
            self._apply[name].apply_gradients(zip(grads, variables))
        del tape
        return metrics


# ---------------------------------------------------------------------------- using a model

def _as_images(model: VAEGAN, images) -> np.ndarray:
    """images (N, S, S, C) or one (S, S, C), 0-255 -> float32 (N, S, S, C) in [-1, 1]."""
    x = np.asarray(images, np.float32)
    x = x[None] if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[1:] != model.config.image_shape:
        raise ValueError(f"images must be (N, {', '.join(map(str, model.config.image_shape))}) "
                         f"in 0-255 for this model, got shape {np.shape(images)}")
    return x * (2.0 / 255.0) - 1.0


def encode(model: VAEGAN, images, batch_size: int = 256) -> np.ndarray:
    """The mean of q(z|x) for images (N, S, S, C) in 0-255: float32 (N, n_latent)."""
    x = _as_images(model, images)
    return np.concatenate([np.asarray(model.encoder(x[i:i + batch_size], training=False)[0])
                           for i in range(0, len(x), batch_size)] or
                          [np.zeros((0, model.config.n_latent), np.float32)])


def decode(model: VAEGAN, z, batch_size: int = 256) -> np.ndarray:
    """Images (N, S, S, C) in [-1, 1] for latents z (N, n_latent)."""
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or z.shape[1] != model.config.n_latent:
        raise ValueError(f"z must have shape (N, {model.config.n_latent}), got {z.shape}")
    return np.concatenate([np.asarray(model.decoder(z[i:i + batch_size], training=False))
                           for i in range(0, len(z), batch_size)] or
                          [np.zeros((0,) + model.config.image_shape, np.float32)])


def reconstruct(model: VAEGAN, images) -> np.ndarray:
    """Dec(mean of Enc(x)) for images in 0-255: (N, S, S, C) in [-1, 1]."""
    return decode(model, encode(model, images))


def real_and_reconstructed(model: VAEGAN, images) -> np.ndarray:
    """images (N, S, S, C) in 0-255 followed by their reconstructions: (2N, S, S, C) in [-1, 1].
    In a montage with N = 2k^2 (8, 18, 32, ...) the top half shows the real images and the
    bottom half, tile for tile, what the model made of them."""
    return np.concatenate([_as_images(model, images), reconstruct(model, images)])


def sample(model: VAEGAN, n: int, *, seed: int | None = None) -> np.ndarray:
    """n new images, uint8 (n, S, S, C), decoded from z ~ N(0, I) drawn from `seed` (None: a
    fresh one); n that would not fit in memory is refused."""
    arguments.check_samples_fit(check_int("n", n, 1), model.config.image_shape)
    z = latents.latent(n, model.config.n_latent, arguments.seed_or_fresh(seed))
    return utils.to_uint8(decode(model, z), (-1, 1))


def interpolate(model: VAEGAN, image_a, image_b, n: int = 8, method: str = "slerp") -> np.ndarray:
    """n images (n, S, S, C) in [-1, 1] between two real ones (0-255): their encodings joined
    by `latents.interpolate`, decoded. The ends are the reconstructions."""
    z = encode(model, np.stack([np.asarray(image_a), np.asarray(image_b)]))
    return decode(model, latents.interpolate(z[0], z[1], check_int("n", n, 2), method))


def evaluate(model: VAEGAN, data="faces", n: int = 1000, seed: int = 0) -> dict:
    """Reconstruction error and sample quality on up to n real images of `data`.

    reconstruction_mse: mean squared pixel error of `reconstruct`, pixels in [0, 1];
    swd_x1e3: `metrics.swd` between the real images and as many samples (lower is better).
    """
    from . import metrics

    n = check_int("n", n, 2)
    cfg = model.config
    source = images.image_source(data, cfg.image_size)
    if source.channels != cfg.channels:
        raise ValueError(f"the VAE-GAN makes {cfg.channels}-channel images but the data have "
                         f"{source.channels} channel(s)")
    real = images.real_images(source, cfg.image_size, n, seed)                 # uint8
    recon = (reconstruct(model, real) + 1.0) / 2.0
    mse = float(np.mean(np.square(recon - real.astype(np.float32) / 255.0)))
    fake = sample(model, len(real), seed=seed + 1)
    return {"reconstruction_mse": round(mse, 5),
            "swd_x1e3": round(metrics.swd(real, fake, seed=seed)["swd_x1e3"], 3),
            "n": len(real), "step": int(model.step.numpy())}


# ---------------------------------------------------------------------------- training

def train(data="faces", ckpt_dir="checkpoints/vaegan", *, steps: int | None = None,
          seconds: float | None = None, strategy=None, callbacks=(), progress: bool = True,
          checkpoint_every: int = 500, montage_every: int = 100, n_montage: int = 32,
          path: str | None = None, precision: str | None = None,
          **settings) -> tuple[VAEGAN, History]:
    """Train (or resume) a VAE-GAN on `data` in `ckpt_dir`; returns (model, history).

    data: "faces", "celeb", a folder of images or an array (N, S, S, C) in 0-255 (see
    `images.image_source`). steps: total step to reach (a second call resumes there);
    seconds: budget of this call. settings: VAEGANConfig fields; a folder being resumed keeps
    its saved config and refuses settings that contradict it. Every `montage_every` steps, `n_montage`
    fixed real images (top half) and their reconstructions (bottom half) go to
    ckpt_dir/progress/ and ckpt_dir/progress.gif. Resume, Ctrl-C, NaN guard, progress bar,
    TensorBoard (ckpt_dir/logs), callbacks and `strategy` are `training.fit`'s. path,
    precision: `VAEGAN`'s (speed only; not saved).
    """
    ckpt_dir = training.worker_folder(ckpt_dir, strategy)  # not the chief: a temporary copy
    source = images.training_images(data, ckpt_dir, MODEL_NAME, "VAE-GAN", VAEGANConfig,
                                    settings.get("image_size"))
    cfg = checkpoints.resume_config(ckpt_dir, MODEL_NAME, "VAE-GAN", VAEGANConfig, settings,
                                    {"channels": source.channels})
    batches = EpochBatches(images.epoch_batches(source, cfg.batch_size,
                                                         cfg.image_size, cfg.seed))
    keras.utils.set_random_seed(cfg.seed)  # the initial weights
    model = VAEGAN(cfg, path=path, precision=precision, strategy=strategy)
    shown = images.real_images(source, cfg.image_size, check_int("n_montage", n_montage, 1),
                               cfg.seed)
    frames = gan.ProgressFrames(lambda: real_and_reconstructed(model, shown),
                                ckpt_dir / "progress", montage_every)
    history = training.fit(model.train_step, batches, ckpt_dir,
                           {**model.trackables(), "data": batches}, model_name=MODEL_NAME,
                           config=dataclasses.asdict(cfg), steps=steps, seconds=seconds,
                           checkpoint_every=checkpoint_every, callbacks=[frames, *callbacks],
                           strategy=strategy, progress=progress,
                           guard=["enc_loss", "dec_loss", "gan_loss"])
    return model, history


def load(ckpt_dir) -> VAEGAN:
    """The VAE-GAN of the latest checkpoint in `ckpt_dir`, rebuilt from its config.json;
    `restored_from` says which checkpoint was read."""
    ckpt_dir = Path(ckpt_dir)
    cfg = checkpoints.load_config(ckpt_dir, MODEL_NAME, "VAE-GAN", VAEGANConfig)
    # The layers timed for training if any; nothing is timed here.
    model = VAEGAN(cfg, path=gan.speed_settings(cfg, None, "fp32", name="VAE-GAN", measure=False)[0],
                   precision="fp32")
    model.restored_from = checkpoints.restore(ckpt_dir, "VAE-GAN",
                                              **checkpoints.weights(model.trackables()))
    return model


# ---------------------------------------------------------------------------- command line

def main(argv=None) -> int:
    parser, train_parser, _, _ = commands.model_parser(
        "python -m libs.vaegan", "Train a VAE-GAN, sample from it, evaluate it.", VAEGANConfig,
        {"help": "faces, celeb or a folder of images"},
        sample_help="write generated images", eval_help="reconstruction error and SWD",
        eval_min_n=2)
    train_parser.add_argument("--montage-every", type=arguments.arg_int(1), default=100,
                              help="steps between progress montages (real over reconstructed)")
    speed = commands.speed_flags(train_parser)
    return commands.run_command(parser, argv, commands.image_commands(
        sys.modules[__name__], ("enc_loss", "dec_loss", "gan_loss"),
        train_flags=("montage_every", *speed)))

if __name__ == "__main__":
    raise SystemExit(main())
