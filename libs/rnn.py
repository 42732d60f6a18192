"""Recurrent networks: the basic RNN, LSTM and GRU cells, and exploding and vanishing gradients.

Read top to bottom: one time step of each cell; its backward step; `run_sequence`, which runs a
cell over a whole sequence with backpropagation through time written by hand; `Recurrent`, a
Keras layer of cells (what `libs.charrnn` stacks); then a demonstration of how the gradient
through time vanishes or explodes:

    layer = rnn.Recurrent("gru", 256, input_dim=64)
    hs, state = layer.run(layer.project(x))         # x (T, B, D) -> hs (T, B, H)
    rnn.plot_gradient_through_time(rnn.gradient_demo())

Shapes: B batch, T time steps, D inputs, H cells per layer, G gates (1, 3 or 4).

Speed: the input projection x @ W of all T steps is one large matmul (`Recurrent.project`), and
only h @ U stays in the time loop. Backpropagation through time is written by hand
(`tf.custom_gradient`): the loop carries only the state gradients and the weight gradient
dU = sum_t h_{t-1}^T dz_t is one matmul afterwards. Tests check the cells against Keras's
`SimpleRNNCell`, `LSTMCell` and `GRUCell` and the gradients against automatic differentiation.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras

CELLS = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


# --- Cells: one time step each ----------------------------------------------------------------
# xw is the input projection x @ W + b of this step, (B, G*H); U the recurrent kernel (H, G*H).
# Each returns the new state and what backpropagation needs ("saved"). Gate order and
# equations are Keras's, so weights move between the two.

def _rnn_step(xw, state, U, b_rec):
    h = tf.tanh(xw + tf.matmul(state[0], U))                      # (B, H)
    return (h,), ()


def _lstm_step(xw, state, U, b_rec):
    h, c = state
    i, f, g, o = tf.split(xw + tf.matmul(h, U), 4, axis=-1)       # (B, H) each
    i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
    c = f * c + i * g                                             # forget some, write some
    return (o * tf.tanh(c), c), (tf.concat([i, f, g, o], -1),)


def _gru_step(xw, state, U, b_rec):
    (h,) = state
    xz, xr, xn = tf.split(xw, 3, axis=-1)
    hz, hr, hn = tf.split(tf.matmul(h, U) + b_rec, 3, axis=-1)    # Keras's reset_after=True
    z, r = tf.sigmoid(xz + hz), tf.sigmoid(xr + hr)               # update and reset gates
    n = tf.tanh(xn + r * hn)                                      # candidate state
    return (z * h + (1 - z) * n,), (z, r, n, hn)


# Backward steps: from the gradient flowing back into this step's state (carry) and into its
# output h (d_h), the gradient for the previous state and for the pre-activations.

def _rnn_back(carry, d_h, saved, prev, state, Ut):
    dpre = (carry[0] + d_h) * (1 - state[0] * state[0])           # tanh' = 1 - h^2
    return (tf.matmul(dpre, Ut),), (dpre,)


def _lstm_back(carry, d_h, saved, prev, state, Ut):
    i, f, g, o = tf.split(saved[0], 4, axis=-1)
    dh = carry[0] + d_h
    tc = tf.tanh(state[1])
    dc = carry[1] + dh * o * (1 - tc * tc)
    dpre = tf.concat([dc * g * i * (1 - i), dc * prev[1] * f * (1 - f),
                      dc * i * (1 - g * g), dh * tc * o * (1 - o)], -1)   # (B, 4H)
    return (tf.matmul(dpre, Ut), dc * f), (dpre,)


def _gru_back(carry, d_h, saved, prev, state, Ut):
    z, r, n, hn = saved
    dh = carry[0] + d_h
    dn = dh * (1 - z) * (1 - n * n)
    dz = dh * (prev[0] - n) * z * (1 - z)
    dr = dn * hn * r * (1 - r)
    drec = tf.concat([dz, dr, dn * r], -1)                        # d(h U + b_rec), (B, 3H)
    return (dh * z + tf.matmul(drec, Ut),), (tf.concat([dz, dr, dn], -1), drec)


_STEP = {"rnn": _rnn_step, "lstm": _lstm_step, "gru": _gru_step}
_BACK = {"rnn": _rnn_back, "lstm": _lstm_back, "gru": _gru_back}


def run_sequence(cell: str, xw, U, b_rec, state):
    """Run `cell` over all steps: xw (T, B, G*H) -> outputs (T, B, H), final state.

    `state` is a tuple of (B, H) tensors: (h,) or, for the LSTM, (h, c). Differentiable with
    respect to xw, U, b_rec and the initial state, by the hand-written backward pass.
    """
    step, back = _STEP[cell], _BACK[cell]

    @tf.custom_gradient
    def run(xw, U, b_rec, *state0):
        zeros = {"rnn": (), "lstm": (tf.zeros_like(xw[0]),), "gru": (tf.zeros_like(state0[0]),) * 4}
        states, saved = tf.scan(lambda carry, x: step(x, carry[0], U, b_rec), xw,
                                initializer=(tuple(state0), zeros[cell]))   # each (T, B, .)

        def grad(d_hs, *d_final):
            d_final = [tf.zeros_like(s) if d is None else d for d, s in zip(d_final, state0)]
            d_hs = tf.zeros_like(states[0]) if d_hs is None else d_hs
            prev = tuple(tf.concat([s0[None], s[:-1]], 0) for s0, s in zip(state0, states))
            Ut = tf.transpose(U)
            out0 = (tf.zeros_like(xw[0]),) * (2 if cell == "gru" else 1)
            carries, outs = tf.scan(
                lambda acc, e: back(acc[0], e[0], e[1], e[2], e[3], Ut),
                (d_hs, saved, prev, states), initializer=(tuple(d_final), out0), reverse=True)
            d_xw, d_rec = outs[0], outs[-1]                          # (T, B, G*H)
            H = U.shape[0]
            dU = tf.matmul(tf.reshape(prev[0], [-1, H]), tf.reshape(d_rec, [-1, U.shape[1]]),
                           transpose_a=True)                          # one big matmul
            db = tf.reduce_sum(d_rec, [0, 1]) if cell == "gru" else tf.zeros_like(b_rec)
            return (d_xw, dU, db) + tuple(c[0] for c in carries)

        return (states[0],) + tuple(s[-1] for s in states), grad

    out = run(xw, U, b_rec, *state)
    return out[0], tuple(out[1:])


class Recurrent(keras.layers.Layer):
    """A layer of `units` cells of kind `cell` ("rnn", "lstm" or "gru"), time-major.

    Weights have the shapes and initialisers of Keras's cells: kernel (D, G*H) Glorot uniform,
    recurrent_kernel (H, G*H) orthogonal, bias (G*H,) zeros (LSTM forget gate: ones) or, for
    the GRU, (2, 3H): input and recurrent biases.
    """

    def __init__(self, cell: str, units: int, input_dim: int, **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        self.cell, self.units, self.input_dim = cell, int(units), int(input_dim)
        width = GATES[cell] * self.units
        self.kernel = self.add_weight(shape=(self.input_dim, width), name="kernel",
                                      initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), name="recurrent_kernel",
                                                initializer="orthogonal")
        bias = np.zeros((2, width) if cell == "gru" else (width,), np.float32)
        if cell == "lstm":
            bias[self.units:2 * self.units] = 1.0  # Keras's unit_forget_bias
        self.bias = self.add_weight(shape=bias.shape, name="bias",
                                    initializer=keras.initializers.Constant(bias))
        self.built = True

    def project(self, x):
        """Input projection x @ W + b: (..., D) -> (..., G*H), for all time steps at once."""
        b = self.bias[0] if self.cell == "gru" else self.bias
        return tf.tensordot(x, self.kernel, 1) + b

    def _b_rec(self):
        return self.bias[1] if self.cell == "gru" else tf.zeros((), self.compute_dtype)

    def initial_state(self, batch_size: int) -> tuple:
        zeros = tf.zeros((batch_size, self.units))
        return (zeros, zeros) if self.cell == "lstm" else (zeros,)

    def run(self, xw, state=None):
        """xw (T, B, G*H) -> outputs (T, B, H), final state."""
        state = self.initial_state(tf.shape(xw)[1]) if state is None else tuple(state)
        return run_sequence(self.cell, xw, tf.convert_to_tensor(self.recurrent_kernel),
                            tf.convert_to_tensor(self._b_rec()), state)

    def step(self, xw, state):
        """One time step, xw (B, G*H) -> output h (B, H), new state."""
        state, _ = _STEP[self.cell](xw, tuple(state), tf.convert_to_tensor(self.recurrent_kernel),
                                    self._b_rec())
        return state[0], state


# --- Exploding and vanishing gradients through time -------------------------------------------

def gradient_through_time(cell: str = "rnn", n_steps: int = 100, n_cells: int = 64,
                          recurrent_scale: float = 1.0, batch_size: int = 8,
                          seed: int = 0) -> np.ndarray:
    """How much the last state still depends on the input k steps back: (n_steps,) norms.

    Entry k is the mean over the batch of ||d sum(h_T) / d x_{T-k}||, for a freshly initialised
    layer whose recurrent kernel is multiplied by `recurrent_scale`, fed small random inputs.
    For the basic RNN the norm falls (vanishes) or grows (explodes) geometrically with k,
    depending on the scale. The gated cells' memory path is multiplied by a gate in (0, 1), so at
    the scale of a fresh initialisation their gradient carries much further; they can still
    explode with large recurrent weights (an LSTM's cell state is unbounded), which is why
    language models clip gradients. Freshly initialised they still forget (the LSTM's forget
    gate starts near sigmoid(1) = 0.73); training learns to hold the gates open where memory
    pays.
    """
    keras.utils.set_random_seed(seed)
    layer = Recurrent(cell, n_cells, input_dim=n_cells)
    layer.recurrent_kernel.assign(layer.recurrent_kernel * recurrent_scale)
    x = tf.random.normal((n_steps, batch_size, n_cells), stddev=0.1)    # (T, B, D)
    with tf.GradientTape() as tape:
        tape.watch(x)
        hs, _ = layer.run(layer.project(x))
        target = tf.reduce_sum(hs[-1])
    grads = tape.gradient(target, x)                                    # (T, B, D)
    # The norm in float64: in float32 the squares of entries below about 1e-19 underflow to 0.
    norms = tf.reduce_mean(tf.norm(tf.cast(grads, tf.float64), axis=-1), axis=1).numpy()  # (T,)
    return norms[::-1].copy()


def gradient_demo(n_steps: int = 100, n_cells: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """`gradient_through_time` for a vanishing and an exploding basic RNN, an LSTM and a GRU."""
    runs = {"rnn, U x 0.5 (vanishing)": ("rnn", 0.5), "rnn, U x 2 (exploding)": ("rnn", 2.0),
            "lstm": ("lstm", 1.0), "gru": ("gru", 1.0)}
    return {label: gradient_through_time(cell, n_steps, n_cells, scale, seed=seed)
            for label, (cell, scale) in runs.items()}


def plot_gradient_through_time(results: dict[str, np.ndarray], ax=None):
    """Plot `gradient_demo()`'s norms against the steps back, on a log scale; returns the axes.

    A norm of 0 (the gradient itself underflowed: float32 computations flush numbers below
    about 1e-38 to 0) has no place on a log scale: its curve stops at the last step that still
    has a value, and its legend says from which step on it is 0. The legend goes below the axes,
    clear of the curves.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        ax = plt.subplots(figsize=(7, 4))[1]
    for label, norms in results.items():
        norms = np.asarray(norms, np.float64)
        zero = np.flatnonzero(norms == 0)
        if zero.size:
            label = f"{label}: 0 in float32 from k = {zero[0]}"
        ax.semilogy(np.arange(len(norms)), np.where(norms > 0, norms, np.nan), label=label)
    ax.set_xlabel("steps back from the last one (k)")
    ax.set_ylabel("||d h_T / d x_(T-k)||")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    return ax

