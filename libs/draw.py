"""DRAW: a recurrent network that draws an image in T strokes, with attention (Gregor et al. 2015).

    python -m libs.draw train  --data digits|mnist --ckpt DIR [--steps N] [--seconds S] [--T 10] ...
    python -m libs.draw sample --ckpt DIR [--n 64] --out DIR
    python -m libs.draw eval   --ckpt DIR --data digits|mnist [--n 1000]

From Python (a notebook):

    model, history = draw.train("digits", "checkpoints/draw", seconds=60)   # resumable
    images = draw.sample(model, 16, seed=0)      # uint8 (16, 28, 28, 1)
    canvases = draw.drawing_steps(model, 16, seed=0)   # uint8 (T, 16, 28, 28, 1), the same 16
    draw.canvas_gif(model, "drawing.gif")        # watch the canvas fill in, step by step
    draw.evaluate(model, "digits")               # {"nll_bound_nats": ..., ...} on held-out digits

The model is a variational auto-encoder unrolled over T steps (paper eqs 3-8). At step t:

    x_hat = x - sigmoid(c_{t-1})                  the error image: what the canvas still lacks
    r     = read(x, x_hat, h_dec_{t-1})           a glimpse of both, where the decoder looked
    h_enc = LSTM_enc(h_enc_{t-1}, [r, h_dec_{t-1}])
    z_t   = mu + sigma * noise                    a sample of Q(z_t | h_enc) = N(mu, sigma^2)
    h_dec = LSTM_dec(h_dec_{t-1}, z_t)
    c_t   = c_{t-1} + write(h_dec)                the canvas; the image is sigmoid(c_T)

The loss (eqs 9-12), in nats per image, is -log D(x | sigmoid(c_T)) (Bernoulli cross-entropy
summed over pixels) plus sum_t KL(Q(z_t | h_enc) || N(0, I)): an upper bound on -log p(x),
reported as `nll_bound_nats`. Generating runs the decoder alone on z_t ~ N(0, I). Attention
(section 3) is an N x N grid of Gaussian filters whose centre, stride, width and intensity the
decoder picks anew at every step: `filterbank`, `attention_params`, `read`, `write`. Images are
square, S x S with C channels; B is the batch, L = n_latent.

`DRAW` follows the model contract of `libs.training`: the model carries its config, its Adam
optimizer, the random generator of its noise and `step`, and `trackables()` names what a
checkpoint holds. `train(..., strategy=...)` trains on several devices at once (see
`make_train_step`).

Speed: the T steps run in a `tf.while_loop`, so tracing (about 8 s) does not grow with T. The
step runs as TensorFlow's graph or compiled by XLA, whichever was faster when timed on this
machine (`speed_settings`): on 2 AMD EPYC cores with TensorFlow 2.21, XLA's step was 1.5-1.75x
faster after 17 s of compiling, where an earlier measurement had found it slower (250 against
150 ms a step): hence the timing.

The TensorFlow 1 forms of these pieces (placeholders, variable scopes, `tf.contrib` cells, one
graph per step) are shown beside these in the lecture (notebooks/lecture-5.ipynb, "DRAW").
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

from libs import arguments, checkpoints, commands, images, paths, training, utils
from libs.arguments import check_int, check_positive
from libs.callbacks import History
from libs.dataset_utils import EpochBatches

MODEL_NAME = "draw"
DATA = ("digits", "mnist")
N_DIGITS = 5000  # embedded digits rendered for training (seed 0); evaluation renders seed 1
EPS = 1e-8       # keeps a filter's normalisation finite when all its weights underflow


# ---------------------------------------------------------------------------- configuration

@dataclasses.dataclass
class DRAWConfig:
    """Everything needed to rebuild a DRAW model; stored as JSON in the checkpoint folder.

    image_size, channels: taken from the data. T: drawing steps. attention: read an N x N
    glimpse (read_n) and write an N x N patch (write_n) where the decoder points; off, read
    sees the whole image and write is a Dense layer onto the whole canvas. binarize: pixels
    >= 128 become 1, others 0 (the paper's binarised MNIST); off, pixels / 255 are the targets
    of the cross-entropy, which then is not a likelihood. clip: Adam's global gradient norm.

    The defaults are the paper's MNIST model (256 units, 5x5 writes) shortened to T=10, with
    5x5 reads instead of 2x2 and batches of 50, measured on 2 CPU cores over 60 s of embedded
    digits: held-out bound 544 -> 141 nats. With 2x2 reads it stayed at 184-194 (batches of 50
    or 100), barely below the mean image's 198: the first 2x2 glimpses see only the corners.
    """
    image_size: int = 28
    channels: int = 1
    T: int = 10
    attention: bool = True
    read_n: int = 5
    write_n: int = 5
    enc_size: int = 256
    dec_size: int = 256
    n_latent: int = 10
    binarize: bool = True
    batch_size: int = 50
    learning_rate: float = 1e-3
    clip: float = 5.0
    seed: int = 0

    def __post_init__(self):
        for name, low in (("image_size", 2), ("T", 1), ("read_n", 1), ("write_n", 1),
                          ("enc_size", 1), ("dec_size", 1), ("n_latent", 1), ("batch_size", 1)):
            setattr(self, name, check_int(name, getattr(self, name), low))
        self.seed = check_int("seed", self.seed, 0, arguments.SEED_MAX)
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {self.channels!r}")
        for name in ("attention", "binarize"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
            setattr(self, name, bool(getattr(self, name)))
        for name in ("read_n", "write_n"):
            if self.attention and getattr(self, name) > self.image_size:
                raise ValueError(f"{name}={getattr(self, name)} is larger than the "
                                 f"{self.image_size}x{self.image_size} image; use 1 to "
                                 f"{self.image_size}")
        self.learning_rate = check_positive("learning_rate", self.learning_rate,
                                            arguments.LEARNING_RATE_MAX)
        self.clip = check_positive("clip", self.clip)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)


Config = DRAWConfig  # the name every model module gives its config (training's contract)


# ---------------------------------------------------------------------------- attention (section 3)

def filterbank(gx, gy, log_sigma2, log_delta, N: int, A: int, B: int):
    """The N x N grid of Gaussian filters: Fx (batch, N, A) and Fy (batch, N, B).

    gx, gy (batch, 1): the grid's centre in pixels, 1..A across and 1..B down as in the paper;
    log_delta: log of the stride between filters in pixels; log_sigma2: log of their variance.
    Filter i is centred at mu_i = g + (i - N/2 - 0.5) * delta, i = 1..N (eqs 19-20), and each row
    is normalised to sum to 1 (eqs 25-26).
    """
    delta, sigma2 = tf.exp(log_delta), tf.exp(log_sigma2)                   # (batch, 1)
    i = tf.range(1, N + 1, dtype=tf.float32)                                # (N,)
    mu_x = gx + (i - N / 2 - 0.5) * delta                                   # (batch, N)
    mu_y = gy + (i - N / 2 - 0.5) * delta

    def bank(mu, size):
        pixels = tf.range(1, size + 1, dtype=tf.float32)                    # (size,)
        f = tf.exp(-tf.square(pixels - mu[:, :, None]) / (2.0 * sigma2[:, :, None]))
        return f / tf.maximum(tf.reduce_sum(f, axis=-1, keepdims=True), EPS)  # (batch, N, size)

    return bank(mu_x, A), bank(mu_y, B)


def attention_params(h_dec, layer, N: int, A: int, B: int):
    """(gx, gy, log_sigma2, log_delta, log_gamma), each (batch, 1), from the decoder's state.

    A linear layer (5 outputs) gives g~x, g~y in [-1, 1] around the centre and the stride in
    units of the whole image (eqs 21-24); at zero the grid is centred and covers the image.
    """
    gx_, gy_, log_sigma2, log_delta_, log_gamma = tf.split(layer(h_dec), 5, axis=-1)
    gx = (A + 1) / 2 * (gx_ + 1)                                             # eq 22
    gy = (B + 1) / 2 * (gy_ + 1)                                             # eq 23
    log_delta = log_delta_ + math.log((max(A, B) - 1) / max(N - 1, 1))       # eq 24, in logs
    return gx, gy, log_sigma2, log_delta, log_gamma


def read(x, x_hat, Fx, Fy, gamma):
    """Eq 27: gamma * [Fy x Fx^T, Fy x_hat Fx^T], the N x N glimpses of the image and of the
    error image, per channel: (batch, B, A, C) twice -> (batch, N, N, 2C)."""
    glimpse = lambda image: tf.einsum("bnh,bhwc,bmw->bnmc", Fy, image, Fx)  # noqa: E731
    return gamma[:, :, None, None] * tf.concat([glimpse(x), glimpse(x_hat)], axis=-1)


def write(patch, Fx, Fy, gamma):
    """Eq 29: (1 / gamma) Fy^T w Fx, a patch (batch, N, N, C) spread onto the canvas
    (batch, B, A, C) where the filters point."""
    return tf.einsum("bnh,bnmc,bmw->bhwc", Fy, patch, Fx) / gamma[:, :, None, None]


# ---------------------------------------------------------------------------- the model

class DRAW(keras.Model):
    """Encoder and decoder LSTMs, Q(z | h_enc), and the read and write heads; the Adam optimizer
    that trains them, the random generator of the training noise and the step count.

    `model(x, noise)`: x (B, S, S, C) in [0, 1], noise (T, B, L) standard normal (None: drawn
    here) -> the canvas logits after every step (T, B, S, S, C) and the KL of every step (T, B).
    `model.generate(noise)`: the decoder alone, noise (T, N, L) -> canvas logits (T, N, S, S, C).
    The training state rides along: `model.step` (the steps trained, an int64 variable that
    `training.fit` counts in; `int(model.step.numpy())` is the number), `model.train_optimizer`
    (Adam clipping the global gradient norm, built; not Keras's `model.optimizer`, which belongs
    to `compile`) and `model.rng` (the training noise's generator); `model.trackables()` names
    what a checkpoint holds. With a `strategy` every variable is built under it, for
    `train(..., strategy=...)`.

    `precision` ("fp32", "bf16", "fp16"): the LSTMs and the write head compute in float32, or
    in bfloat16 or float16 with float32 weights; the canvas, Q(z | h_enc), the attention
    parameters and the losses are float32 always. Speed only: not saved.
    """

    def __init__(self, config: DRAWConfig | None = None, *, precision: str = "fp32",
                 strategy=None):
        super().__init__(name=MODEL_NAME)
        self.config = cfg = config if config is not None else DRAWConfig()
        self.precision = precision
        S, C, H = cfg.image_size, cfg.channels, cfg.dec_size
        glimpse = 2 * (cfg.read_n ** 2 if cfg.attention else S * S) * C
        with (strategy or tf.distribute.get_strategy()).scope(), paths.precision_scope(precision):
            self.encoder = layers.LSTMCell(cfg.enc_size, name="encoder")
            self.decoder = layers.LSTMCell(cfg.dec_size, name="decoder")
            # mean and log-variance of z, in float32 under mixed precision (the KL, the noise)
            self.q = layers.Dense(2 * cfg.n_latent, dtype="float32", name="q")
            self.write_patch = layers.Dense((cfg.write_n ** 2 if cfg.attention else S * S) * C,
                                            name="write_patch")
            self.encoder.build((None, glimpse + H))
            self.decoder.build((None, cfg.n_latent))
            self.q.build((None, cfg.enc_size))
            self.write_patch.build((None, H))
            if cfg.attention:  # attributes, not a list: tf.train.Checkpoint sees them
                self.read_attention = layers.Dense(5, dtype="float32", name="read_attention")
                self.write_attention = layers.Dense(5, dtype="float32", name="write_attention")
                self.read_attention.build((None, H))
                self.write_attention.build((None, H))
            self.built = True  # every weight exists now
            # The noise comes from a checkpointed generator, so that a resumed run draws what
            # an uninterrupted one would have.
            training.carry_training_state(
                self, keras.optimizers.Adam(cfg.learning_rate, global_clipnorm=cfg.clip), cfg.seed,
                precision)

    def trackables(self) -> dict:
        """What a `tf.train.Checkpoint` of this model holds: `step`, the `model`'s weights, the
        `optimizer`'s state and the noise generator `rng`."""
        return {"step": self.step, "model": self, "optimizer": self.train_optimizer,
                "rng": self.rng}

    def _filters(self, layer, h_dec, N):
        S = self.config.image_size
        gx, gy, log_sigma2, log_delta, log_gamma = attention_params(h_dec, layer, N, S, S)
        Fx, Fy = filterbank(gx, gy, log_sigma2, log_delta, N, S, S)
        return Fx, Fy, tf.exp(log_gamma)

    def _read(self, x, x_hat, h_dec):                                        # -> (B, glimpse)
        if self.config.attention:
            r = read(x, x_hat, *self._filters(self.read_attention, h_dec, self.config.read_n))
        else:
            r = tf.concat([x, x_hat], axis=-1)
        return tf.reshape(r, [tf.shape(x)[0], -1])

    def _write(self, h_dec):                                                 # -> (B, S, S, C)
        cfg = self.config
        w = tf.cast(self.write_patch(h_dec), tf.float32)
        if not cfg.attention:
            return tf.reshape(w, (-1,) + cfg.image_shape)
        patch = tf.reshape(w, (-1, cfg.write_n, cfg.write_n, cfg.channels))
        return write(patch, *self._filters(self.write_attention, h_dec, cfg.write_n))

    def _zero_state(self, batch, size):
        return [tf.zeros([batch, size], self.encoder.compute_dtype)] * 2

    def call(self, x, noise=None):
        cfg = self.config
        x = tf.convert_to_tensor(x, tf.float32)
        batch = tf.shape(x)[0]
        if noise is None:
            noise = tf.random.normal([cfg.T, batch, cfg.n_latent])

        def step(t, canvas, enc_state, dec_state, canvases, kls):
            h_dec = dec_state[0]
            x_hat = x - tf.sigmoid(canvas)                                   # eq 3
            r = self._read(x, x_hat, h_dec)                                  # eq 4
            h_enc, enc_state = self.encoder(
                tf.concat([r, tf.cast(h_dec, r.dtype)], -1), enc_state)      # eq 5
            mu, log_var = tf.split(self.q(h_enc), 2, axis=-1)                # (B, L) each
            z = mu + tf.exp(0.5 * log_var) * noise[t]                        # eq 6
            h_dec, dec_state = self.decoder(z, dec_state)                    # eq 7
            canvas = canvas + self._write(h_dec)                             # eq 8
            kl = 0.5 * tf.reduce_sum(tf.square(mu) + tf.exp(log_var) - log_var - 1.0, -1)
            return t + 1, canvas, enc_state, dec_state, canvases.write(t, canvas), kls.write(t, kl)

        start = (0, tf.zeros_like(x), self._zero_state(batch, cfg.enc_size),
                 self._zero_state(batch, cfg.dec_size), tf.TensorArray(tf.float32, cfg.T),
                 tf.TensorArray(tf.float32, cfg.T))
        *_, canvases, kls = tf.while_loop(lambda t, *_: t < cfg.T, step, start,
                                          maximum_iterations=cfg.T)
        return canvases.stack(), kls.stack()

    @tf.function(reduce_retracing=True)
    def generate(self, noise):
        cfg = self.config
        n = tf.shape(noise)[1]

        def step(t, canvas, dec_state, canvases):
            h_dec, dec_state = self.decoder(noise[t], dec_state)            # eq 7, z ~ N(0, I)
            canvas = canvas + self._write(h_dec)                             # eq 8
            return t + 1, canvas, dec_state, canvases.write(t, canvas)

        start = (0, tf.zeros(tf.concat([[n], cfg.image_shape], 0)),
                 self._zero_state(n, cfg.dec_size), tf.TensorArray(tf.float32, cfg.T))
        *_, canvases = tf.while_loop(lambda t, *_: t < cfg.T, step, start)
        return canvases.stack()

    def bound(self, images, noise):
        """The two parts of the bound, each (B,) in nats: reconstruction and KL summed over T.
        images: (B, S, S, C) uint8 0-255, made targets as the config says (see `targets`)."""
        x = targets(images, self.config.binarize)
        logits, kl = self(x, noise)
        reconstruction = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=x, logits=logits[-1]), axis=[1, 2, 3])                    # eq 9
        return reconstruction, tf.reduce_sum(kl, axis=0)                    # eqs 10-11

    @tf.function(reduce_retracing=True)
    def _bound_sums(self, images, noise):
        reconstruction, kl = self.bound(images, noise)
        return tf.reduce_sum(reconstruction), tf.reduce_sum(kl)


def targets(images, binarize: bool):
    """uint8 images 0-255 -> float32 targets: 0/1 (pixel >= 128) with `binarize`, else / 255."""
    x = tf.cast(images, tf.float32) / 255.0
    return tf.cast(x >= 0.5, tf.float32) if binarize else x


def latent(n: int, config: DRAWConfig, seed: int = 0) -> np.ndarray:
    """z_t ~ N(0, I) for n images: float32 (T, n, L). Image i gets the same noise for any n."""
    z = np.random.default_rng(seed).standard_normal((n, config.T, config.n_latent))
    return z.transpose(1, 0, 2).astype(np.float32)


# ---------------------------------------------------------------------------- data

def image_data(data, split: str = "train", n: int | None = None) -> np.ndarray:
    """uint8 images (N, S, S, C) 0-255. data: "digits" (the embedded digits; "test" renders
    other ones), "mnist" (downloaded once) or an array (`images.image_array`: uint8 0-255 or
    floats in [0, 1]). n: at most this many (the first ones)."""
    from libs import datasets

    if isinstance(data, str):
        if data == "digits":
            return datasets.digits(n or N_DIGITS, seed=0 if split == "train" else 1)[0]
        if data == "mnist":
            train, test = datasets.MNIST()
            return (train if split == "train" else test)[0][:n]
        raise ValueError(f"data must be 'digits', 'mnist' or an image array, got {data!r}")
    return images.image_array(data)[:n]


# ---------------------------------------------------------------------------- training

def make_train_step(model: DRAW, optimizer=None, rng: tf.random.Generator | None = None, *,
                    distributed: bool = False, xla: bool = False):
    """The step: uint8 images (B, S, S, C) -> {"nll_bound_nats", "reconstruction_nats",
    "kl_nats"}, means over the batch. `optimizer` and `rng` default to the model's own
    (`model.apply_optimizer`, which scales the loss in precision "fp16").

    A tf.function, unless `distributed`: `training.fit` then compiles `strategy.run` around it
    and each replica trains on its slice of the batch. The replicas then do what one device
    does with the whole batch: each draws its slice of the whole batch's noise
    (`whole_batch_normal`), scales its mean loss by 1 / replicas (the optimizer sums their
    gradients), and the gradient is clipped as a whole (`clip_whole_gradient`).

    `xla`: the bound, its gradient and the update are compiled by XLA (path "xla", see
    `speed_settings`); the noise is drawn outside, since XLA's normal draws differ from
    TensorFlow's for the same generator state, so both paths train on the same noise.
    """
    cfg = model.config
    optimizer = optimizer if optimizer is not None else model.apply_optimizer
    loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    clip = getattr(optimizer, "inner_optimizer", optimizer).global_clipnorm
    rng = rng if rng is not None else model.rng
    if xla and distributed:
        raise ValueError("the XLA step (path 'xla') does not run under a tf.distribute "
                         "strategy; use path 'stock' or 'auto' there")

    def update(images, z):
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        with tf.GradientTape() as tape:
            reconstruction, kl = model.bound(images, z)
            loss = tf.reduce_mean(reconstruction + kl)
            scaled = loss / replicas  # the optimizer sums the replicas' gradients
            if loss_scaled:
                scaled = optimizer.scale_loss(scaled)
        grads = tape.gradient(scaled, model.trainable_variables)
        if replicas > 1 and clip is not None:  # gradients times the loss scale, if any
            scale = optimizer.dynamic_scale if loss_scaled else 1.0
            grads = clip_whole_gradient(grads, clip * scale)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return {"nll_bound_nats": loss, "reconstruction_nats": tf.reduce_mean(reconstruction),
                "kl_nats": tf.reduce_mean(kl)}

    update = tf.function(update, jit_compile=True) if xla else update

    def train_step(images):
        z = whole_batch_normal(rng, cfg.T, tf.shape(images)[0], cfg.n_latent)
        return update(images, z)
    return train_step if distributed else tf.function(train_step)


def whole_batch_normal(rng: tf.random.Generator, T, batch, n_latent):
    """Noise (T, batch, n_latent) for this replica's `batch` images: its slice of one draw for
    the whole batch, `rng.normal([T, replicas * batch, n_latent])`, the same on every replica.
    On one device it is exactly `rng.normal([T, batch, n_latent])`. (Under a strategy,
    `rng.normal` mixes the replica's number into its key: replicas would draw other noise than
    one device does.) The generator's state is its counter, then its key."""
    ctx = tf.distribute.get_replica_context()
    i, replicas = ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync
    shape = tf.stack([T, replicas * batch, n_latent])
    state = rng.skip(tf.reduce_prod(shape))  # the state rng.normal(shape) would use
    noise = tf.raw_ops.StatelessRandomNormalV2(
        shape=shape, key=tf.bitcast(state[-1:], tf.uint64),
        counter=tf.bitcast(state[:-1], tf.uint64), alg=rng.algorithm)
    return noise[:, i * batch:(i + 1) * batch] if replicas > 1 else noise


def clip_whole_gradient(grads, clip_norm: float):
    """In a replica: the whole batch's gradient (the sum over replicas) clipped to `clip_norm`,
    divided by the number of replicas, for the optimizer to sum again. Keras clips each
    replica's part before summing; on one device it clips the whole."""
    ctx = tf.distribute.get_replica_context()
    whole, _ = tf.clip_by_global_norm(ctx.all_reduce("SUM", grads), clip_norm)
    return [g / ctx.num_replicas_in_sync for g in whole]


def speed_settings(config: DRAWConfig, path: str | None = None, precision: str | None = None, *,
                   measure: bool = True, distributed: bool = False) -> tuple[str, str]:
    """The step ("stock": TensorFlow's graph; "xla": compiled by XLA, see `make_train_step`;
    "fast" is "stock" here, DRAW having no hand-written layers) and the precision ("fp32",
    "bf16", "fp16") to train `config` with: as asked, or None for $CADL_PATH / $CADL_PRECISION
    or `paths.DEFAULTS`; "auto" times the training step of each once per machine and shape
    (`paths.speed_settings`). Where nothing is timed (measure=False; small batches; quick mode
    or pytest; `distributed`, under a strategy, where "xla" is refused), "auto" takes a cached
    choice, else "stock" (XLA's compiling takes seconds more) and "fp32".

    On 2 AMD EPYC cores at the defaults, XLA's step ran 1.5-1.75x faster (650 against 370-400
    images/s) after 17 s of compiling instead of 8."""
    def make(path, precision):  # called only when something is timed
        pictures = np.random.default_rng(0).integers(0, 256, (config.batch_size, *config.image_shape))
        step = make_train_step(DRAW(config, precision=precision), xla=path == "xla")
        return step, pictures.astype(np.uint8)

    return paths.speed_settings(
        "DRAW", make, dataclasses.asdict(config), per_step=config.batch_size, path=path,
        precision=precision, candidates=("stock", "xla"), fallback="stock",
        distributed=distributed,
        measure=measure and paths.large_batch(config))


def train(data="digits", ckpt_dir="checkpoints/draw", *, steps: int | None = None,
          seconds: float | None = None, strategy: tf.distribute.Strategy | None = None,
          callbacks=(), progress: bool = True, checkpoint_every: int = 500,
          path: str | None = None, precision: str | None = None,
          **settings) -> tuple[DRAW, History]:
    """Train (or resume) DRAW on `data` in `ckpt_dir`; returns (model, history).

    data: "digits", "mnist" or an image array (see `image_data`). steps: total step to reach
    (a second call resumes there); seconds: budget of this call. settings: DRAWConfig fields
    (T=20, attention=False, read_n=2, ...); a folder being resumed keeps its saved config and
    refuses settings that contradict it. Resume, Ctrl-C, NaN guard, progress bar, TensorBoard
    (ckpt_dir/logs), callbacks and `strategy` (each batch split across its replicas, which then
    train as one device would) are `training.fit`'s; the history holds nll_bound_nats,
    reconstruction_nats and kl_nats, batch means by step. path, precision: the step (XLA or
    not) and the precision, see `speed_settings` (speed only, not saved).
    """
    ckpt_dir = training.worker_folder(ckpt_dir, strategy)  # not the chief: a temporary copy
    pictures = image_data(data, "train")
    cfg = checkpoints.resume_config(ckpt_dir, MODEL_NAME, "DRAW model", DRAWConfig, settings,
                                 dict(image_size=pictures.shape[1], channels=pictures.shape[3]))
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if cfg.batch_size % replicas:
        raise ValueError(f"batch_size={cfg.batch_size} does not split evenly across the "
                         f"strategy's {replicas} replicas; use a multiple of {replicas}")
    make_epoch = images.array_epochs(pictures, cfg.batch_size, cfg.seed)
    path, precision = speed_settings(cfg, path, precision, distributed=strategy is not None)
    keras.utils.set_random_seed(cfg.seed)  # the initial weights
    model = DRAW(cfg, precision=precision, strategy=strategy)
    batches = EpochBatches(make_epoch)
    step = make_train_step(model, distributed=strategy is not None, xla=path == "xla")
    history = training.fit(
        step, batches, ckpt_dir, {**model.trackables(), "data": batches}, model_name=MODEL_NAME,
        config=dataclasses.asdict(cfg), steps=steps, seconds=seconds,
        checkpoint_every=checkpoint_every, callbacks=callbacks, strategy=strategy,
        progress=progress, guard=["nll_bound_nats"])
    return model, history


# ---------------------------------------------------------------------------- using a model

def load(ckpt_dir) -> DRAW:
    """The DRAW model of the latest checkpoint in `ckpt_dir`, rebuilt from its config.json:
    its weights and step (`checkpoints.weights`; `train` resumes the rest). `restored_from`
    says which checkpoint was read."""
    ckpt_dir = Path(ckpt_dir)
    model = DRAW(checkpoints.load_config(ckpt_dir, MODEL_NAME, "DRAW model", DRAWConfig))
    model.restored_from = checkpoints.restore(ckpt_dir, "DRAW model",
                                              **checkpoints.weights(model.trackables()))
    return model


def evaluate(model: DRAW, data="digits", n: int = 1000, seed: int = 0) -> dict:
    """The bound on -log p(x) in nats per image, averaged over n held-out images of `data`
    (other digits than training's, MNIST's test set, or the first n of an array), with its two
    parts. The noise is drawn from `seed`, so the figure is repeatable."""
    n = check_int("n", n, 1)
    images = image_data(data, "test", n)
    if images.shape[1:] != model.config.image_shape:
        raise ValueError(f"the model draws {model.config.image_shape} images but the data are "
                         f"{images.shape[1:]}")
    z, b = latent(len(images), model.config, seed), model.config.batch_size
    sums = np.zeros(2)
    for i in range(0, len(images), b):
        sums += [float(s) for s in model._bound_sums(images[i:i + b], z[:, i:i + b])]
    reconstruction, kl = (float(v) for v in sums / len(images))
    return {"nll_bound_nats": round(reconstruction + kl, 4),
            "reconstruction_nats": round(reconstruction, 4), "kl_nats": round(kl, 4),
            "n": len(images), "step": int(model.step.numpy())}


def sample(model: DRAW, n: int = 16, *, seed: int | None = None) -> np.ndarray:
    """n new images, uint8 (n, S, S, C): sigmoid of the final canvas, the pixels' means. The
    same `seed` gives the same images (the last of `drawing_steps`'); None draws a new one.
    n that would not fit in memory is refused."""
    n = check_int("n", n, 1)
    arguments.check_samples_fit(n, model.config.image_shape)
    return utils.to_uint8(np.concatenate([p[-1] for p in _drawings(model, n, seed)]), (0, 1))


def drawing_steps(model: DRAW, n: int = 16, *, seed: int | None = None) -> np.ndarray:
    """The canvas of n new images after every step, uint8 (T, n, S, S, C): the drawing of
    `sample`'s images, which are the last. The same `seed` gives the same drawings; None draws
    a new one. n that would not fit in memory is refused."""
    n = check_int("n", n, 1)
    arguments.check_samples_fit(n, model.config.image_shape, model.config.T)
    return utils.to_uint8(np.concatenate(_drawings(model, n, seed), axis=1), (0, 1))


def _drawings(model: DRAW, n: int, seed: int | None) -> list[tf.Tensor]:
    """sigmoid(canvas) after every step for n images drawn from `seed` (None: a new seed), by
    chunks of 256 images: [(T, chunk, S, S, C)]."""
    seed = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None \
        else check_int("seed", seed, 0, arguments.SEED_MAX)
    z = latent(n, model.config, seed)
    return [tf.sigmoid(model.generate(z[:, i:i + 256])) for i in range(0, n, 256)]


def canvas_gif(model: DRAW, saveto="drawing.gif", n: int = 16, seed: int | None = None,
               interval: float = 0.1, scale: float = 2, hold: int = 10) -> np.ndarray:
    """A looping GIF of n images being drawn (`drawing_steps`; seed None: new ones): a montage
    of the canvases per step, the finished drawing held for `hold` frames. Returns the uint8
    frames (see `gif.build_gif`)."""
    from libs import gif

    canvases = drawing_steps(model, n, seed=seed)
    frames = [utils.montage(c, saveto=None) for c in canvases]
    return gif.build_gif(frames + frames[-1:] * hold, interval=interval, dpi=72 * scale,
                         saveto=saveto)


# ---------------------------------------------------------------------------- command line

def main(argv=None) -> int:
    parser, train_parser, _, _ = commands.model_parser(
        "python -m libs.draw", "Train DRAW, sample from it, evaluate it.", DRAWConfig,
        {"choices": DATA}, sample_help="write PNGs, montage.png and canvas.gif",
        eval_help="the bound in nats per image", skip=("image_size", "channels"))
    speed = commands.speed_flags(train_parser, path_help="the step: stock or fast (TensorFlow's "
                                 "graph), xla (compiled by XLA)")
    return commands.run_command(parser, argv, commands.image_commands(
        sys.modules[__name__], ("nll_bound_nats",), train_flags=speed,
        # the same images, drawn step by step
        also_write=lambda model, args: canvas_gif(model, args.out / "canvas.gif", args.n,
                                                  args.seed)))

if __name__ == "__main__":
    raise SystemExit(main())
