"""Self-checks for the homework: run one after each exercise, and it says what is wrong in the
exercise's own terms, or what is right.

    checks.input_pipeline(image_batches, files, 32, 1)     # batches of the right crops
    D = checks.discriminator(build_discriminator, 32, 1, 32)   # "D looks right: ..." or CheckFailed
    G = checks.generator(build_generator, 100, 32, 1, 32)
    checks.discriminator_loss(my_d_loss)                   # against gan.discriminator_loss
    checks.generator_loss(my_g_loss)
    d_vars, g_vars, d_opt, g_opt = checks.variables_and_optimizers(choose, D, G)
    checks.slerp(my_slerp)                                 # along the great circle
    checks.manifold(my_manifold)                           # a grid between four corners
    E = checks.encoder(build_encoder, 32, 1, 32, 100)      # images -> (mean, log_var)
    checks.vaegan_losses(feature_loss, vaegan_losses)      # the three networks' losses
    checks.vaegan_step(make_vaegan_step, E, G, D, real)    # three optimizers, gated
    checks.vocabulary(my_vocabulary, text)                 # sorted characters and their ids
    model = checks.charrnn_model(build_model, vocab_size, 256, 2)   # left to right
    checks.clipping(clip)                                  # by value or by global norm
    checks.train_step(train_step, vocab_size)              # a loss that falls
    checks.greedy(my_greedy, model)                        # the state carried by hand
    checks.priming(read_primes, model, primes)             # several streams side by side
    checks.sampling(my_draw)                               # ids drawn with their probabilities
    checks.temperature(my_softmax)                         # logits / T, then softmax

Each check takes the student's function, runs it on small fixed inputs, compares with what the
library's own version gives on the same inputs (fixed seeds), and raises `CheckFailed`, an
AssertionError, with one sentence naming the mistake: a wrong shape, a flipped sign, a sigmoid
applied to logits twice, a network that ignores its input or its arguments (each builder is
also called with other ones), a shared optimizer, or an exercise not written yet (its
`raise NotImplementedError()` still in place). An error in the student's code is named with
its line of the cell, also from inside a tf.function, without the stack TensorFlow lists.
Passing prints one line, and a check of a builder returns what it built.
"""
from __future__ import annotations

import linecache
import re
import traceback
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import tensorflow as tf
import keras

from libs import dataset_utils, gan, latents, vaegan


class CheckFailed(AssertionError):
    """An exercise's result is not right yet; the message says what to fix.

    Jupyter shows it as one red line, the message, without the check's own code around it."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for how an error is shown
        return [f"\x1b[31m{type(self).__name__}\x1b[39m: {self}"]


def _fail(message: str):
    raise CheckFailed(message) from None


# A frame as TensorFlow lists them in the message of an error inside a tf.function: the graph's
# "defined at (most recent call last):" and autograph's "in user code:".
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def _in_cell(filename: str) -> bool:
    return "ipykernel" in filename or filename.startswith("<ipython-input")


def _where(error: Exception) -> str:
    """' (line N of your cell: `code`)': the last line of a notebook cell the error came
    through, where the student's code is; '' when none did. Inside a tf.function the Python
    traceback ends in TensorFlow, and the cell's line is found among the frames its message
    lists."""
    cells = [(f.filename, f.lineno, f.line) for f in traceback.extract_tb(error.__traceback__)
             if _in_cell(f.filename)]
    cells += [(name, int(line), None) for name, line in _FRAME.findall(str(error))
              if _in_cell(name)]
    if not cells:
        return ""
    name, line, code = cells[-1]
    code = (code or linecache.getline(name, line)).strip()
    return f" (line {line} of your cell: `{code}`)" if code else f" (line {line} of your cell)"


def _message(error: Exception, limit: int = 400) -> str:
    """The error's message on one line, without the frames TensorFlow lists in it for an error
    inside a tf.function (`_where` names the student's line) or its node names."""
    text = str(error)
    frames = list(_FRAME.finditer(text))
    if frames:  # the message follows the last frame (and that frame's code line)
        text = text[frames[-1].end():].split("\n\n", 1)[-1]
    # TensorFlow's names of nodes, ops and the function that ran them
    text = re.sub(r"\[\[\{\{node .*?\}\}\]\]|\{\{function_node [^}]*\}\}|\[Op:[^\]]*\]( name: \S*)?",
                  "", text)
    text = re.sub(r"^[\w.]*(Error|Exception): ", "", " ".join(text.split()))  # named already
    return text if len(text) <= limit else text[:limit] + "..."


def _call(fn, *args, what: str):
    """fn(*args), with an error inside the student's code named as such."""
    try:
        return fn(*args)
    except CheckFailed:
        raise
    except NotImplementedError:
        _fail(f"{what} is not written yet: put your code in place of "
              "`raise NotImplementedError()` in the exercise's cell, run it, then this check")
    except Exception as e:  # any error of the student's code is reported in their terms
        if "This optimizer can only be called for the variables it was originally built" in str(e):
            _fail(f"{what} applies one optimizer to two networks' variables: give each network "
                  "its own optimizer (Adam keeps statistics per variable)")
        if "No gradients provided for any variable" in str(e):
            _fail(f"{what} has no gradients to apply: compute the loss inside the GradientTape's "
                  "`with` block, from the network's output, and take its gradient with respect "
                  "to the variables that network's optimizer trains")
        _fail(f"{what} raised {type(e).__name__}{_where(e)}: {_message(e)}")


def _shape(x) -> tuple:
    return tuple(int(d) for d in np.shape(x))


def _last_activation(model) -> str:
    """The name of the activation of `model`'s last layer ("" if none is named)."""
    layers = getattr(model, "layers", None)
    return getattr(getattr(layers[-1], "activation", None), "__name__", "") if layers else ""


def _values(variables) -> list:
    """Copies of the variables' values, to tell later whether a step changed them."""
    return [np.array(v.numpy()) for v in variables]


def _changed(before, variables) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(before, _values(variables)))


# --- Part 1: the GAN ---------------------------------------------------------------------------

def input_pipeline(fn, files, image_size: int, channels: int, batch_size: int = 8) -> None:
    """fn(files, batch_size, image_size, crop_factor) -> a tf.data.Dataset of float32 batches
    (B, S, S, C) in 0-255: every file read once, shuffled, each image resized and centre-cropped
    to the central `crop_factor` of it, as `dataset_utils.create_input_pipeline` does."""
    files = list(files)[:4 * batch_size]      # a few batches are enough to tell
    got = _call(fn, files, batch_size, image_size, 0.8, what="image_batches")
    if not isinstance(got, tf.data.Dataset):
        _fail(f"image_batches should return the tf.data.Dataset that "
              f"dataset_utils.create_input_pipeline gives, got {type(got).__name__}")
    batches = [np.asarray(b) for b in _call(list, got, what="reading the batches")]
    if not batches:
        _fail("the dataset gave no batch: pass the files and n_epochs=1")
    want = (batch_size, image_size, image_size, channels)
    if batches[0].shape != want:
        _fail(f"the first batch has shape {batches[0].shape}, expected {want}: "
              f"crop_shape=(image_size, image_size) and batch_size={batch_size}")
    n = sum(len(b) for b in batches)
    if n != len(files):
        _fail(f"one pass should give each of the {len(files)} files once; it gave {n} images: "
              "n_epochs=1")
    images = np.concatenate(batches)
    if images.max() <= 1.0:
        _fail(f"the images lie in [{images.min():.2f}, {images.max():.2f}]; the pipeline gives "
              "0-255 (the GAN's step scales them to [-1, 1] itself)")
    reference = np.concatenate(list(dataset_utils.create_input_pipeline(
        files, batch_size, 1, crop_shape=(image_size, image_size), crop_factor=0.8,
        shuffle=False)))
    if np.array_equal(images, reference):
        _fail("the images come in the order of the files: shuffle them (the default), so that "
              "no batch holds only neighbours")
    if not np.allclose(images.mean(axis=0), reference.mean(axis=0), atol=1.0):
        _fail("the images differ from the central 80% of each file resized to "
              f"{image_size}x{image_size}: crop_factor=0.8")
    print(f"the pipeline is right: {len(batches)} shuffled batches {want} of the central 80% of "
          "each image, 0-255")


def _other_shape(image_size: int, channels: int) -> tuple[int, int]:
    """Another image size and number of channels, to build a network again with: a network
    written for the notebook's images only fails on CelebA's 64x64x3 later, far from its code."""
    return (image_size * 2 if image_size <= 32 else image_size // 2), (3 if channels == 1 else 1)


def _uses_n_features(net: str, built, build, what: str, args: tuple, index: int) -> None:
    """`net` built with n_features (args[index], the exercise's) doubled has more weights than
    `built`, the exercise's network."""
    wider = args[:index] + (2 * args[index],) + args[index + 1:]
    call = f"{what}({', '.join(map(str, wider))})"
    if _call(build, *wider, what=call).count_params() <= built.count_params():
        _fail(f"{net} = {call} has no more weights than with n_features = {args[index]}: let "
              "n_features set how many maps its convolutions have")


def _follows_arguments(net: str, build, what: str, args: tuple, x, given: str, want: tuple,
                       arguments: str) -> None:
    """`net` = build(*args), built with other arguments than the exercise's, maps x (`given`,
    in words) to outputs of the shape `want` (a tuple of shapes for several outputs)."""
    call = f"{what}({', '.join(map(str, args))})"
    other = _call(build, *args, what=call)
    try:
        out = other(x)
        got = tuple(map(_shape, out)) if isinstance(out, (tuple, list)) else _shape(out)
        wrong = None if got == want else f"gave {got}"
    except Exception as e:
        wrong = f"raised {type(e).__name__} ({_message(e, 160)})"
    if wrong:
        _fail(f"{net} = {call}, given {given}, {wrong} instead of {want}: build {net} for the "
              f"{arguments} it is given, whatever they are")


def discriminator(build, image_size: int, channels: int, n_features: int):
    """D = build(image_size, channels, n_features) maps images (B, S, S, C) in [-1, 1] to one
    logit per image, (B, 1), depends on its input, and has weights to train; built for another
    image size and number of channels, it takes those, and with more features it has more
    weights. Returns D."""
    D = _call(build, image_size, channels, n_features, what="build_discriminator")
    if not isinstance(D, keras.Model):
        _fail(f"D should be a keras.Model (keras.Sequential or keras.Model(inputs, outputs)), "
              f"got {type(D).__name__}")
    x = tf.random.stateless_uniform((4, image_size, image_size, channels), (1, 2), -1, 1)
    out = _call(D, x, what="D(images)")
    if _shape(out) != (4, 1):
        _fail(f"D should give one logit per image, shape (4, 1) for 4 images; it gave "
              f"{_shape(out)}. End with keras.layers.Flatten() and keras.layers.Dense(1)")
    out = np.asarray(out)
    if _last_activation(D) == "sigmoid":
        _fail("D ends with a sigmoid. Return the logit (no activation on the last Dense); the "
              "losses apply the sigmoid themselves")
    if np.allclose(out, out[0]):
        _fail("D gives the same output for every image: does its output depend on its input?")
    if not D.trainable_variables:
        _fail("D has no trainable weights")
    size, c = _other_shape(image_size, channels)
    _follows_arguments("D", build, "build_discriminator", (size, c, n_features),
                       tf.zeros((2, size, size, c)), f"2 images of {size}x{size}x{c}", (2, 1),
                       "image_size and channels")
    _uses_n_features("D", D, build, "build_discriminator", (image_size, channels, n_features), 2)
    print(f"D looks right: (4, {image_size}, {image_size}, {channels}) -> (4, 1) logits, "
          f"{D.count_params():,} weights")
    return D


def generator(build, n_latent: int, image_size: int, channels: int, n_features: int):
    """G = build(n_latent, image_size, channels, n_features) maps latents (B, n_latent) to
    images (B, S, S, C) in [-1, 1] that depend on z; built for other n_latent, S and C, it
    gives those, and with more features it has more weights. Returns G."""
    G = _call(build, n_latent, image_size, channels, n_features, what="build_generator")
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
    size, c = _other_shape(image_size, channels)
    _follows_arguments("G", build, "build_generator", (n_latent + 1, size, c, n_features),
                       tf.zeros((2, n_latent + 1)), "2 latents", (2, size, size, c),
                       "n_latent, image_size and channels")
    _uses_n_features("G", G, build, "build_generator",
                     (n_latent, image_size, channels, n_features), 3)
    print(f"G looks right: (4, {n_latent}) -> {want} in [{out.min():.2f}, {out.max():.2f}], "
          f"{G.count_params():,} weights")
    return G


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


def variables_and_optimizers(choose, D, G):
    """choose(D, G) -> (d_vars, g_vars, d_opt, g_opt): each network trains its own variables,
    all of them, with its own optimizer. Returns the four."""
    chosen = _call(choose, D, G, what="choose_variables_and_optimizers")
    if not isinstance(chosen, (tuple, list)) or len(chosen) != 4:
        _fail("return four things: d_vars, g_vars, d_opt, g_opt")
    d_vars, g_vars, d_opt, g_opt = chosen

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
    return d_vars, g_vars, d_opt, g_opt


def gan_step(step, D, G, real, steps: int = 2) -> None:
    """step(real) -> (d_loss, g_loss), one training step of the GAN on real images in [-1, 1]:
    both networks' weights change, and their batch normalisation runs in training mode (its
    moving averages move), as `training=True` makes it."""
    def moving(net):
        return [v for v in net.non_trainable_variables if "moving_mean" in (v.path or v.name)]

    before = {net: (_values(net.trainable_variables), _values(moving(net))) for net in (D, G)}
    for _ in range(steps):
        got = _call(step, real, what="gan_step(real)")
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        _fail("gan_step should return two losses: (d_loss, g_loss)")
    if not all(np.all(np.isfinite(np.asarray(v))) for v in got):
        _fail(f"the losses are not finite ({[float(np.mean(v)) for v in got]}): check the losses")
    for net, who, opt in ((D, "D", "d_opt"), (G, "G", "g_opt")):
        weights, averages = before[net]
        if not _changed(weights, net.trainable_variables):
            _fail(f"{who}'s weights did not change: apply {opt}'s gradients of {who}'s loss to "
                  f"{who}'s variables in the step")
        if averages and not _changed(averages, moving(net)):
            _fail(f"{who}'s batch normalisation did not update its moving averages: call {who} "
                  f"with training=True inside the step (the original fed is_training=True), so "
                  "that it normalises by each batch and learns the averages it uses to sample")
    print(f"the GAN step is right: D and G both learn, in training mode; after {steps} steps "
          f"d_loss {float(np.mean(got[0])):.3f}, g_loss {float(np.mean(got[1])):.3f}")


def equilibrium(fn, margin: float = 0.2) -> None:
    """fn(real_loss, fake_loss, margin) -> (update_g, update_d), the original homework's rule, as
    `gan.equilibrium_updates`: D learns while neither of its losses is more than `margin` below
    ln 2, G while neither is more than `margin` above it, and both when the rule stops both."""
    values = (0.3, 0.6, 0.69, 0.8, 1.1)
    for real in values:
        for fake in values:
            r, f = tf.constant(real), tf.constant(fake)
            got = _call(fn, r, f, margin, what="your equilibrium rule")
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                _fail("the rule should return two booleans: (update_g, update_d)")
            got = tuple(bool(v) for v in got)
            want = tuple(bool(v) for v in gan.equilibrium_updates(r, f, margin))
            if got == want:
                continue
            if got == want[::-1]:
                _fail(f"at D losses {real} (real) and {fake} (fake) the two answers are swapped: "
                      "a D that wins (losses below ln 2) should stop, and G go on")
            _fail(f"at D losses {real} (real) and {fake} (fake), margin {margin}, your rule "
                  f"says update G {got[0]}, D {got[1]}; the original's: G {want[0]}, D {want[1]}. "
                  f"D learns while neither loss is below ln 2 - margin = {np.log(2) - margin:.3f}"
                  f", G while neither is above ln 2 + margin = {np.log(2) + margin:.3f}, and both "
                  "when the rule would stop both")
    print(f"the equilibrium rule is right on all {len(values) ** 2} pairs of losses checked")


def slerp(fn) -> None:
    """fn(z0, z1, t) -> the latent a fraction t (0 to 1) of the way from z0 to z1 along the great
    circle between their directions (the original's `utils.slerp`): with omega the angle
    between them, sin((1 - t) omega) / sin(omega) z0 + sin(t omega) / sin(omega) z1."""
    z0, z1 = latents.latent(2, 16, seed=11)
    want = latents.interpolate(z0, z1, 5, "slerp")
    got = []
    for t in np.linspace(0, 1, 5):
        z = np.asarray(_call(fn, z0, z1, float(t), what="your slerp"), np.float64)
        if z.shape != z0.shape:
            _fail(f"slerp should give one latent, shape {z0.shape}; it gave {z.shape}")
        got.append(z)
    got = np.stack(got)
    if np.allclose(got, want, atol=1e-4):
        print("slerp is right: on the great circle from z0 (t = 0) to z1 (t = 1)")
        return
    if np.allclose(got, latents.interpolate(z0, z1, 5, "lerp"), atol=1e-4):
        _fail("that is the straight line, (1 - t) z0 + t z1; slerp follows the arc: weigh z0 by "
              "sin((1 - t) omega) / sin(omega) and z1 by sin(t omega) / sin(omega)")
    if np.allclose(got, want[::-1], atol=1e-4):
        _fail("slerp runs from z1 to z0: t = 0 should give z0, t = 1 give z1")
    _fail("slerp should give sin((1 - t) omega) / sin(omega) z0 + sin(t omega) / sin(omega) z1, "
          "omega the angle between z0 and z1 (np.arccos of the cosine of their directions)")


def add_attribute(fn):
    """fn(z, direction, amounts) -> z + a * direction for each a of `amounts`, (len(amounts),
    n_latent), as `latents.add_attribute`. Returns fn."""
    rng = np.random.default_rng(5)
    z, direction = rng.normal(size=4).astype(np.float32), rng.normal(size=4).astype(np.float32)
    amounts = [-2.0, -0.5, 0.0, 1.0, 3.0]
    got = np.asarray(_call(fn, z, direction, amounts, what="your move_along"))
    want = latents.add_attribute(z, direction, amounts)
    if got.shape != want.shape:
        _fail(f"move_along should give one latent per amount, shape {want.shape}; it gave "
              f"{got.shape}")
    if np.allclose(got, want, atol=1e-5):
        print("move_along is right: negative amounts subtract the direction, amounts beyond 1 "
              "extrapolate")
        return fn
    if np.allclose(got, latents.add_attribute(direction, z, amounts), atol=1e-5):
        _fail("z and the direction are swapped: the face is z, moved by amount * direction")
    _fail("each row should be z + amount * direction")


def manifold(fn, n: int = 5) -> None:
    """fn(corners, n) -> an n x n grid of latents (n * n, n_latent), row by row, between four
    corner latents: the left edge runs from corners[0] down to corners[1], the right edge from
    corners[2] down to corners[3], and each row is a straight line from its left to its right
    edge, as the original's `utils.make_latent_manifold` (`latents.manifold`)."""
    corners = np.random.default_rng(3).normal(size=(4, 6)).astype(np.float32)
    got = np.asarray(_call(fn, corners, n, what="your manifold"))
    want = latents.manifold(corners, n)
    if got.shape != want.shape:
        _fail(f"the grid should hold n * n = {n * n} latents of {corners.shape[1]}, shape "
              f"{want.shape}, one row of the grid after another; it has shape {got.shape}")
    if np.allclose(got, want, atol=1e-5):
        print(f"the manifold is right: a {n}x{n} grid between the four corners")
        return
    grid = want.reshape(n, n, -1)
    if np.allclose(got, grid.transpose(1, 0, 2).reshape(n * n, -1), atol=1e-5):
        _fail("the grid is transposed: corners[0] to corners[1] runs down the left edge (the "
              "first latent of each row), corners[0] to corners[2] along the top row")
    top_left, bottom_right = got[0], got[-1]
    if not (np.allclose(top_left, corners[0], atol=1e-5)
            and np.allclose(bottom_right, corners[3], atol=1e-5)):
        _fail("the grid's first and last latents should be corners[0] and corners[3]: "
              "np.linspace includes both ends")
    _fail("each row should be np.linspace(left[i], right[i], n), with left = np.linspace("
          "corners[0], corners[1], n) and right = np.linspace(corners[2], corners[3], n)")


_MEAN = tf.constant([[0.5, -1.0, 0.0], [2.0, 0.1, -0.3]])     # fixed q(z|x) the VAE is checked on
_LOG_VAR = tf.constant([[0.0, -2.0, 1.0], [0.4, -0.5, -1.0]])


def reparameterize(fn) -> None:
    """fn(mean, log_var, eps) -> z = mean + exp(log_var / 2) * eps: a sample of N(mean, var)
    that gradients flow through, as the VAE-GAN's step draws it."""
    eps = tf.random.stateless_normal(_MEAN.shape, (5, 6))
    got = np.asarray(_call(fn, _MEAN, _LOG_VAR, eps, what="your reparameterisation"))
    want = (_MEAN + tf.exp(0.5 * _LOG_VAR) * eps).numpy()
    if got.shape != want.shape:
        _fail(f"z should have the shape of the mean, {want.shape}; it has {got.shape}")
    if np.allclose(got, want, atol=1e-5):
        print("the reparameterisation is right: z = mean + exp(log_var / 2) * eps")
        return
    if np.allclose(got, (_MEAN + tf.exp(_LOG_VAR) * eps).numpy(), atol=1e-5):
        _fail("eps is scaled by the variance, exp(log_var); scale it by the standard deviation, "
              "exp(log_var / 2)")
    _fail("z should be mean + exp(log_var / 2) * eps: the mean, plus the noise scaled by the "
          "standard deviation")


def kl_prior(fn) -> None:
    """fn(mean, log_var) -> KL(N(mean, exp(log_var)) || N(0, I)), summed over z and averaged over
    the batch, as `vaegan.kl_prior`."""
    got = float(np.mean(_call(fn, _MEAN, _LOG_VAR, what="your KL divergence")))
    want = float(vaegan.kl_prior(_MEAN, _LOG_VAR))
    if np.isclose(got, want, rtol=1e-4):
        print(f"the KL divergence is right: {got:.4f} on the check's two latents")
        return
    if np.isclose(got, -want, rtol=1e-4):
        _fail("the KL divergence has the wrong sign: it is >= 0, and 0 only for N(0, I) itself")
    if np.isclose(got, want / _MEAN.shape[-1], rtol=1e-4):
        _fail("the KL divergence is averaged over the latent's dimensions; sum over them (each "
              "dimension is an independent Gaussian) and average over the batch")
    _fail(f"the KL divergence is {got:.4f} on the check's latents, expected {want:.4f}: "
          "0.5 * sum(mean^2 + exp(log_var) - 1 - log_var) over z, averaged over the batch")


def encoder(build, image_size: int, channels: int, n_features: int, n_latent: int):
    """E = build(image_size, channels, n_features, n_latent) maps images (B, S, S, C) in
    [-1, 1] to two outputs, (mean, log_var), each (B, n_latent), that depend on the image;
    built for other S, C and n_latent, it takes and gives those, and with more features it has
    more weights. Returns E."""
    E = _call(build, image_size, channels, n_features, n_latent, what="build_encoder")
    if not isinstance(E, keras.Model):
        _fail(f"E should be a keras.Model, got {type(E).__name__}")
    x = tf.random.stateless_uniform((4, image_size, image_size, channels), (7, 8), -1, 1)
    out = _call(E, x, what="E(images)")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        _fail("E should give two outputs, [mean, log_var]: keras.Model(x, [mean, log_var])")
    mean, log_var = (np.asarray(v) for v in out)
    for value, name in ((mean, "mean"), (log_var, "log_var")):
        if value.shape != (4, n_latent):
            _fail(f"{name} should be one latent of {n_latent} per image, (4, {n_latent}) for 4 "
                  f"images; it is {value.shape}. Flatten, then Dense({n_latent})")
        if np.allclose(value, value[0]):
            _fail(f"E gives the same {name} for every image: does it depend on its input?")
    if np.allclose(mean, log_var):
        _fail("mean and log_var are the same: give each its own Dense layer")
    if np.all(log_var >= 0):
        _fail("log_var is never negative: it is a logarithm, any real number. Leave its Dense "
              "without an activation (exp(log_var) is the variance)")
    size, c = _other_shape(image_size, channels)
    _follows_arguments("E", build, "build_encoder", (size, c, n_features, n_latent + 1),
                       tf.zeros((2, size, size, c)), f"2 images of {size}x{size}x{c}",
                       ((2, n_latent + 1),) * 2, "image_size, channels and n_latent")
    _uses_n_features("E", E, build, "build_encoder",
                     (image_size, channels, n_features, n_latent), 2)
    print(f"E looks right: (4, {image_size}, {image_size}, {channels}) -> mean and log_var, "
          f"(4, {n_latent}) each, {E.count_params():,} weights")
    return E


_FEATURES = (tf.reshape(tf.range(24, dtype=tf.float32) / 8.0, (2, 2, 2, 3)),   # Dis_l of x
             tf.reshape(tf.range(24, 0, -1, dtype=tf.float32) / 10.0, (2, 2, 2, 3)))


def vaegan_losses(feature_fn, losses_fn, gamma: float = 0.5) -> None:
    """feature_fn(real_features, fake_features) -> L_llike, half the squared distance of the
    discriminator's features summed per image and averaged over the batch (`vaegan.
    feature_loss`); losses_fn(prior, llike, real_logits, tilde_logits, p_logits, gamma) ->
    (enc_loss, dec_loss, dis_loss) as `vaegan.VAEGAN.losses` forms them."""
    got = float(np.mean(_call(feature_fn, *_FEATURES, what="your feature loss")))
    want = float(vaegan.feature_loss(*_FEATURES))
    per_entry = float(tf.reduce_mean(0.5 * tf.square(_FEATURES[0] - _FEATURES[1])))
    if np.isclose(got, 2 * want, rtol=1e-4):
        _fail("the feature loss is twice the expected: it is half the squared distance (the "
              "log-likelihood of a Gaussian of variance 1 drops a factor 1/2)")
    if np.isclose(got, per_entry, rtol=1e-4) or np.isclose(got, 2 * per_entry, rtol=1e-4):
        _fail("the feature loss is averaged over the features; sum over each image's features "
              "(axis 1 after flattening), then average over the batch")
    if not np.isclose(got, want, rtol=1e-4):
        _fail(f"the feature loss is {got:.4f} on the check's features, expected {want:.4f}: "
              "0.5 * the sum of squared differences per image, averaged over the batch")
    prior, llike = tf.constant(1.5), tf.constant(4.0)
    real, tilde, fake = _REAL, _FAKE, tf.constant([[0.3], [-1.2], [2.0], [0.1]])
    got = _call(losses_fn, prior, llike, real, tilde, fake, gamma, what="your VAE-GAN losses")
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        _fail("the VAE-GAN losses should be three numbers: (enc_loss, dec_loss, dis_loss)")
    enc, dec, dis = (float(np.mean(v)) for v in got)
    d_real, d_fake = (float(v) for v in gan.discriminator_loss(real, fake))
    d_tilde = float(gan.discriminator_loss(real, tilde)[1])
    g_loss = float(gan.generator_loss(fake) + gan.generator_loss(tilde))
    want_enc, want_dec = float(prior + llike), gamma * float(llike) + g_loss
    want_dis = d_real + d_fake + d_tilde
    if not np.isclose(enc, want_enc, rtol=1e-4):
        if np.isclose(enc, float(prior) + gamma * float(llike), rtol=1e-4):
            _fail("gamma weighs the encoder's feature loss: it belongs to the decoder's loss, "
                  "gamma * llike + its GAN loss. The encoder's is prior + llike")
        _fail(f"enc_loss is {enc:.4f}, expected prior + llike = {want_enc:.4f}: the KL to the "
              "prior plus the feature loss")
    if not np.isclose(dis, want_dis, rtol=1e-4):
        if np.isclose(dis, d_real + d_fake, rtol=1e-4) or np.isclose(dis, d_real + d_tilde,
                                                                    rtol=1e-4):
            _fail("dis_loss misses one kind of fake: D learns to reject both the decoded "
                  "samples of the prior (p_logits) and the reconstructions (tilde_logits), "
                  "besides accepting the real images")
        _fail(f"dis_loss is {dis:.4f}, expected {want_dis:.4f}: the cross-entropy of D on the "
              "real images against ones plus those of both kinds of fakes against zeros")
    if not np.isclose(dec, want_dec, rtol=1e-4):
        saturating = gamma * float(llike) - d_fake - d_tilde
        if np.isclose(dec, saturating, rtol=1e-4) or np.isclose(dec, gamma * float(llike)
                                                                  - want_dis, rtol=1e-4):
            _fail("the decoder's GAN part is minus D's loss, the saturating form: it gives the "
                  "decoder almost no gradient while D wins. Use the generator loss, -log D, of "
                  "both kinds of fakes")
        if np.isclose(dec, float(llike) + g_loss, rtol=1e-4):
            _fail("the decoder's feature loss is not weighted: gamma * llike + its GAN loss")
        _fail(f"dec_loss is {dec:.4f}, expected gamma * llike + the generator loss of both "
              f"kinds of fakes = {want_dec:.4f}")
    print(f"the VAE-GAN losses are right: encoder {enc:.4f}, decoder {dec:.4f}, "
          f"discriminator {dis:.4f} on the check's values")


def vaegan_step(make_step, E, G, D, real, gamma: float = 1.0) -> None:
    """make_step(E, G, D, gamma, margin) -> step(real), one training step of the VAE-GAN, with
    three optimizers it creates, one per network. step(real) returns a dict with the losses
    `enc_loss`, `dec_loss`, `dis_loss`, D's cross-entropies `d_real` (real images) and `d_fake`
    (decoded samples of the prior), and the gates `update_g` and `update_d` of the equilibrium
    rule (`gan.equilibrium_updates`) at `margin` on those two. The encoder learns every step, the
    decoder only when update_g, the discriminator only when update_d."""
    keys = ("enc_loss", "dec_loss", "dis_loss", "d_real", "d_fake", "update_g", "update_d")
    nets = {"E": E, "G": G, "D": D}
    for margin in (10.0, 0.0):      # the gate always open, then as tight as it gets
        step = _call(make_step, E, G, D, gamma, margin, what="make_vaegan_step")
        if not callable(step):
            _fail(f"make_vaegan_step should return the step function, got {type(step).__name__}")
        for _ in range(3):
            before = {name: _values(net.trainable_variables) for name, net in nets.items()}
            got = _call(step, real, what="the VAE-GAN step")
            if not isinstance(got, dict) or set(keys) - set(got):
                _fail(f"the step should return a dict with {', '.join(keys)}; missing "
                      f"{sorted(set(keys) - set(got if isinstance(got, dict) else {}))}")
            losses = {k: float(np.mean(got[k])) for k in keys[:5]}
            if not all(np.isfinite(list(losses.values()))):
                _fail(f"the losses are not finite: {losses}")
            gates = [bool(got[k]) for k in ("update_g", "update_d")]
            rule = [bool(v) for v in gan.equilibrium_updates(losses["d_real"], losses["d_fake"],
                                                             margin)]
            if gates != rule:
                _fail(f"at D losses {losses['d_real']:.3f} (real) and {losses['d_fake']:.3f} "
                      f"(fake), margin {margin}, the gates should be update_g {rule[0]}, "
                      f"update_d {rule[1]} (gan.equilibrium_updates); the step said {gates}")
            for name, should in (("E", True), ("G", gates[0]), ("D", gates[1])):
                did = _changed(before[name], nets[name].trainable_variables)
                if did and not should:
                    _fail(f"{name} learned in a step whose gate was closed (update_"
                          f"{'g' if name == 'G' else 'd'} False): apply its gradients only "
                          "when its gate is open")
                if should and not did:
                    why = "every step" if name == "E" else "when its gate is open"
                    _fail(f"{name}'s weights did not change: apply its optimizer to the "
                          f"gradients of its loss {why}")
    print(f"the VAE-GAN step is right: three optimizers, the encoder learning every step, the "
          f"decoder and D as the gates say; last losses enc {losses['enc_loss']:.2f}, dec "
          f"{losses['dec_loss']:.2f}, dis {losses['dis_loss']:.2f}")


def attribute_vector(fn):
    """fn(z_with, z_without) -> the mean latent of the faces with an attribute minus the mean of
    those without, (n_latent,), as `latents.attribute_vector`; the two groups may differ in
    size. Returns fn."""
    rng = np.random.default_rng(2)
    z_with, z_without = rng.normal(1, 1, (5, 4)), rng.normal(0, 1, (3, 4))
    got = np.asarray(_call(fn, z_with, z_without, what="your attribute vector"))
    want = latents.attribute_vector(z_with, z_without)
    if got.shape != want.shape:
        _fail(f"the direction should be one latent, shape {want.shape}; it has {got.shape}. "
              "Average each group over its faces (axis 0) first")
    if np.allclose(got, want, atol=1e-5):
        print("the attribute vector is right: mean with minus mean without")
        return fn
    if np.allclose(got, -want, atol=1e-5):
        _fail("the direction points away from the attribute: subtract the mean of the faces "
              "without it from the mean of those with it")
    _fail("the direction should be mean(z_with, axis=0) - mean(z_without, axis=0): means, so "
          "that groups of different sizes compare")


def gif(fn, path: str) -> None:
    """fn(path) writes an animated GIF (more than one frame) at `path` that reads back."""
    _call(fn, path, what=f"your GIF function, called with {path!r},")
    if not Path(path).is_file():
        _fail(f"no file was written at {path!r}: save the GIF there (gif.build_gif(frames, "
              f"saveto=path))")
    try:
        frames = iio.imread(path, index=None)
    except Exception as e:  # noqa: BLE001 (any reader error means: not a GIF we can read)
        _fail(f"{path} cannot be read back as a GIF ({type(e).__name__}: {e})")
    if len(frames) < 2:
        _fail(f"{path} has {len(frames)} frame: an animation needs at least two")
    print(f"the GIF is right: {len(frames)} frames of {frames.shape[2]}x{frames.shape[1]} "
          "pixels, read back")


# --- Part 2: the char-RNN ----------------------------------------------------------------------

def vocabulary(fn, text: str) -> None:
    """fn(text) -> (chars, ids): the distinct characters of the text, sorted, and a dict from
    each to its position in that list, as `text.Vocabulary` numbers them."""
    got = _call(fn, text, what="your vocabulary")
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        _fail("the vocabulary should be two things: (chars, ids)")
    chars, ids = got
    want = sorted(set(text))
    if list(chars) != want:
        if sorted(chars) == want:
            _fail("sort the characters, so that the same text always gives the same ids")
        _fail(f"chars should hold each of the {len(want)} distinct characters once; it holds "
              f"{len(chars)}")
    if not isinstance(ids, dict) or any(ids.get(c) != i for i, c in enumerate(want)):
        _fail("ids should be a dict from each character to its position in chars: "
              "{c: i for i, c in enumerate(chars)}")
    print(f"the vocabulary is right: {len(chars)} characters, ids 0 to {len(chars) - 1}")


def _recurrent_cells(model) -> list:
    """The cells of the Keras recurrent layers (LSTM, GRU, SimpleRNN, RNN) in `model`, nested
    ones too, one per layer of cells: an RNN of stacked cells (`RNN([cell, cell])`, as TF1's
    MultiRNNCell) counts each."""
    found, todo = [], list(getattr(model, "layers", []))
    while todo:
        layer = todo.pop(0)
        if isinstance(layer, keras.layers.RNN):
            found.extend(getattr(layer.cell, "cells", [layer.cell]))
        else:
            todo.extend(getattr(layer, "layers", []))
    return found


def _check_stack(cells: list, n_cells: int, n_layers: int) -> None:
    """The recurrent cells of a model built by build_model(vocab_size, n_cells, n_layers):
    n_layers of them, each of n_cells (nothing to check where it has no Keras ones)."""
    if cells and len(cells) != n_layers:
        _fail(f"build_model(vocab_size, n_cells={n_cells}, n_layers={n_layers}) has "
              f"{len(cells)} recurrent layer(s): stack n_layers of them, whatever n_layers is")
    units = sorted({getattr(c, "units", n_cells) for c in cells})
    if units and units != [n_cells]:
        _fail(f"build_model(vocab_size, n_cells={n_cells}, n_layers={n_layers}) has recurrent "
              f"layers of {', '.join(map(str, units))} cells: give each n_cells, whatever "
              "n_cells is")


def charrnn_model(build, vocab_size: int, n_cells: int, n_layers: int):
    """model = build(vocab_size, n_cells, n_layers) maps ids (B, T) to logits (B, T, V), and the
    logits at step t depend on the ids up to t only (a recurrent model reads left to right).
    The logits are not probabilities (no softmax at the end), and the Keras recurrent layers
    follow the arguments: n_layers of them, each of n_cells (also when built with other
    arguments). Returns the model."""
    model = _call(build, vocab_size, n_cells, n_layers, what="build_model")
    if not callable(model):
        _fail(f"build_model should return a keras model, got {type(model).__name__}")
    ids = tf.constant(np.random.default_rng(0).integers(0, vocab_size, (2, 12)), tf.int32)
    out = _call(model, ids, what="model(ids)")
    logits = out[0] if isinstance(out, (tuple, list)) else out
    if _shape(logits) != (2, 12, vocab_size):
        _fail(f"the model should give one logit per character of the vocabulary at every step: "
              f"(2, 12, {vocab_size}) for 2 sequences of 12; it gave {_shape(logits)}. Use "
              "return_sequences=True on every recurrent layer and end with Dense(vocab_size)")
    probabilities = np.all(np.asarray(logits) >= 0) and np.allclose(np.sum(logits, -1), 1.0,
                                                                     atol=1e-4)
    if _last_activation(model) == "softmax" or probabilities:
        _fail("the model ends with a softmax: it gives probabilities. Return the logits (no "
              "activation on the last Dense); the loss (from_logits=True) and sampling apply "
              "the softmax themselves")
    changed = ids.numpy().copy()
    changed[:, 8:] = (changed[:, 8:] + 1) % vocab_size       # change only the last 4 characters
    again = _call(model, tf.constant(changed), what="model(ids)")
    again = again[0] if isinstance(again, (tuple, list)) else again
    if not np.allclose(np.asarray(logits)[:, :8], np.asarray(again)[:, :8], atol=1e-5):
        _fail("the logits of the first steps change when only later characters change: the "
              "model looks ahead. Use recurrent layers that read left to right (not Bidirectional)")
    if np.allclose(np.asarray(logits)[:, 8:], np.asarray(again)[:, 8:], atol=1e-6):
        _fail("the logits do not change when the characters do: does the model read its input?")
    rnns = _recurrent_cells(model)
    _check_stack(rnns, n_cells, n_layers)
    _check_stack(_recurrent_cells(_call(build, vocab_size, n_cells + 3, n_layers + 1,
                                        what="build_model")), n_cells + 3, n_layers + 1)
    stack = f", {n_layers} recurrent layer(s) of {n_cells}" if rnns else ""
    print(f"the model looks right: (2, 12) ids -> (2, 12, {vocab_size}) logits, reading left "
          f"to right{stack}")
    return model


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


def greedy(fn, model, prime: str = "The ", n: int = 30) -> None:
    """fn(model, prime, n) -> the n characters that follow `prime` when each next character is
    the most likely one, the state carried from character to character (`model.advance`)."""
    got = _call(fn, model, prime, n, what="your greedy decoding")
    if not isinstance(got, str) or len(got) != n:
        _fail(f"greedy decoding should return the {n} new characters as a str (not the prime); "
              f"it returned {type(got).__name__} of length {len(got) if hasattr(got, '__len__') else '?'}")
    ids = model.vocab.encode(prime)
    states, text = None, ""
    for i in ids[:-1]:
        _, states = model.advance(tf.constant([i]), states)
    current = ids[-1]
    for _ in range(n):
        logits, states = model.advance(tf.constant([current]), states)
        current = int(tf.argmax(logits[0]))
        text += model.vocab.decode([current])
    if got == text:
        print(f"greedy decoding is right: {prime!r} -> {text!r}")
        return
    first = next(k for k, (a, b) in enumerate(zip(got, text)) if a != b)
    _fail(f"greedy decoding differs from the model's at character {first} ({got[:first + 1]!r} "
          f"against {text[:first + 1]!r}): read the prime into the state, then at each step "
          "feed the last character and the states that model.advance returned, and take the "
          "argmax of the logits")


def priming(fn, model, primes) -> None:
    """fn(model, primes) -> (states, last): several primes of one length read side by side,
    one stream each, all but their last character (`model.advance` on ids (B,)); `states` is
    what the last advance returned and `last` the ids (B,) of the primes' last characters, so
    that model.advance(last, states) gives the logits of the character after each prime."""
    primes = list(primes)
    if len({len(p) for p in primes}) != 1 or len(primes[0]) < 2:
        raise ValueError("priming checks primes of one length, at least 2 characters each")
    got = _call(fn, model, primes, what="your priming")
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        _fail("read_primes should return two things: (states, last ids)")
    states, last = got
    last = np.asarray(last).reshape(-1)
    ids = np.array([model.vocab.encode(p) for p in primes])           # (B, T)
    if last.shape != (len(primes),):
        _fail(f"the last ids should be one per prime, shape ({len(primes)},); got {last.shape}")
    if not np.array_equal(last, ids[:, -1]):
        _fail("the last ids should be those of each prime's last character")
    streams = {int(np.shape(s)[0]) for s in tf.nest.flatten(states)} if states else {0}
    if streams != {len(primes)}:
        _fail(f"the states should hold {len(primes)} streams, one per prime; they hold "
              f"{sorted(streams)}. Advance all primes together, ids (B,) per call")
    logits = np.asarray(_call(model.advance, tf.constant(last, tf.int32), states,
                              what="model.advance(last, your states)")[0])
    want = np.asarray(model(tf.constant(ids))[0])[:, -1]               # (B, V)
    if np.allclose(logits, want, atol=1e-4):
        print(f"priming is right: {len(primes)} primes of {ids.shape[1]} characters read side "
              "by side")
        return
    everything = np.asarray(model(tf.constant(np.concatenate([ids, ids[:, -1:]], 1)))[0])[:, -1]
    if np.allclose(logits, everything, atol=1e-4):
        _fail("the states have read the last character too, so it counts twice: read all but "
              "the last, which is the input of the first step that writes")
    alone = np.asarray(model.advance(tf.constant(last, tf.int32))[0])
    if np.allclose(logits, alone, atol=1e-4):
        _fail("the states are where they started: pass the states that model.advance returned "
              "into the next call")
    _fail("the logits after your states differ from the model's after the same primes: feed "
          "one character of every prime per call, ids (B,), carrying the states from call to "
          "call")


def sampling(fn, n: int = 4000) -> None:
    """fn(probabilities (B, V), rng) -> one id per row (B,), each drawn at random with its row's
    probabilities, from the NumPy Generator `rng`."""
    probabilities = np.array([[0.5, 0.3, 0.2, 0.0]] * n)
    got = np.asarray(_call(fn, probabilities, np.random.default_rng(0), what="your sampling"))
    if got.shape != (n,):
        _fail(f"sampling should give one id per row: shape ({n},) for {n} rows; got {got.shape}")
    if np.all(got == 0):
        _fail("every draw is the most likely id: that is greedy decoding. Draw at random with "
              "the row's probabilities (rng.choice(V, p=row), or compare rng.random() with the "
              "cumulative sum)")
    if np.any(got == 3):
        _fail("an id of probability 0 was drawn: draw with the probabilities, not uniformly")
    frequencies = np.bincount(got.astype(int), minlength=4)[:4] / n
    if np.abs(frequencies - probabilities[0]).max() > 0.03:
        _fail(f"the ids came {np.round(frequencies, 3).tolist()} of the time, where their "
              f"probabilities are {probabilities[0].tolist()}: draw each with its probability")
    print(f"sampling is right: {n} draws came {np.round(frequencies, 3).tolist()} of the time "
          f"for probabilities {probabilities[0].tolist()}")


def temperature(fn) -> None:
    """fn(logits, temperature) -> the probabilities softmax(logits / temperature), (B, V)."""
    logits = tf.constant([[2.0, 1.0, 0.0, -1.0], [0.5, 0.5, 3.0, -2.0]])
    for t in (0.5, 1.0, 2.0):
        got = np.asarray(_call(fn, logits, t, what="your temperature function"))
        want = tf.nn.softmax(logits / t).numpy()
        if got.shape != want.shape:
            _fail(f"the probabilities should have the logits' shape {want.shape}; got {got.shape}")
        if np.allclose(got, want, atol=1e-5):
            continue
        if not np.allclose(got.sum(axis=-1), 1, atol=1e-4):
            _fail("each row should sum to 1: apply the softmax after dividing by the temperature")
        if np.allclose(got, tf.nn.softmax(logits * t).numpy(), atol=1e-5):
            _fail("the logits are multiplied by the temperature: divide them, so that a low "
                  "temperature sharpens the distribution and a high one flattens it")
        _fail(f"at temperature {t} the probabilities differ from softmax(logits / {t})")
    print("the temperature is right: softmax(logits / T), sharper below 1, flatter above")
