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
def test_hand_written_gradient_matches_autodiff(cell):
    keras.utils.set_random_seed(1)
    layer = Recurrent(cell, 4, input_dim=5)
    randomise(layer, 1)
    x = tf.random.normal((6, 3, 5))                                        # (T, B, D)
    state0 = tuple(tf.random.normal((3, 4)) for _ in layer.initial_state(3))
    w_out = tf.random.normal((6, 3, 4))
    w_state = [tf.random.normal((3, 4)) for _ in state0]

    def loss(hand_written):
        xw = layer.project(x)
        if hand_written:
            hs, final = layer.run(xw, state0)
        else:  # the same step function, differentiated by TensorFlow
            U, b = tf.convert_to_tensor(layer.recurrent_kernel), layer._b_rec()
            saved = {"rnn": (), "lstm": (tf.zeros_like(xw[0]),),
                     "gru": (tf.zeros_like(state0[0]),) * 4}[cell]
            states, _ = tf.scan(lambda c, xt: rnn._STEP[cell](xt, c[0], U, b), xw,
                                initializer=(state0, saved))
            hs, final = states[0], tuple(s[-1] for s in states)
        return tf.reduce_sum(hs * w_out) + sum(tf.reduce_sum(f * w) for f, w in zip(final, w_state))

    grads = []
    for hand_written in (True, False):
        with tf.GradientTape() as tape:
            tape.watch([x, *state0])
            value = loss(hand_written)
        grads.append(tape.gradient(value, [*layer.trainable_variables, x, *state0]))
    for ours, reference in zip(*grads):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)


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
