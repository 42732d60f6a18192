"""Recurrent networks: the basic RNN, LSTM and GRU cells, and exploding and vanishing gradients.

Read top to bottom: what the two options below change in a step; one time step of each cell;
its backward step; `run_sequence`, which runs a cell over a whole sequence with
backpropagation through time written by hand; `Recurrent`, a Keras layer of cells (what
`libs.charrnn` stacks); then a demonstration of how the gradient through time vanishes or
explodes:

    layer = rnn.Recurrent("gru", 256, input_dim=64)
    hs, state = layer.run(layer.project(x))         # x (T, B, D) -> hs (T, B, H)
    rnn.plot_gradient_through_time(rnn.gradient_demo())

Shapes: B batch, T time steps, D inputs, H cells per layer, G gates (1, 3 or 4).

Speed: the input projection x @ W of all T steps is one large matmul (`Recurrent.project`), and
only h @ U stays in the time loop. Backpropagation through time is written by hand
(`tf.custom_gradient`): the loop carries only the state gradients and the weight gradient
dU = sum_t h_{t-1}^T dz_t is one matmul afterwards. Tests check the cells against Keras's
`SimpleRNNCell`, `LSTMCell` and `GRUCell` and the gradients against automatic differentiation.

Two options regularise and steady training (`Recurrent(..., recurrent_dropout=0.25,
layer_norm=True)`): dropout on the recurrent state h_{t-1} before h_{t-1} U, with one mask per
sequence and gate, the same at every step (Gal & Ghahramani 2016, as Keras's cells do it), and
layer normalisation of x W, of h U and of the LSTM's cell state (Ba, Kiros & Hinton 2016). With
either on, the loop is differentiated by TensorFlow (a correct path, not the fast one); with
both off nothing of them is computed.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import keras

from libs.arguments import check_number

CELLS = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


# --- The options: layer normalisation and the recurrent dropout mask --------------------------

def layer_norm(x, gain_bias, groups: int = 1, epsilon: float = 1e-5):
    """x (..., groups*H) normalised to mean 0 and variance 1 within each group of H units (one
    gate's), then scaled by gain_bias[0] and shifted by gain_bias[1], each (groups*H,)."""
    grouped = tf.reshape(x, tf.concat([tf.shape(x)[:-1], [groups, -1]], 0))   # (..., groups, H)
    mean, variance = tf.nn.moments(grouped, axes=[-1], keepdims=True)
    normal = (grouped - mean) * tf.math.rsqrt(variance + epsilon)
    return tf.reshape(normal, tf.shape(x)) * gain_bias[0] + gain_bias[1]


class CellOptions:
    """What the options change in a cell's step: `mask` (G, B, H), recurrent dropout's (None:
    none), and the gain and bias of layer norm for h U (2, G*H) and the LSTM's cell state
    (2, H) (None: not normalised). Built by `Recurrent`; the steps take it as `options`."""

    def __init__(self, groups: int, mask=None, recurrent_norm=None, cell_norm=None):
        self.groups, self.mask = groups, mask
        self.recurrent_norm, self.cell_norm = recurrent_norm, cell_norm

    def recurrent(self, h, U):
        """The recurrent projection (B, G*H): gate g's from h * mask[g], then normalised."""
        if self.mask is None:
            hu = tf.matmul(h, U)
        else:  # one matmul per gate, each with its own mask, as Keras's implementation=1
            hu = tf.concat([tf.matmul(h * m, u) for m, u in
                            zip(tf.unstack(self.mask), tf.split(U, self.groups, axis=1))], -1)
        return hu if self.recurrent_norm is None else layer_norm(hu, self.recurrent_norm,
                                                                 self.groups)

    def cell_state(self, c):
        return c if self.cell_norm is None else layer_norm(c, self.cell_norm)


def _recurrent(h, U, options):
    return tf.matmul(h, U) if options is None else options.recurrent(h, U)


# --- Cells: one time step each ----------------------------------------------------------------
# xw is the input projection x @ W + b of this step, (B, G*H); U the recurrent kernel (H, G*H);
# options a CellOptions or None (the plain cell). Each returns the new state and what
# backpropagation needs ("saved"). Gate order and equations are Keras's, so weights move
# between the two.

def _rnn_step(xw, state, U, b_rec, options=None):
    h = tf.tanh(xw + _recurrent(state[0], U, options))           # (B, H)
    return (h,), ()


def _lstm_scale(H: int, dtype):
    """s of each gate's units, i, f, g, o: 1/2 for the sigmoids, 1 for tanh (see `_lstm_step`)."""
    return tf.constant([0.5] * (2 * H) + [1.0] * H + [0.5] * H, dtype)


def _lstm_step(xw, state, U, b_rec, options=None):
    h, c = state
    # The four activations as one: sigmoid(z) = 0.5 tanh(z / 2) + 0.5, so with s = 1/2 for
    # i, f, o and s = 1 for g, all four gates are s tanh(s z) + 1 - s. One element-wise pass
    # instead of four slices and a concatenation for backpropagation: compiled on 2 AMD EPYC
    # cores, an LSTM layer's 100 steps forward took 60 ms instead of 88 (its matrix products
    # alone: 47).
    scale = _lstm_scale(h.shape[-1], xw.dtype)
    gates = tf.tanh((xw + _recurrent(h, U, options)) * scale) * scale + (1 - scale)
    i, f, g, o = tf.split(gates, 4, axis=-1)                      # (B, H) each
    c = f * c + i * g                                             # forget some, write some
    tc = tf.tanh(c if options is None else options.cell_state(c))
    return (o * tc, c), (gates,)


def _gru_step(xw, state, U, b_rec, options=None):
    (h,) = state
    xz, xr, xn = tf.split(xw, 3, axis=-1)
    hz, hr, hn = tf.split(_recurrent(h, U, options) + b_rec, 3, axis=-1)   # reset_after=True
    z, r = tf.sigmoid(xz + hz), tf.sigmoid(xr + hr)               # update and reset gates
    n = tf.tanh(xn + r * hn)                                      # candidate state
    return (z * h + (1 - z) * n,), (tf.concat([z, r, n], -1), hn)


# Backward steps: from the gradient flowing back into this step's state (carry) and into its
# output h (d_h), the gradient for the previous state and for the pre-activations.

def _rnn_back(carry, d_h, saved, prev, state, Ut):
    dpre = (carry[0] + d_h) * (1 - state[0] * state[0])           # tanh' = 1 - h^2
    return (tf.matmul(dpre, Ut),), (dpre,)


def _lstm_back(carry, d_h, saved, prev, state, Ut):
    gates = saved[0]
    i, f, g, o = tf.split(gates, 4, axis=-1)
    dh = carry[0] + d_h
    tc = tf.tanh(state[1])
    dc = carry[1] + dh * o * (1 - tc * tc)
    # d gate / d z of every gate in one expression, as the forward step computes them: a gate
    # s tanh(s z) + 1 - s has the derivative s^2 - (gate - 1 + s)^2 = (1 - gate)(gate + 2s - 1),
    # the sigmoid's (1 - gate) gate and tanh's (1 - gate)(1 + gate); as a product it stays exact
    # to rounding where a gate saturates, also in bfloat16, where the difference of squares
    # does not. Times what multiplies each gate, [g, c_prev, i, tc], and the gradient reaching
    # it, [dc, dc, dc, dh]: one (B, 4H) pass. XLA on the CPU fuses no concatenation into the
    # pass that reads it: the four gates' products concatenated cost four passes over the saved
    # gates and a copy per step. Compiled on 2 AMD EPYC cores (Zen 5), the lecture model's
    # training step took 158-161 ms instead of 167-170 (best of 10 rounds, twice).
    s = _lstm_scale(dh.shape[-1], gates.dtype)
    dpre = (tf.concat([dc, dc, dc, dh], -1) * tf.concat([g, prev[1], i, tc], -1)
            * (1 - gates) * (gates + (2 * s - 1)))                        # (B, 4H)
    return (tf.matmul(dpre, Ut), dc * f), (dpre,)


def _gru_back(carry, d_h, saved, prev, state, Ut):
    zrn, hn = saved
    z, r, n = tf.split(zrn, 3, axis=-1)
    dh = carry[0] + d_h
    dn = dh * (1 - z) * (1 - n * n)
    dz = dh * (prev[0] - n) * z * (1 - z)
    dr = dn * hn * r * (1 - r)
    drec = tf.concat([dz, dr, dn * r], -1)                        # d(h U + b_rec), (B, 3H)
    return (dh * z + tf.matmul(drec, Ut),), (tf.concat([dz, dr, dn], -1), drec)


_STEP = {"rnn": _rnn_step, "lstm": _lstm_step, "gru": _gru_step}
_BACK = {"rnn": _rnn_back, "lstm": _lstm_back, "gru": _gru_back}


def _buffer(like, n):
    """A TensorArray of `n` elements shaped like `like`: in XLA one (n, ...) buffer, each
    write at a step updating it in place."""
    return tf.TensorArray(like.dtype, n, element_shape=like.shape)


def run_sequence(cell: str, xw, U, b_rec, state, options: CellOptions | None = None,
                 backward: bool = True):
    """Run `cell` over all steps: xw (T, B, G*H) -> outputs (T, B, H), final state.

    `state` is a tuple of (B, H) tensors: (h,) or, for the LSTM, (h, c). Differentiable with
    respect to xw, U, b_rec and the initial state, by the hand-written backward pass; with
    `options` (recurrent dropout, layer norm), or with `backward` False (a forward pass that
    keeps nothing for a backward one: evaluation, sampling's prime), by TensorFlow's automatic
    differentiation.

    Buffers: each per-step array of the loops is a (T, ...) buffer that XLA updates in place,
    and a new one starts as zeros written over it. Two are not new: the forward step writes the
    array the backward step reads of x's shape (the LSTM's gates; the GRU's z, r and n) where
    it read step t's x, and the backward step writes d_xw where it read that array. That spares
    filling and copying two buffers of (T, B, G*H) per layer (20 MB each for the lecture's
    LSTM): on 2 cores of an Intel Xeon with AMX, the lecture's LSTM on the path "fast" trained
    9-10% faster (43,600-43,900 characters/s against 39,900-40,000, best of 8 rounds in turns
    in one process, twice), a GRU of the same size 1-3% (51,000-51,300 against 49,300-50,700).
    """
    step, back = _STEP[cell], _BACK[cell]
    if options is not None or not backward:
        states = tf.scan(lambda carry, x: step(x, carry, U, b_rec, options)[0], xw,
                         initializer=tuple(state))                 # each (T, B, H)
        return states[0], tuple(s[-1] for s in states)
    in_place = cell in ("lstm", "gru")  # saving first an array of x's shape, (B, G*H)

    @tf.custom_gradient
    def run(xw, U, b_rec, *state0):
        n = tf.shape(xw)[0]
        xs = _buffer(xw[0], n).unstack(xw)
        saved = (_buffer(state0[0], n),) if cell == "gru" else ()  # the GRU's hn (B, H)

        def body(t, state, xs, outs, saved):
            state, keep = step(xs.read(t), state, U, b_rec)
            if in_place:  # the LSTM's gates, the GRU's z, r and n, where x was
                xs, keep = xs.write(t, keep[0]), keep[1:]
            saved = tuple(ta.write(t, k) for ta, k in zip(saved, keep))
            return (t + 1, state, xs, tuple(ta.write(t, s) for ta, s in zip(outs, state)),
                    saved)
        outs = tuple(_buffer(s, n) for s in state0)
        _, _, xs, outs, saved = tf.while_loop(lambda t, *_: t < n, body,
                                              (0, tuple(state0), xs, outs, saved))
        states = tuple(ta.stack() for ta in outs)                  # each (T, B, H)
        like_x = xs.stack() if in_place else None                  # (T, B, G*H), or none
        saved = tuple(ta.stack() for ta in saved)                  # the others

        def grad(d_hs, *d_final):
            d_final = tuple(tf.zeros_like(s) if d is None else d for d, s in zip(d_final, state0))
            d_hs = tf.zeros_like(states[0]) if d_hs is None else d_hs
            Ut = tf.transpose(U)
            prev = tuple(tf.concat([s0[None], s[:-1]], 0) for s0, s in zip(state0, states))

            def back_step(t, carry, outs):
                keep = ((outs[0].read(t),) if in_place else ()) + tuple(s[t] for s in saved)
                return back(carry, d_hs[t], keep, tuple(p[t] for p in prev),
                            tuple(s[t] for s in states), Ut)

            # The backward step's outputs: d_xw, and the GRU's d(h U + b_rec).
            outs = tuple(_buffer(xw[0], n) for _ in range(2 if cell == "gru" else 1))
            if in_place:
                # d_xw where the saved array of x's shape was, step t's outputs written one
                # iteration late, first thing in the next: every read of the buffer in an
                # iteration then follows its write (else XLA copies the whole buffer at each
                # step to keep the two apart). n + 1 iterations: the last (t = -1) only writes
                # step 0's (written after the loop, XLA fused that write with the reshape that
                # reads the buffer, a copy of it all; written inside tf.cond, a copy at each
                # step). The first puts a row's own value back, or zeros.
                def body(i, carry, pending, outs):
                    t = n - 1 - i
                    outs = tuple(ta.write(tf.minimum(t + 1, n - 1), p)
                                 for ta, p in zip(outs, pending))
                    carry, pending = tf.cond(t >= 0, lambda: back_step(t, carry, outs),
                                             lambda: (carry, pending))
                    return i + 1, carry, pending, outs
                first = (like_x[n - 1],) + tuple(tf.zeros_like(xw[0]) for _ in outs[1:])
                _, carries, _, outs = tf.while_loop(
                    lambda i, *_: i <= n, body,
                    (0, d_final, first, (outs[0].unstack(like_x),) + outs[1:]))
            else:
                def body(i, carry, outs):
                    t = n - 1 - i
                    carry, out = back_step(t, carry, outs)
                    return i + 1, carry, tuple(ta.write(t, o) for ta, o in zip(outs, out))
                _, carries, outs = tf.while_loop(lambda i, *_: i < n, body, (0, d_final, outs))
            d_xw = outs[0].stack()                                 # (T, B, G*H)
            d_rec = outs[-1].stack() if cell == "gru" else d_xw
            H = U.shape[0]
            dU = tf.matmul(tf.reshape(prev[0], [-1, H]), tf.reshape(d_rec, [-1, U.shape[1]]),
                           transpose_a=True)                          # one big matmul
            db = tf.reduce_sum(d_rec, [0, 1]) if cell == "gru" else tf.zeros_like(b_rec)
            return (d_xw, dU, db) + tuple(carries)

        return (states[0],) + tuple(s[-1] for s in states), grad

    out = run(xw, U, b_rec, *state)
    return out[0], tuple(out[1:])


class Recurrent(keras.layers.Layer):
    """A layer of `units` cells of kind `cell` ("rnn", "lstm" or "gru"), time-major.

    Weights have the shapes and initialisers of Keras's cells: kernel (D, G*H) Glorot uniform,
    recurrent_kernel (H, G*H) orthogonal, bias (G*H,) zeros (LSTM forget gate: ones) or, for
    the GRU, (2, 3H): input and recurrent biases.

    `recurrent_dropout` in [0, 1): while training (`run(..., training=True, seed=...)`), each
    gate sees h_{t-1} * mask before h_{t-1} U, one mask (B, H) per gate and sequence, the same
    at every step (`recurrent_mask`), as in Keras's cells; dropping a unit afresh at every step
    would erase the memory it carries.

    `layer_norm`: the pre-activations are LN(x W) + LN(h U) + b, each gate's H units
    normalised on their own, and the LSTM's output is o * tanh(LN(c)) (Ba, Kiros & Hinton
    2016). Each LN has a gain (starting at 1) and a bias (at 0): the weights input_norm and
    recurrent_norm (2, G*H) and, for the LSTM, cell_norm (2, H), made only with the option, so
    checkpoints without it still restore. Recurrent models use layer norm, not batch norm:
    batch statistics would differ from step to step, and sampling a single stream has no batch
    to take them from, whereas layer norm is per example and step, the same in training and
    sampling.
    """

    def __init__(self, cell: str, units: int, input_dim: int, recurrent_dropout: float = 0.0,
                 layer_norm: bool = False, **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if not isinstance(layer_norm, (bool, np.bool_)):
            raise ValueError(f"layer_norm must be True or False, got {layer_norm!r}")
        self.recurrent_dropout = check_number("recurrent_dropout", recurrent_dropout, 0, 1,
                                              open_high=True)
        self.layer_norm = bool(layer_norm)
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
        if self.layer_norm:  # attributes, so that tf.train.Checkpoint finds them
            def gain_bias(n):
                return keras.initializers.Constant(np.stack([np.ones(n), np.zeros(n)]))
            self.input_norm = self.add_weight(shape=(2, width), name="input_norm",
                                              initializer=gain_bias(width))
            self.recurrent_norm = self.add_weight(shape=(2, width), name="recurrent_norm",
                                                  initializer=gain_bias(width))
            if cell == "lstm":
                self.cell_norm = self.add_weight(shape=(2, self.units), name="cell_norm",
                                                 initializer=gain_bias(self.units))
        self.built = True

    def _w(self, weight):
        """A weight (float32) in the layer's compute dtype: bfloat16 or float16 when built
        under a mixed precision policy (`paths.precision_scope`), where Keras's own layers cast
        in `__call__`."""
        return tf.cast(weight, self.compute_dtype)

    def project(self, x):
        """Input projection x @ W + b (with layer_norm: LN(x @ W) + b): (..., D) -> (..., G*H),
        for all time steps at once."""
        b = self._w(self.bias[0] if self.cell == "gru" else self.bias)
        xw = tf.tensordot(self._w(x), self._w(self.kernel), 1)
        if self.layer_norm:
            return layer_norm(xw, self._w(self.input_norm), GATES[self.cell]) + b
        return xw + b

    def _b_rec(self):
        return self._w(self.bias[1]) if self.cell == "gru" else tf.zeros((), self.compute_dtype)

    def _own(self, state) -> tuple:
        """`state` in the layer's compute dtype: a mixed precision char-RNN called as a Keras
        model (with a prime's states) has Keras cast its inputs, states too, to float32."""
        return tuple(tf.cast(s, self.compute_dtype) for s in state)

    def initial_state(self, batch_size: int) -> tuple:
        zeros = tf.zeros((batch_size, self.units), self.compute_dtype)
        return (zeros, zeros) if self.cell == "lstm" else (zeros,)

    def recurrent_mask(self, batch_size, seed):
        """Recurrent dropout's mask (G, B, H), one (B, H) per gate: 0 with probability
        recurrent_dropout, else 1 / (1 - recurrent_dropout); a function of `seed` (2,) ints."""
        ones = tf.ones((GATES[self.cell], batch_size, self.units), self.compute_dtype)
        return tf.nn.experimental.stateless_dropout(ones, self.recurrent_dropout, seed)

    def options(self, state, training: bool = False, seed=None) -> CellOptions | None:
        """The options of a run from `state` (its batch size is the mask's); None when none
        applies (the fast path). Recurrent dropout applies in training only; without `seed`, a
        fresh mask."""
        dropping = bool(training) and self.recurrent_dropout > 0
        if not (dropping or self.layer_norm):
            return None
        if dropping and seed is None:
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
        mask = self.recurrent_mask(tf.shape(state[0])[0], seed) if dropping else None
        norms = [self._w(getattr(self, name)) if hasattr(self, name) else None
                 for name in ("recurrent_norm", "cell_norm")]
        return CellOptions(GATES[self.cell], mask, *norms)

    def run(self, xw, state=None, training: bool = False, seed=None):
        """xw (T, B, G*H) -> outputs (T, B, H), final state. `seed` (2,) ints: recurrent
        dropout's mask, while training. The hand-written backward pass is built while training
        (`run_sequence`'s `backward`); otherwise TensorFlow differentiates the forward loop."""
        state = self.initial_state(tf.shape(xw)[1]) if state is None else self._own(state)
        return run_sequence(self.cell, xw, self._w(self.recurrent_kernel),
                            tf.convert_to_tensor(self._b_rec()), state,
                            self.options(state, training, seed), backward=bool(training))

    def step(self, xw, state):
        """One time step, xw (B, G*H) -> output h (B, H), new state (layer norm applies,
        dropout does not: this is for sampling)."""
        state = self._own(state)
        state, _ = _STEP[self.cell](xw, state, self._w(self.recurrent_kernel),
                                    self._b_rec(), self.options(state))
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

