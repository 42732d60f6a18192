"""Self-checks for the homework: run one after each exercise, and it says what is wrong in the
exercise's own terms, or what is right.

    checks.discriminator(D, image_size=32, channels=1)     # "D looks right: ..." or CheckFailed
    checks.generator(G, n_latent=100, image_size=32, channels=1)
    checks.discriminator_loss(my_d_loss)                   # against gan.discriminator_loss
    checks.generator_loss(my_g_loss)
    checks.variables_and_optimizers(D, G, d_vars, g_vars, d_opt, g_opt)
    checks.charrnn_model(model, vocab_size)                # logits (B, T, V), left to right
    checks.clipping(clip)                                  # by value or by global norm
    checks.train_step(train_step, vocab_size)              # a loss that falls

Each check runs the student's code on small fixed inputs, compares with what the library's own
version gives on the same inputs (fixed seeds), and raises `CheckFailed`, an AssertionError,
with one sentence naming the mistake: a wrong shape, a flipped sign, a sigmoid applied to
logits twice, a network that ignores its input, a shared optimizer. Passing prints one line.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras

from libs import gan


class CheckFailed(AssertionError):
    """An exercise's result is not right yet; the message says what to fix."""


def _fail(message: str):
    raise CheckFailed(message)


def _call(fn, *args, what: str):
    """fn(*args), with an error inside the student's code named as such."""
    try:
        return fn(*args)
    except CheckFailed:
        raise
    except Exception as e:  # any error of the student's code is reported in their terms
        _fail(f"{what} raised {type(e).__name__}: {e}")


def _shape(x) -> tuple:
    return tuple(int(d) for d in np.shape(x))


# --- Part 1: the GAN ---------------------------------------------------------------------------

def discriminator(D, image_size: int, channels: int) -> None:
    """D maps images (B, S, S, C) in [-1, 1] to one logit per image, (B, 1), depends on its
    input, and has weights to train."""
    if not isinstance(D, keras.Model):
        _fail(f"D should be a keras.Model (keras.Sequential or keras.Model(inputs, outputs)), "
              f"got {type(D).__name__}")
    x = tf.random.stateless_uniform((4, image_size, image_size, channels), (1, 2), -1, 1)
    out = _call(D, x, what="D(images)")
    if _shape(out) != (4, 1):
        _fail(f"D should give one logit per image, shape (4, 1) for 4 images; it gave "
              f"{_shape(out)}. End with keras.layers.Flatten() and keras.layers.Dense(1)")
    out = np.asarray(out)
    if np.all((out > 0) & (out < 1)) and np.ptp(out) < 0.5:
        _fail("D's outputs all lie in (0, 1): it seems to end with a sigmoid. Return the logit "
              "(no activation on the last Dense); the losses apply the sigmoid themselves")
    if np.allclose(out, out[0]):
        _fail("D gives the same output for every image: does its output depend on its input?")
    if not D.trainable_variables:
        _fail("D has no trainable weights")
    print(f"D looks right: (4, {image_size}, {image_size}, {channels}) -> (4, 1) logits, "
          f"{D.count_params():,} weights")


def generator(G, n_latent: int, image_size: int, channels: int) -> None:
    """G maps latents (B, n_latent) to images (B, S, S, C) in [-1, 1] that depend on z."""
    if not isinstance(G, keras.Model):
        _fail(f"G should be a keras.Model, got {type(G).__name__}")
    z = tf.random.stateless_normal((4, n_latent), (3, 4))
    out = _call(G, z, what="G(z)")
    want = (4, image_size, image_size, channels)
    if _shape(out) != want:
        _fail(f"G should turn 4 latents of {n_latent} into images of shape {want}; it gave "
              f"{_shape(out)}. Start from a Dense to a 4x4 grid, reshape, and double the size "
              f"with each strided Conv2DTranspose until {image_size}")
    out = np.asarray(out)
    if out.min() < -1 - 1e-5 or out.max() > 1 + 1e-5:
        _fail(f"G's images should lie in [-1, 1] like the scaled real ones; they span "
              f"[{out.min():.2f}, {out.max():.2f}]. End with a tanh activation")
    if np.allclose(out[0], out[1], atol=1e-6):
        _fail("G draws the same image for different latents: does its output depend on z?")
    print(f"G looks right: (4, {n_latent}) -> {want} in [{out.min():.2f}, {out.max():.2f}], "
          f"{G.count_params():,} weights")


_REAL = tf.constant([[2.0], [-1.0], [0.5], [3.0]])    # fixed logits the losses are checked on
_FAKE = tf.constant([[-2.0], [1.5], [0.0], [-0.5]])


def discriminator_loss(fn) -> None:
    """fn(real_logits, fake_logits) -> (loss on real, loss on fake), the binary cross-entropies
    from logits, each a mean over the batch, as `gan.discriminator_loss`."""
    got = _call(fn, _REAL, _FAKE, what="your discriminator loss")
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        _fail("the discriminator loss should return two numbers: (loss on real, loss on fake)")
    want = [float(v) for v in gan.discriminator_loss(_REAL, _FAKE)]
    got = [float(np.mean(v)) for v in got]
    for mine, ref, what, label in zip(got, want, ("real", "fake"), ("ones", "zeros")):
        if np.isclose(mine, ref, rtol=1e-4):
            continue
        if np.isclose(mine, -ref, rtol=1e-4):
            _fail(f"the loss on {what} images has the wrong sign: a cross-entropy is >= 0")
        sigmoid_twice = float(tf.reduce_mean(keras.losses.binary_crossentropy(
            tf.ones_like(_REAL) if what == "real" else tf.zeros_like(_FAKE),
            tf.sigmoid(_REAL if what == "real" else _FAKE), from_logits=True)))
        if np.isclose(mine, sigmoid_twice, rtol=1e-3):
            _fail(f"the loss on {what} images applies the sigmoid twice: D gives logits, so "
                  "pass them with from_logits=True (or use softplus), not sigmoid(logits)")
        _fail(f"the loss on {what} images is {mine:.4f} on the check's logits, expected "
              f"{ref:.4f}: the binary cross-entropy of the logits against {label}, averaged")
    print(f"the discriminator loss is right: {got[0]:.4f} on real, {got[1]:.4f} on fake")


def generator_loss(fn) -> None:
    """fn(fake_logits) -> the non-saturating loss -log D(G(z)), a mean, as `gan.generator_loss`."""
    mine = float(np.mean(_call(fn, _FAKE, what="your generator loss")))
    ref = float(gan.generator_loss(_FAKE))
    saturating = -float(tf.reduce_mean(tf.nn.softplus(_FAKE)))   # log(1 - D(G(z)))
    if np.isclose(mine, ref, rtol=1e-4):
        print(f"the generator loss is right: {mine:.4f}")
        return
    if np.isclose(mine, saturating, rtol=1e-4) or np.isclose(mine, -saturating, rtol=1e-4):
        _fail("that is the saturating loss, log(1 - D(G(z))): it gives G almost no gradient "
              "while D rejects its images. Use -log D(G(z)): the cross-entropy of the fake "
              "logits against ones")
    if np.isclose(mine, -ref, rtol=1e-4):
        _fail("the generator loss has the wrong sign: a cross-entropy is >= 0")
    _fail(f"the generator loss is {mine:.4f} on the check's logits, expected {ref:.4f}: the "
          "binary cross-entropy of the fake logits against ones, averaged")


def variables_and_optimizers(D, G, d_vars, g_vars, d_opt, g_opt) -> None:
    """Each network trains its own variables, all of them, with its own optimizer."""
    def names(variables):
        return {v.path if hasattr(v, "path") else v.name for v in variables}

    for net, mine, who in ((D, d_vars, "d_vars"), (G, g_vars, "g_vars")):
        want = names(net.trainable_variables)
        got = names(mine)
        if got != want:
            other = names((G if net is D else D).trainable_variables)
            if got & other:
                _fail(f"{who} holds variables of the other network ({sorted(got & other)[0]}, "
                      "...): each optimizer must update only its own network")
            _fail(f"{who} should be all {len(want)} trainable variables of {net.name}, got "
                  f"{len(got)}: use {net.name}.trainable_variables")
    if d_opt is g_opt:
        _fail("D and G share one optimizer: give each its own (Adam keeps statistics per "
              "variable, and the two learn at their own rates)")
    for opt, who in ((d_opt, "d_opt"), (g_opt, "g_opt")):
        if not isinstance(opt, keras.optimizers.Optimizer):
            _fail(f"{who} should be a keras optimizer, e.g. keras.optimizers.Adam(2e-4, "
                  f"beta_1=0.5), got {type(opt).__name__}")
    print(f"variables and optimizers are right: D {len(d_vars)} variables, G {len(g_vars)}, "
          f"one optimizer each (learning rates {float(d_opt.learning_rate):g} and "
          f"{float(g_opt.learning_rate):g})")


# --- Part 2: the char-RNN ----------------------------------------------------------------------

def charrnn_model(model, vocab_size: int) -> None:
    """model(ids (B, T)) -> logits (B, T, V), and the logits at step t depend on the ids up to
    t only (a recurrent model reads left to right)."""
    ids = tf.constant(np.random.default_rng(0).integers(0, vocab_size, (2, 12)), tf.int32)
    out = _call(model, ids, what="model(ids)")
    logits = out[0] if isinstance(out, (tuple, list)) else out
    if _shape(logits) != (2, 12, vocab_size):
        _fail(f"the model should give one logit per character of the vocabulary at every step: "
              f"(2, 12, {vocab_size}) for 2 sequences of 12; it gave {_shape(logits)}. Use "
              "return_sequences=True on every recurrent layer and end with Dense(vocab_size)")
    changed = ids.numpy().copy()
    changed[:, 8:] = (changed[:, 8:] + 1) % vocab_size       # change only the last 4 characters
    again = _call(model, tf.constant(changed), what="model(ids)")
    again = again[0] if isinstance(again, (tuple, list)) else again
    if not np.allclose(np.asarray(logits)[:, :8], np.asarray(again)[:, :8], atol=1e-5):
        _fail("the logits of the first steps change when only later characters change: the "
              "model looks ahead. Use recurrent layers that read left to right (not Bidirectional)")
    if np.allclose(np.asarray(logits)[:, 8:], np.asarray(again)[:, 8:], atol=1e-6):
        _fail("the logits do not change when the characters do: does the model read its input?")
    print(f"the model looks right: (2, 12) ids -> (2, 12, {vocab_size}) logits, reading left "
          "to right")


def clipping(fn, clip: float = 5.0) -> None:
    """fn(grads) -> the gradients clipped, each entry to [-clip, clip] (the lecture's
    `tf.clip_by_value`) or together to a global norm of `clip` (`tf.clip_by_global_norm`)."""
    grads = [tf.constant([[12.0, -0.5], [-30.0, 2.0]]), tf.constant([0.1, -7.0, 3.0])]
    got = _call(fn, grads, what="your clipping")
    if not isinstance(got, (tuple, list)) or len(got) != len(grads):
        _fail(f"clipping should return one gradient per variable, {len(grads)} here, as a list")
    got = [np.asarray(g) for g in got]
    if any(g.shape != tuple(v.shape) for g, v in zip(got, grads)):
        _fail("a clipped gradient should keep its variable's shape")
    by_value = [np.clip(np.asarray(g), -clip, clip) for g in grads]
    by_norm = [np.asarray(g) for g in tf.clip_by_global_norm(grads, clip)[0]]
    if all(np.allclose(g, v) for g, v in zip(got, by_value)):
        print(f"clipping is right: each entry to [-{clip:g}, {clip:g}]")
    elif all(np.allclose(g, v, atol=1e-5) for g, v in zip(got, by_norm)):
        print(f"clipping is right: the global norm to {clip:g}")
    elif all(np.allclose(g, np.asarray(v)) for g, v in zip(got, grads)):
        _fail("the gradients came back unchanged: nothing was clipped")
    else:
        _fail(f"the gradients are neither clipped to [-{clip:g}, {clip:g}] entry by entry "
              f"(tf.clip_by_value) nor to a global norm of {clip:g} (tf.clip_by_global_norm)")


def train_step(step, vocab_size: int, steps: int = 30) -> None:
    """step(x, y) -> loss, one training step, lowers the loss on a fixed batch that it sees
    `steps` times, starting near ln(vocab_size), as an untrained model scores."""
    rng = np.random.default_rng(1)
    x = tf.constant(rng.integers(0, vocab_size, (4, 16)), tf.int32)
    y = tf.constant(np.roll(x.numpy(), -1, axis=1), tf.int32)
    losses = [float(np.mean(_call(step, x, y, what="train_step(x, y)"))) for _ in range(steps)]
    if not np.all(np.isfinite(losses)):
        _fail(f"the loss became {losses[-1]}: lower the learning rate, or clip the gradients")
    if abs(losses[0] - np.log(vocab_size)) > 1.0:
        _fail(f"the first loss is {losses[0]:.3f}, far from ln({vocab_size}) = "
              f"{np.log(vocab_size):.3f} that an untrained model scores: is it the mean "
              "cross-entropy of the logits (from_logits=True) against the next characters?")
    if not losses[-1] < losses[0] - 0.1:
        _fail(f"the loss did not fall on one repeated batch ({losses[0]:.3f} -> "
              f"{losses[-1]:.3f} in {steps} steps): does train_step apply the gradients to "
              "model.trainable_variables?")
    print(f"the step is right: the loss fell from {losses[0]:.3f} to {losses[-1]:.3f} on one "
          "repeated batch")
