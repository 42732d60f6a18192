"""Generative adversarial networks: DCGAN or fully connected, equilibrium training, CLI.

    python -m libs.gan train  --data faces|celeb|DIR --ckpt DIR [--image-size 32] [--steps N] ...
    python -m libs.gan sample --ckpt DIR [--n 64] --out DIR
    python -m libs.gan eval   --ckpt DIR --data faces|celeb|DIR [--n 1000]

From Python (a notebook):

    model, history = gan.train("faces", "checkpoints/gan", **gan.DEMO)   # resumable
    gan.montage_of(model, latents.latent(64, model.config.n_latent), "samples.png")
    gan.interpolation_gif(model, latents.latent(4, model.config.n_latent), "walk.gif")
    gan.evaluate(model, "faces")                                        # {"swd_x1e3": ...}

The generator maps z ~ N(0, I) of `n_latent` values to images in [-1, 1] (tanh); the
discriminator maps images to one logit. Both are DCGAN-style (Radford et al. 2016): strided 5x5
convolutions, batch norm, ReLU in the generator, leaky ReLU (0.2) in the discriminator. Data come
in 0-255 (as `dataset_utils.create_input_pipeline` yields them) and are scaled inside the step.
Training runs on `training.fit`: resume, Ctrl-C, NaN guard, progress bar, TensorBoard, strategy.

Speed: `path="fast"` builds the networks from `libs.layers`, Keras layers that trained 1.4-1.5x
faster on an AMD EPYC but 6-8% slower on an Intel Xeon (same maths and variables); "stock" builds
Keras's own; "xla" the fast ones with the step compiled by XLA (1.1-1.2x faster again on that
EPYC); "auto" (the default) times the three once per machine and shape (`libs.paths`).
`precision="bf16"` or "fp16" computes in mixed precision (float32 weights and losses), "auto"
only where that was faster here. Neither is part of the config: a run may resume with others.
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

from . import arguments, checkpoints, commands, gif, images, latents, paths, training, utils
from .arguments import check_int, check_positive
from .callbacks import Callback, History
from .dataset_utils import EpochBatches
from .layers import (FusedBatchNormalization, LeakyReLU, StridedConv2D,
                     StridedConv2DTranspose)

# The demo's budget (make demo, the benchmark's quality figure): train(data, ckpt, **DEMO) makes
# recognisable faces from the embedded ones in a few minutes on a laptop's CPU.
DEMO = dict(image_size=32, n_features=32, ema=0.99, steps=600)
EQUILIBRIUM = math.log(2.0)  # the discriminator's BCE when it outputs 0.5 everywhere
MODEL_NAME = "gan"
BN_MOMENTUM = 0.9  # moving statistics follow quickly enough for samples after a short run


# ---------------------------------------------------------------------------- configuration

@dataclasses.dataclass
class GANConfig:
    """Everything needed to rebuild a GAN; stored as JSON in the checkpoint folder.

    image_size: a power of two >= 16 (images are square); channels: 1 (gray) or 3 (RGB).
    n_features: feature maps of the discriminator's first layer (doubling per layer; the
    generator mirrors it), or the hidden units / 8 of the fully connected (`dense`) networks.
    equilibrium: the original homework's rule: update D only while neither of its losses (real,
    fake) is below ln 2 - margin, G only while neither is above ln 2 + margin (both when neither).
    ema: decay of an exponential moving average of the generator's weights, 0 for none
    (e.g. 0.999); samples then come from the average, which is smoother.
    """
    image_size: int = 32
    channels: int = 1
    n_latent: int = 100
    n_features: int = 64
    dense: bool = False
    batch_size: int = 64
    g_learning_rate: float = 2e-4
    d_learning_rate: float = 2e-4
    beta1: float = 0.5
    equilibrium: bool = False
    margin: float = 0.2
    ema: float = 0.0
    seed: int = 0

    def __post_init__(self):
        def integer(name, low):
            setattr(self, name, check_int(name, getattr(self, name), low))

        integer("image_size", 16)
        if self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 16 (16, 32, 64, 128, ...), "
                             f"got {self.image_size}")
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {self.channels!r}")
        integer("n_latent", 1)
        integer("n_features", 1)
        integer("batch_size", 1)
        self.seed = check_int("seed", self.seed, 0, arguments.SEED_MAX)
        for name in ("g_learning_rate", "d_learning_rate"):
            setattr(self, name, check_positive(name, getattr(self, name), arguments.LEARNING_RATE_MAX))
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"beta1 must be in [0, 1), got {self.beta1!r}")
        if not 0 < self.margin < EQUILIBRIUM:
            raise ValueError(f"margin must be in (0, ln 2 = {EQUILIBRIUM:.3f}), got {self.margin!r}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1) (0 turns it off), got {self.ema!r}")
        self.dense, self.equilibrium = bool(self.dense), bool(self.equilibrium)
        # Weights and Adam's two moments of each, 4 bytes apiece: the least a GAN takes.
        arguments.check_fits(12 * self.n_weights(),
                             f"the {self.n_weights():,} weights (and Adam's moments) of a GAN of "
                             f"image_size={self.image_size} and n_features={self.n_features}",
                             "use a smaller image_size (--image-size) or n_features (--n-features)")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)

    def n_weights(self) -> int:
        """How many weights `generator` and `discriminator` hold together (batch-norm
        statistics included), counted without building them."""
        pixels, f, n_latent = self.image_size ** 2 * self.channels, self.n_features, self.n_latent
        if self.dense:  # two hidden layers of h units each
            h = 8 * f
            g = n_latent * h + h * h + 8 * h + (h + 1) * pixels  # batch norm, not biases
            d = (pixels + 1) * h + (h + 1) * h + h + 1
            return g + d
        widths = [f << i for i in range(int(math.log2(self.image_size)) - 2)]  # f ... 4x4 maps
        w = widths[-1]
        between = sum(50 * a * b + 4 * (a + b) for a, b in zip(widths[:-1], widths[1:]))
        return (n_latent * 16 * w + 64 * w  # G: latent to 4x4 maps, batch norm
                + between  # G and D: 5x5 convolutions between the widths, batch norm
                + 2 * 25 * f * self.channels + self.channels + f  # G's last layer, D's first
                + 16 * w + 1)  # D: 4x4 maps to the logit



Config = GANConfig  # the name every model module gives its config (training's contract)

# ---------------------------------------------------------------------------- models

def layer_kinds(fast: bool):
    """(conv, transposed conv, batch norm) layer classes: the CPU-fast ones of `libs.layers`
    (fast=True) or Keras's own, the same maths and weights."""
    if fast:
        return StridedConv2D, StridedConv2DTranspose, FusedBatchNormalization
    return layers.Conv2D, layers.Conv2DTranspose, layers.BatchNormalization


def generator(config: GANConfig, fast: bool = True) -> keras.Model:
    """z (B, n_latent) -> images (B, S, S, C) in [-1, 1].

    Convolutional: a dense layer to 4x4 maps, then 5x5 stride-2 transposed convolutions halving
    the feature maps and doubling the size up to S (64x64 with n_features f: 4x4x8f, 8x8x4f,
    16x16x2f, 32x32xf, 64x64xC), batch norm and ReLU between, tanh at the end. Dense: two hidden
    layers of 8 * n_features units with batch norm and ReLU.
    """
    conv, conv_t, norm = layer_kinds(fast)
    s, c = config.image_size, config.channels
    z = keras.Input((config.n_latent,), name="z")
    if config.dense:
        h = z
        for i in range(2):
            h = layers.Dense(8 * config.n_features, use_bias=False, name=f"dense{i}")(h)
            h = layers.ReLU()(norm(momentum=BN_MOMENTUM, name=f"bn{i}")(h))
        h = layers.Dense(s * s * c, activation="tanh", name="out")(h)
        return keras.Model(z, layers.Reshape((s, s, c))(h), name="generator")
    n_up = int(math.log2(s)) - 2
    width = config.n_features * 2 ** (n_up - 1)
    h = layers.Dense(4 * 4 * width, use_bias=False, name="project")(z)
    h = layers.Reshape((4, 4, width))(layers.ReLU()(norm(momentum=BN_MOMENTUM, name="bn0")(h)))
    for i in range(1, n_up):  # (B, 2^(i+2), 2^(i+2), width / 2^i)
        h = conv_t(width >> i, 5, strides=2, padding="same", use_bias=False, name=f"up{i}")(h)
        h = layers.ReLU()(norm(momentum=BN_MOMENTUM, name=f"bn{i}")(h))
    out = conv_t(c, 5, strides=2, padding="same", activation="tanh", name="out")
    x = out(h)
    if out.compute_dtype != "float32":  # built under a mixed precision policy
        x = layers.Activation("linear", dtype="float32", name="out_float32")(x)
    return keras.Model(z, x, name="generator")


def discriminator(config: GANConfig, fast: bool = True) -> keras.Model:
    """Images (B, S, S, C) in [-1, 1] -> logits (B, 1) (real > 0).

    Convolutional: 5x5 stride-2 convolutions from n_features maps, doubling per layer down to
    4x4, batch norm (not on the first layer, as in DCGAN) and leaky ReLU (0.2), then one dense
    logit. Dense: two hidden layers of 8 * n_features units with leaky ReLU.
    """
    conv, _, norm = layer_kinds(fast)
    leaky = LeakyReLU if fast else layers.LeakyReLU  # see libs.layers.LeakyReLU: oneDNN's remapper
    x = keras.Input(config.image_shape, name="images")
    if config.dense:
        h = layers.Flatten()(x)
        for i in range(2):
            h = leaky(0.2)(layers.Dense(8 * config.n_features, name=f"dense{i}")(h))
    else:
        h = leaky(0.2)(conv(config.n_features, 5, strides=2, padding="same", name="down0")(x))
        for i in range(1, int(math.log2(config.image_size)) - 2):  # down to 4x4
            h = conv(config.n_features << i, 5, strides=2, padding="same", use_bias=False,
                     name=f"down{i}")(h)
            h = leaky(0.2)(norm(momentum=BN_MOMENTUM, name=f"bn{i}")(h))
        h = layers.Flatten()(h)
    # float32 even under a mixed precision policy: the loss is computed from the logits
    return keras.Model(x, layers.Dense(1, dtype="float32", name="logit")(h), name="discriminator")


# ---------------------------------------------------------------------------- losses

def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """BCE of D on real images (label 1) and on fakes (label 0), each a mean over the batch.

    softplus(-l) = -log(sigmoid(l)) and softplus(l) = -log(1 - sigmoid(l)), without overflow.
    """
    return (tf.reduce_mean(tf.nn.softplus(-real_logits)),
            tf.reduce_mean(tf.nn.softplus(fake_logits)))


def generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """Non-saturating loss: -log D(G(z)), strong gradients while D rejects the fakes."""
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


def equilibrium_updates(real_loss, fake_loss, margin: float):
    """(update_g, update_d) by the original homework's rule (see GANConfig.equilibrium)."""
    update_g = tf.logical_not((real_loss > EQUILIBRIUM + margin) | (fake_loss > EQUILIBRIUM + margin))
    update_d = tf.logical_not((real_loss < EQUILIBRIUM - margin) | (fake_loss < EQUILIBRIUM - margin))
    neither = tf.logical_not(update_g | update_d)
    return update_g | neither, update_d | neither


# ---------------------------------------------------------------------------- which layers, which precision

# What the step's speed depends on, the keys of its timed choices: the equilibrium rule adds the
# gates (with a tf.cond around the updates, XLA's step had been 15-40x slower).
SHAPE_FIELDS = ("image_size", "channels", "n_latent", "n_features", "dense", "batch_size", "ema",
                "equilibrium")


def speed_settings(config, path: str | None = None, precision: str | None = None, *,
                   build=None, name: str = "GAN", measure: bool = True,
                   distributed: bool = False) -> tuple[str, str]:
    """The path ("stock", "fast" or "xla", see `libs.paths`) and precision ("fp32", "bf16",
    "fp16") to build `config` with: `paths.speed_settings`, timing the `train_step` of
    `build(path, precision)` (default: this GAN) once per machine and shape. Where nothing is
    timed (measure=False; fewer than `paths.SMALL_BATCH_PIXELS` pixels a batch; quick mode or
    pytest; `distributed`, under a strategy, where "xla" is refused), "auto" takes a cached
    choice, else "fast" and "fp32".
    """
    build = build or (lambda p, q: GAN(config, path=p, precision=q))
    shape = {k: v for k, v in dataclasses.asdict(config).items() if k in SHAPE_FIELDS}

    def make(path, precision):  # called only when something is timed
        x = np.random.default_rng(0).uniform(0, 255, (config.batch_size, *config.image_shape))
        return build(path, precision).train_step, x.astype(np.float32)

    return paths.speed_settings(
        name, make, shape, per_step=config.batch_size, path=path, precision=precision,
        distributed=distributed,
        measure=measure and paths.large_batch(config))


# ---------------------------------------------------------------------------- the GAN and its step

class GAN:
    """Generator, discriminator, their Adam optimizers, an optional EMA generator, the step.

    `train_step(images)` trains on one batch (B, S, S, C) of float images in 0-255 and returns
    a dict of scalar tensors: g_loss, d_loss, d_loss_real, d_loss_fake and updated_g /
    updated_d (1.0 when that network was updated). It is a tf.function, except with a
    `strategy`: the variables are then built under it and the step is meant for
    `strategy.run` inside a tf.function, which `training.fit` does.

    path: "stock" (Keras's layers), "fast" (`libs.layers`: same maths, same variables), "xla"
    (those, the step compiled by XLA; not under a strategy) or "auto"; precision: "fp32",
    "bf16", "fp16" (mixed, with loss scaling) or "auto"; None: the library's default (see
    `speed_settings`, which decides "auto"; `path` and `precision` say what was built).
    `fast=True/False` is the older spelling of path="fast"/"stock".
    """

    def __init__(self, config: GANConfig | None = None, *, path: str | None = None,
                 precision: str | None = None, fast: bool | None = None, strategy=None):
        self.config = config = config if config is not None else GANConfig()
        if fast is not None:
            if path is not None:
                raise ValueError(f"give path or fast, not both (path={path!r}, fast={fast!r})")
            path = "fast" if fast else "stock"
        # Under a strategy nothing is timed (workers could choose apart): cached or fixed.
        self.path, self.precision = speed_settings(config, path, precision,
                                                   distributed=strategy is not None)
        fast = self.path != "stock"
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope(), paths.precision_scope(self.precision):
            self.generator = generator(config, fast)
            self.discriminator = discriminator(config, fast)
            self.g_optimizer = keras.optimizers.Adam(config.g_learning_rate, beta_1=config.beta1)
            self.d_optimizer = keras.optimizers.Adam(config.d_learning_rate, beta_1=config.beta1)
            # float16 gradients underflow: the step scales the losses up, these optimizers scale
            # the gradients back and skip a step whose gradients overflowed. The checkpoint keeps
            # the Adams only, so a run may resume in another precision (the scale starts again).
            self._g_apply, self._d_apply = self.g_optimizer, self.d_optimizer
            if self.precision == "fp16":
                self._g_apply = keras.optimizers.LossScaleOptimizer(self.g_optimizer)
                self._d_apply = keras.optimizers.LossScaleOptimizer(self.d_optimizer)
            self._g_apply.build(self.generator.trainable_variables)
            self._d_apply.build(self.discriminator.trainable_variables)
            self.generator_ema = None
            if config.ema:
                self.generator_ema = generator(config, fast)
                self.generator_ema.set_weights(self.generator.get_weights())
            # Latents come from a checkpointed generator so a resumed run draws what an
            # uninterrupted one would have.
            self.rng = tf.random.Generator.from_seed(config.seed)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # Under a strategy, training.fit compiles strategy.run(step): the step itself must not
        # be a tf.function then (tf.distribute cannot synchronise inside a nested one).
        self.train_step = self._train_step if strategy is not None else tf.function(self._train_step)
        # Path "xla": XLA compiles all but the draw of the latents (XLA's normal draws differ
        # from TensorFlow's for the same generator state; so every path trains alike).
        self._update = tf.function(self._update_step, jit_compile=True) if self.path == "xla" \
            else self._update_step

    def trackables(self) -> dict:
        """What a `tf.train.Checkpoint` of this GAN holds: weights, optimizer state, the latents'
        RNG and `step` (the steps trained, which `training.fit` counts in)."""
        items = dict(step=self.step, generator=self.generator, discriminator=self.discriminator,
                     g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer, rng=self.rng)
        if self.generator_ema is not None:
            items["generator_ema"] = self.generator_ema
        return items

    def _train_step(self, images):
        return self._update(images, self.rng.normal([tf.shape(images)[0], self.config.n_latent]))

    def _update_step(self, images, z):
        cfg = self.config
        ctx = tf.distribute.get_replica_context()
        n_replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        real = tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0  # 0-255 -> [-1, 1]
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            fake = self.generator(z, training=True)
            # Real and fake batches go through D separately so batch norm never mixes them
            # (DCGAN's advice); one concatenated call was not measurably faster on CPU.
            fake_logits = self.discriminator(fake, training=True)
            d_loss_real, d_loss_fake = discriminator_loss(
                self.discriminator(real, training=True), fake_logits)
            g_loss = generator_loss(fake_logits)
            # Optimizers sum gradients over replicas: scale each replica's mean loss.
            d_scaled, g_scaled = (d_loss_real + d_loss_fake) / n_replicas, g_loss / n_replicas
            if self.precision == "fp16":
                d_scaled, g_scaled = self._d_apply.scale_loss(d_scaled), self._g_apply.scale_loss(g_scaled)
        d_grads = tape.gradient(d_scaled, d_vars)
        g_grads = tape.gradient(g_scaled, g_vars)
        del tape
        metrics = dict(g_loss=g_loss, d_loss=d_loss_real + d_loss_fake, d_loss_real=d_loss_real,
                       d_loss_fake=d_loss_fake)
        if cfg.equilibrium and (tf.distribute.has_strategy() or self.path == "xla"):
            # The replicas decide alike, on the whole batch's losses, and update then undo
            # (a tf.cond cannot hold the all-reduce of the gradients). XLA's step does the
            # same: with the updates inside a tf.cond, its compiled step took 1-3 s instead of
            # 0.08 (a 32x32 GAN on 2 Zen 5 cores).
            real, fake = tf.unstack(ctx.all_reduce("MEAN", tf.stack([d_loss_real, d_loss_fake])))
            update_g, update_d = equilibrium_updates(real, fake, cfg.margin)
            self._apply_where(update_d, lambda: self._apply_d(d_grads),
                              self.discriminator.trainable_variables, self._d_apply.variables,
                              self.d_optimizer.variables)
            self._apply_where(update_g, lambda: self._apply_g(g_grads),
                              self.generator.trainable_variables, self._g_apply.variables,
                              self.g_optimizer.variables,
                              self.generator_ema.weights if self.generator_ema else [])
        elif cfg.equilibrium:
            update_g, update_d = equilibrium_updates(d_loss_real, d_loss_fake, cfg.margin)
            tf.cond(update_d, lambda: self._apply_d(d_grads), tf.no_op)
            tf.cond(update_g, lambda: self._apply_g(g_grads), tf.no_op)
        else:
            update_g = update_d = tf.constant(True)
            self._apply_d(d_grads)
            self._apply_g(g_grads)
        metrics.update(updated_g=tf.cast(update_g, tf.float32),
                       updated_d=tf.cast(update_d, tf.float32))
        return metrics

    @staticmethod
    def _apply_where(gate, apply, *variables):
        """In a replica, what `tf.cond(gate, apply, tf.no_op)` does on one device: `apply()`,
        then `variables` (a network's, its optimizers', ...) put back where `gate`, alike on
        every replica, is False, so that a rested network and its Adam moments and step count
        stay exactly as they were. (tf.distribute cannot synchronise replicas inside control
        flow, and XLA runs such a tf.cond slowly.) Without a strategy, the default one's
        replica context does the same on one device."""
        variables = list({id(getattr(v, "value", v)): getattr(v, "value", v)
                          for group in variables for v in group}.values())
        old = [tf.identity(v) for v in variables]
        apply()

        def undo(strategy, gate, old):
            for v, o in zip(variables, old):
                strategy.extended.update(v, lambda var, g, o: var.assign(tf.where(g, var, o)),
                                         args=(gate, o), group=False)
        tf.distribute.get_replica_context().merge_call(undo, args=(gate, old))

    def _apply_d(self, grads):
        self._d_apply.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        return tf.no_op()

    def _apply_g(self, grads):
        self._g_apply.apply_gradients(zip(grads, self.generator.trainable_variables))
        if self.generator_ema is not None:
            self._update_ema()
        return tf.no_op()

    def _update_ema(self):
        # Warm-up as tf.train.ExponentialMovingAverage(num_updates=...): early averages do
        # not remember the random initial weights for long.
        t = tf.cast(self.g_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.config.ema, (1.0 + t) / (10.0 + t))

        def update(*_):
            for avg, w in zip(self.generator_ema.weights, self.generator.weights):
                if w.trainable:
                    avg.assign(w + decay * (avg - w))
                else:  # batch-norm statistics are averages already
                    avg.assign(w)

        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            ctx.merge_call(update)  # assign mirrored variables once, in cross-replica context
        else:
            update()

    def generate(self, z, ema: bool | None = None, batch_size: int = 256) -> np.ndarray:
        """Images (N, S, S, C) in [-1, 1] for latents z (N, n_latent), in inference mode.

        ema: use the averaged generator (default: when there is one).
        """
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.config.n_latent:
            raise ValueError(f"z must have shape (N, {self.config.n_latent}), got {z.shape}")
        if ema and self.generator_ema is None:
            raise ValueError("this GAN keeps no EMA generator (its config has ema=0)")
        model = self.generator_ema if (ema is not False and self.generator_ema is not None) \
            else self.generator
        if len(z) == 0:
            return np.zeros((0,) + self.config.image_shape, np.float32)
        return np.concatenate([np.asarray(model(z[i:i + batch_size], training=False))
                               for i in range(0, len(z), batch_size)])


# ---------------------------------------------------------------------------- pictures of latents

def montage_of(gan: GAN, z, saveto=None, ema: bool | None = None) -> np.ndarray:
    """The montage (uint8) of the images of latents z (N, n_latent), saved as PNG if `saveto`."""
    return utils.montage(gan.generate(z, ema), saveto=saveto, value_range=(-1, 1))


def interpolation_gif(gan: GAN, zs, saveto="interpolation.gif", n_per_segment: int = 8,
                      method: str = "slerp", interval: float = 0.1, scale: float = 2,
                      ema: bool | None = None) -> np.ndarray:
    """A looping GIF through the images of latents zs (K, n_latent), or of several walks at
    once (K, M, n_latent), shown side by side as a montage per frame. Returns the frames."""
    zs = np.asarray(zs, np.float32)
    if zs.ndim == 2:
        images = gan.generate(latents.latent_path(zs, n_per_segment, method), ema)  # (T, S, S, C)
        frames = list(images)
    elif zs.ndim == 3:
        paths = np.stack([latents.latent_path(zs[:, m], n_per_segment, method) for m in range(zs.shape[1])],
                         axis=1)  # (T, M, L)
        flat = gan.generate(paths.reshape(-1, zs.shape[2]), ema)
        frames = [utils.montage(f, saveto=None, value_range=(-1, 1))
                  for f in flat.reshape(paths.shape[:2] + flat.shape[1:])]
    else:
        raise ValueError(f"zs must be (K, n_latent) or (K, M, n_latent), got shape {zs.shape}")
    return gif.build_gif([utils.to_uint8(f, (-1, 1)) if f.dtype != np.uint8 else f for f in frames],
                         interval=interval, dpi=72 * scale, saveto=saveto)


# ---------------------------------------------------------------------------- training

class ProgressFrames(Callback):
    """Every `every` steps (and at the start and end) a montage of `images()` (N, S, S, C) in
    [-1, 1] is saved as folder/step_000100.png (six-digit step), shown in TensorBoard under
    "progress", and folder/../progress.gif is rebuilt from all of them. The GAN shows fixed
    latents; the VAE-GAN, reconstructions."""

    def __init__(self, images, folder, every: int):
        self.images, self.folder = images, Path(folder)
        self.every = check_int("montage_every", every, 1)

    def frame(self, loop: training.Loop) -> None:
        path = self.folder / f"step_{loop.step:06d}.png"
        if not path.exists():
            loop.log_image("progress", utils.montage(self.images(), saveto=path,
                                                     value_range=(-1, 1)))
            gif.progress_gif(self.folder)

    def on_train_begin(self, loop):
        self.frame(loop)

    def on_step_end(self, loop, metrics):
        if loop.step % self.every == 0:
            self.frame(loop)

    def on_train_end(self, loop):
        self.frame(loop)


def train(data="faces", ckpt_dir="checkpoints/gan", *, steps: int | None = None,
          seconds: float | None = None, strategy=None, callbacks=(), progress: bool = True,
          checkpoint_every: int = 500, montage_every: int = 100, n_montage: int = 64,
          path: str | None = None, precision: str | None = None, **settings) -> tuple[GAN, History]:
    """Train (or resume) a GAN on `data` in `ckpt_dir`; returns (gan, history).

    data: "faces", "celeb", a folder of images, or an array (N, S, S, C) in 0-255
    (see `images.image_source`). steps: total step to reach (a second call resumes there);
    seconds: budget of this call. settings: GANConfig fields (image_size=32, n_features=32,
    equilibrium=True, ema=0.999, ...); a resumed run takes the saved config, and a setting
    that contradicts it is refused. path, precision: `GAN`'s (speed only; not saved, a resumed
    run may change them). Every `montage_every` steps the generator's images of
    `n_montage` fixed latents go to ckpt_dir/progress/ and ckpt_dir/progress.gif.
    The rest (resume, Ctrl-C, NaN guard, progress bar, TensorBoard in ckpt_dir/logs,
    callbacks, strategy) is `training.fit`'s; history is its `History` (g_loss, d_loss, ...).
    """
    ckpt_dir = training.worker_folder(ckpt_dir, strategy)  # not the chief: a temporary copy
    source = images.training_images(data, ckpt_dir, MODEL_NAME, "GAN", GANConfig,
                                    settings.get("image_size"))
    cfg = checkpoints.resume_config(ckpt_dir, MODEL_NAME, "GAN", GANConfig, settings,
                                    {"channels": source.channels})
    keras.utils.set_random_seed(cfg.seed)
    gan = GAN(cfg, path=path, precision=precision, strategy=strategy)
    batches = EpochBatches(images.epoch_batches(source, cfg.batch_size,
                                                         cfg.image_size, cfg.seed))
    z = latents.latent(n_montage, cfg.n_latent, cfg.seed)
    frames = ProgressFrames(lambda: gan.generate(z), ckpt_dir / "progress", montage_every)
    history = training.fit(gan.train_step, batches, ckpt_dir, {**gan.trackables(), "data": batches},
                           model_name=MODEL_NAME, config=dataclasses.asdict(cfg), steps=steps,
                           seconds=seconds, checkpoint_every=checkpoint_every,
                           callbacks=[frames, *callbacks], strategy=strategy, progress=progress,
                           guard=["g_loss", "d_loss"])
    return gan, history


def load(ckpt_dir) -> GAN:
    """The GAN of the latest checkpoint in `ckpt_dir` (config, weights, EMA, step; `train`
    resumes the optimizers' state). `restored_from` says which checkpoint was read."""
    ckpt_dir = Path(ckpt_dir)
    cfg = checkpoints.load_config(ckpt_dir, MODEL_NAME, "GAN", GANConfig)
    # For sampling: float32, and the layers timed for training if any (nothing is timed here).
    gan = GAN(cfg, path=speed_settings(cfg, precision="fp32", measure=False)[0], precision="fp32")
    gan.restored_from = checkpoints.restore(ckpt_dir, "GAN",
                                            **checkpoints.weights(gan.trackables()))
    return gan


def sample(model: GAN, n: int, *, seed: int | None = None,
           ema: bool | None = None) -> np.ndarray:
    """n new images, uint8 (n, S, S, C), from latents drawn from `seed` (None: a fresh one);
    ema: the averaged generator (default: when there is one). n that would not fit in memory
    is refused."""
    arguments.check_samples_fit(check_int("n", n, 1), model.config.image_shape)
    z = latents.latent(n, model.config.n_latent, arguments.seed_or_fresh(seed))
    return utils.to_uint8(model.generate(z, ema), (-1, 1))


def evaluate(model: GAN, data, n: int = 1000, seed: int = 0, features=None) -> dict:
    """Sliced Wasserstein distance (x1e3, `metrics.swd`) between n real images of `data` and n
    generated ones (fewer when the data hold fewer). With `features` (a callable mapping uint8
    images (N, S, S, C) to (N, D) features, e.g. a local Inception model), also FID and KID."""
    from . import metrics

    cfg = model.config
    source = images.image_source(data, cfg.image_size)
    if source.channels != cfg.channels:
        raise ValueError(f"the GAN makes {cfg.channels}-channel images but the data have "
                         f"{source.channels} channel(s)")
    real = images.real_images(source, cfg.image_size, n, seed)
    fake = utils.to_uint8(model.generate(latents.latent(len(real), cfg.n_latent, seed + 1)), (-1, 1))
    result = metrics.swd(real, fake, seed=seed)
    out = {"swd_x1e3": round(result["swd_x1e3"], 3),
           "swd_levels_x1e3": [round(v, 3) for v in result["levels_x1e3"]],
           "resolutions": result["resolutions"], "n": len(real), "step": int(model.step.numpy())}
    if features is not None:
        f_real, f_fake = np.asarray(features(real)), np.asarray(features(fake))
        out["fid"] = round(metrics.frechet_distance(f_real, f_fake), 3)
        out["kid_x1e3"] = round(1e3 * metrics.kernel_inception_distance(f_real, f_fake), 3)
    return out


# ---------------------------------------------------------------------------- command line

def _keras_features(path):
    """A features(images) callable from a local Keras model file that takes 0-255 pixels."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no feature extractor model at {path}")
    model = keras.saving.load_model(path, compile=False)
    height, width, channels = model.input_shape[1:4]

    def features(images: np.ndarray) -> np.ndarray:
        x = tf.cast(images, tf.float32)
        if x.shape[-1] != channels:
            x = tf.image.grayscale_to_rgb(x) if channels == 3 else tf.image.rgb_to_grayscale(x)
        if (height, width) != tuple(x.shape[1:3]) and height is not None:
            x = tf.image.resize(x, (height, width))
        return np.asarray(model.predict(x, batch_size=64, verbose=0)).reshape(len(images), -1)
    return features


def main(argv=None) -> int:
    parser, train_parser, sample_parser, eval_parser = commands.model_parser(
        "python -m libs.gan", "Train a GAN, sample from it, evaluate it.", GANConfig,
        {"help": "faces, celeb or a folder of images"}, sample_help="write generated images",
        eval_help="sliced Wasserstein distance", eval_min_n=2)
    train_parser.add_argument("--montage-every", type=arguments.arg_int(1), default=100)
    speed = commands.speed_flags(train_parser)
    sample_parser.add_argument("--no-ema", action="store_true",
                               help="use the raw generator, not its average")
    eval_parser.add_argument("--features", type=Path, help="a local Keras model (0-255 pixels "
                             "in, features out) to add FID and KID")
    return commands.run_command(parser, argv, commands.image_commands(
        sys.modules[__name__], ("g_loss", "d_loss"), train_flags=("montage_every", *speed),
        sample_options=lambda args: {"ema": False if args.no_ema else None},
        evaluate_options=lambda args: {
            "features": _keras_features(args.features) if args.features else None}))

if __name__ == "__main__":
    raise SystemExit(main())
