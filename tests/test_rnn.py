"""Tests for libs.rnn: the cells against Keras's, the hand-written gradient against autodiff,
the gradient demonstration.

Tiny shapes (4 to 16 cells, batches of 3 to 8), offline, seconds each.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from libs import rnn
from libs.rnn import Recurrent

KERAS_CELLS = {"rnn": keras.layers.SimpleRNNCell, "lstm": keras.layers.LSTMCell,
               "gru": keras.layers.GRUCell}


def randomise(layer, seed=0):
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype(np.float32))


@pytest.mark.parametrize("cell", rnn.CELLS)
def test_cell_matches_keras(cell):
    keras.utils.set_random_seed(0)
    layer = Recurrent(cell, 4, input_dim=5)
    randomise(layer)
    reference = keras.layers.RNN(KERAS_CELLS[cell](4), return_sequences=True, return_state=True)
    x = tf.random.normal((3, 7, 5))                                        # (B, T, D)
    reference(x)
    reference.set_weights([layer.kernel.numpy(), layer.recurrent_kernel.numpy(),
                           layer.bias.numpy()])
    expected = reference(x)
    hs, state = layer.run(layer.project(tf.transpose(x, [1, 0, 2])))      # time-major
    np.testing.assert_allclose(tf.transpose(hs, [1, 0, 2]), expected[0], atol=1e-5)
    for ours, theirs in zip(state, expected[1:]):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    h, state = layer.step(layer.project(x[:, 0]), layer.initial_state(3))  # one step
    np.testing.assert_allclose(h, expected[0][:, 0], atol=1e-5)


@pytest.mark.parametrize("cell", rnn.CELLS)
@pytest.mark.parametrize("mode, T", [("eager", 6), ("graph", 6), ("xla", 6), ("xla", 1)])
def test_hand_written_gradient_matches_autodiff(cell, mode, T):
    """Also compiled, where XLA updates the loops' buffers in place (`run_sequence`), and for a
    single step, where the backward loop's late write is its last."""
    keras.utils.set_random_seed(1)
    layer = Recurrent(cell, 4, input_dim=5)
    randomise(layer, 1)
    x = tf.random.normal((T, 3, 5))                                        # (T, B, D)
    state0 = tuple(tf.random.normal((3, 4)) for _ in layer.initial_state(3))
    w_out = tf.random.normal((T, 3, 4))
    w_state = [tf.random.normal((3, 4)) for _ in state0]

    def loss(hand_written):
        xw = layer.project(x)
        if hand_written:
            hs, final = layer.run(xw, state0, training=True)      # built while training
        else:  # the same step function, differentiated by TensorFlow
            U, b = tf.convert_to_tensor(layer.recurrent_kernel), layer._b_rec()
            saved = {"rnn": (), "lstm": (tf.zeros_like(xw[0]),),
                     "gru": (tf.zeros_like(xw[0]), tf.zeros_like(state0[0]))}[cell]
            states, _ = tf.scan(lambda c, xt: rnn._STEP[cell](xt, c[0], U, b), xw,
                                initializer=(state0, saved))
            hs, final = states[0], tuple(s[-1] for s in states)
        return tf.reduce_sum(hs * w_out) + sum(tf.reduce_sum(f * w) for f, w in zip(final, w_state))

    def gradients(hand_written):
        with tf.GradientTape() as tape:
            tape.watch([x, *state0])
            value = loss(hand_written)
        return tape.gradient(value, [*layer.trainable_variables, x, *state0])

    if mode != "eager":
        gradients = tf.function(gradients, jit_compile=mode == "xla")
    for ours, reference in zip(gradients(True), gradients(False)):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)


def test_hand_written_backward_pass_is_built_while_training_only(monkeypatch):
    """Training takes the fast backward pass; a forward pass alone (evaluation, a prime) keeps
    nothing for it, and TensorFlow still differentiates it."""
    calls = []
    back = rnn._BACK["lstm"]
    monkeypatch.setitem(rnn._BACK, "lstm", lambda *args: calls.append(1) or back(*args))
    layer = Recurrent("lstm", 4, input_dim=5)
    x = tf.random.normal((3, 2, 5))
    grads = {}
    for training in (False, True):
        with tf.GradientTape() as tape:
            tape.watch(x)
            hs, _ = layer.run(layer.project(x), training=training)
            loss = tf.reduce_sum(hs ** 2)
        grads[training] = tape.gradient(loss, x)
        assert len(calls) == (3 if training else 0)
    np.testing.assert_allclose(grads[False], grads[True], rtol=1e-5, atol=1e-6)


def test_gradient_demo_vanishes_and_explodes():
    import matplotlib
    matplotlib.use("Agg")
    results = rnn.gradient_demo(n_steps=30, n_cells=16)
    assert len(results) == 4 and all(r.shape == (30,) for r in results.values())
    vanishing, exploding = results["rnn, U x 0.5 (vanishing)"], results["rnn, U x 2 (exploding)"]
    assert vanishing[-1] < 1e-3 * vanishing[0]
    assert exploding[-1] > 100 * exploding[0]
    ax = rnn.plot_gradient_through_time(results)
    assert len(ax.lines) == 4 and ax.get_yscale() == "log"


def test_gradient_plot_stops_where_the_norm_underflows():
    import matplotlib
    matplotlib.use("Agg")
    ax = rnn.plot_gradient_through_time({"a": np.array([1.0, 1e-30, 0.0, 0.0]),
                                         "b": np.array([1.0, 2.0, 3.0, 4.0])})
    underflowing, fine = ax.lines
    assert np.isnan(underflowing.get_ydata()[2:]).all() and underflowing.get_ydata()[1] == 1e-30
    assert underflowing.get_label() == "a: 0 in float32 from k = 2" and fine.get_label() == "b"
    assert min(ax.get_ylim()) > 1e-40   # no drop towards 0


# --- The options: recurrent dropout and layer normalisation ---------------------------------

def keras_cell_with(layer, **kwargs):
    """Keras's cell of `layer`'s kind, with its weights."""
    reference = KERAS_CELLS[layer.cell](layer.units, **kwargs)
    reference.build((None, layer.input_dim))
    reference.set_weights([layer.kernel.numpy(), layer.recurrent_kernel.numpy(),
                           layer.bias.numpy()])
    return reference


@pytest.mark.parametrize("cell", rnn.CELLS)
def test_recurrent_dropout_is_keras_s_with_one_mask_for_every_step(cell):
    keras.utils.set_random_seed(4)
    layer = Recurrent(cell, 4, input_dim=5, recurrent_dropout=0.5)
    randomise(layer, 4)
    reference = keras_cell_with(layer, recurrent_dropout=0.5)
    x = tf.random.normal((3, 6, 5))                                        # (B, T, D)
    xw = layer.project(tf.transpose(x, [1, 0, 2]))
    seed = tf.constant([3, 7], tf.int64)
    mask = layer.recurrent_mask(3, seed)                                   # (G, B, H)
    assert mask.shape == (rnn.GATES[cell], 3, 4) and np.any(mask.numpy() == 0)
    for training in (False, True):
        hs, final = layer.run(xw, training=training, seed=seed)
        if training:  # Keras's cell keeps its masks for every step: give it ours
            reference._recurrent_dropout_mask = mask[0] if cell == "rnn" else list(mask)
        state, expected = [tf.zeros((3, 4))] * len(final), []
        for t in range(6):
            h, state = reference(x[:, t], state, training=training)
            expected.append(h)
        np.testing.assert_allclose(hs, tf.stack(expected), atol=1e-5)      # (T, B, H)
        for ours, theirs in zip(final, state):
            np.testing.assert_allclose(ours, theirs, atol=1e-5)
    plain, _ = layer.run(xw)
    assert not np.allclose(hs, plain, atol=1e-3)  # the mask did something in training


def test_recurrent_mask_is_seeded_and_drops_the_expected_fraction():
    layer = Recurrent("gru", 32, input_dim=2, recurrent_dropout=0.25)
    mask = layer.recurrent_mask(64, tf.constant([1, 2], tf.int64)).numpy()  # (3, 64, 32)
    assert set(np.unique(mask)) == {0.0, np.float32(1 / 0.75)}
    assert abs((mask == 0).mean() - 0.25) < 0.03                         # 6,144 draws: sd 0.006
    assert not np.array_equal(mask[0], mask[1])                          # a mask per gate
    np.testing.assert_array_equal(mask, layer.recurrent_mask(64, tf.constant([1, 2], tf.int64)))
    assert not np.array_equal(mask, layer.recurrent_mask(64, tf.constant([1, 3], tf.int64)))


def np_layer_norm(x, gain_bias, groups=1):
    grouped = x.reshape(x.shape[:-1] + (groups, -1))
    normal = (grouped - grouped.mean(-1, keepdims=True)) / np.sqrt(
        grouped.var(-1, keepdims=True) + 1e-5)
    return normal.reshape(x.shape) * gain_bias[0] + gain_bias[1]


def np_layer_norm_step(layer, x, state):
    """One step of Ba et al.'s layer-normalised cell, in NumPy: x (B, D) -> new state."""
    def sigmoid(v):
        return 1 / (1 + np.exp(-v))
    W, U, b = layer.kernel.numpy(), layer.recurrent_kernel.numpy(), layer.bias.numpy()
    G = rnn.GATES[layer.cell]
    xw = np_layer_norm(x @ W, layer.input_norm.numpy(), G)
    hu = np_layer_norm(state[0] @ U, layer.recurrent_norm.numpy(), G)
    if layer.cell == "rnn":
        return (np.tanh(xw + hu + b),)
    if layer.cell == "lstm":
        i, f, g, o = np.split(xw + hu + b, 4, axis=-1)
        c = sigmoid(f) * state[1] + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(np_layer_norm(c, layer.cell_norm.numpy())), c
    xz, xr, xn = np.split(xw + b[0], 3, axis=-1)
    hz, hr, hn = np.split(hu + b[1], 3, axis=-1)
    z, r = sigmoid(xz + hz), sigmoid(xr + hr)
    return (z * state[0] + (1 - z) * np.tanh(xn + r * hn),)


@pytest.mark.parametrize("cell", rnn.CELLS)
def test_layer_norm_step_is_the_papers_equations_and_run_agrees_with_step(cell):
    layer = Recurrent(cell, 4, input_dim=5, layer_norm=True)
    assert [w.name for w in layer.weights] == ["kernel", "recurrent_kernel", "bias", "input_norm",
                                               "recurrent_norm"] + ["cell_norm"] * (cell == "lstm")
    randomise(layer, 5)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5, 3, 5)).astype(np.float32)                      # (T, B, D)
    state = tuple(rng.normal(size=(3, 4)).astype(np.float32) for _ in layer.initial_state(3))
    expected = np_layer_norm_step(layer, x[0], state)
    h, stepped = layer.step(layer.project(x[0]), state)
    for ours, theirs in zip(stepped, expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    hs, final = layer.run(layer.project(x), state)
    np.testing.assert_allclose(hs[0], h, atol=1e-6)
    for t in range(1, 5):  # and every later step
        h, stepped = layer.step(layer.project(x[t]), stepped)
    np.testing.assert_allclose(hs[-1], h, atol=1e-5)
    for ours, theirs in zip(final, stepped):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("cell", rnn.CELLS)
def test_gradient_with_both_options_matches_finite_differences(cell):
    # In float64, in training (a fixed mask): every weight, the inputs and the initial state.
    layer = Recurrent(cell, 3, input_dim=2, recurrent_dropout=0.4, layer_norm=True,
                      dtype="float64")
    rng = np.random.default_rng(6)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape))
    x = tf.Variable(rng.normal(size=(4, 2, 2)))                            # (T, B, D)
    state0 = [tf.Variable(rng.normal(size=(2, 3))) for _ in layer.initial_state(2)]
    w_out = tf.constant(rng.normal(size=(4, 2, 3)))
    seed = tf.constant([5, 6], tf.int64)

    @tf.function
    def loss():
        hs, final = layer.run(layer.project(x), state0, training=True, seed=seed)
        return tf.reduce_sum(hs * w_out) + sum(tf.reduce_sum(f * f) for f in final)

    variables = [*layer.weights, x, *state0]
    with tf.GradientTape() as tape:
        value = loss()
    grads = tape.gradient(value, variables)
    eps = 1e-6
    for variable, grad in zip(variables, grads):
        numeric = np.zeros(variable.shape)
        for index in np.ndindex(*variable.shape):
            original = variable.numpy()
            for sign in (1, -1):
                moved = original.copy()
                moved[index] += sign * eps
                variable.assign(moved)
                numeric[index] += sign * float(loss()) / (2 * eps)
            variable.assign(original)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6, err_msg=variable.name)


@pytest.mark.parametrize("kwargs, message", [
    (dict(recurrent_dropout=1.0), r"recurrent_dropout must be a number in \[0, 1\), got 1.0"),
    (dict(recurrent_dropout=-0.1), r"recurrent_dropout must be a number in \[0, 1\), got -0.1"),
    (dict(layer_norm="yes"), "layer_norm must be True or False, got 'yes'")])
def test_options_refuse_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Recurrent("gru", 4, input_dim=5, **kwargs)
