"""Sampling from a recurrent language model: greedy, temperature, top-k and top-p, after a prime.

`choose` draws the next symbol of every stream from its logits; `streams` runs a model's
compiled loop (`CharRNN.generate_chunk`: `advance` one symbol, `choose`, repeat) for many
texts side by side, in chunks of CHUNK symbols and batches of at most STREAMS texts, so that
memory stays bounded for any length and number. `charrnn.sample` checks its arguments, reads
the prime and decodes what these return.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

CHUNK = 256     # symbols per call of the compiled sampling loop
STREAMS = 4096  # texts sampled side by side at most


def choose(logits, seed, temperature, top_k, top_p, greedy, use_k, use_p):
    """Next ids (S,) from logits (S, V): argmax, or a draw from the softmax at `temperature`
    among the top-k / top-p characters.

    The draw inverts the cumulative distribution with one uniform number per stream: the id is
    how many cumulative probabilities lie at or below u * total. That takes one random number
    per stream where `tf.random.categorical` takes one per vocabulary entry, and it is faster
    (`benchmarks/bench_charrnn.py` compares the two); the cumulative sums are one small matmul
    with a triangle of ones, which XLA runs faster than `tf.cumsum` on the CPU.
    """
    if greedy:
        return tf.argmax(logits, -1, output_type=tf.int32)
    # Shifted so that the largest is 0 before dividing: a tiny temperature sends the others to
    # -inf and leaves the most likely at 0, which is greedy sampling, never inf - inf = NaN.
    logits = (logits - tf.reduce_max(logits, -1, keepdims=True)) / temperature
    V = tf.shape(logits)[-1]
    if use_k or use_p:
        ranked = tf.sort(logits, axis=-1, direction="DESCENDING")  # (S, V)
        if use_k:
            k = tf.minimum(top_k, V)
            ranked = tf.where(tf.range(V) < k, ranked, -np.inf)
        if use_p:  # keep the most likely characters until their mass reaches top_p
            probs = tf.nn.softmax(ranked)
            before = tf.cumsum(probs, axis=-1, exclusive=True)
            k = tf.reduce_sum(tf.cast(before < top_p, tf.int32), -1, keepdims=True)
            ranked = tf.where(tf.range(V) < k, ranked, -np.inf)
        kept = tf.reduce_min(tf.where(tf.math.is_inf(ranked), np.inf, ranked), -1, keepdims=True)
        logits = tf.where(logits < kept, -np.inf, logits)
    p = tf.exp(logits)  # unnormalised, (S, V), the largest 1
    cdf = tf.matmul(p, tf.linalg.band_part(tf.ones([V, V]), 0, -1))  # cumulative sums
    u = tf.random.stateless_uniform([tf.shape(p)[0], 1], seed) * cdf[:, -1:]
    ids = tf.reduce_sum(tf.cast(cdf <= u, tf.int32), -1)
    last = tf.argmax(tf.where(p > 0, tf.range(V), -1), -1, output_type=tf.int32)
    return tf.minimum(ids, last)  # u * total can round up to the total


def streams(model, ids: np.ndarray, n: int, n_symbols: int, seed: int, args,
            stop: int | None = None) -> np.ndarray:
    """ids (n_symbols, n): n texts generated after the prime's `ids` (at least one) by `model`,
    STREAMS at a time, each batch of streams drawing from its own seed derived from `seed`;
    `args` are those of `generate_chunk` after `start` (temperature, top_k, top_p, greedy,
    use_k, use_p). The same seed gives the same texts. With a `stop` id, a batch of streams
    stops after the chunk in which each has generated it (the rest is filled with `stop`)."""
    pieces = []
    for start in range(0, n, STREAMS):
        batch_seed = int(np.random.SeedSequence([seed, start]).generate_state(1)[0])
        pieces.append(_streams(model, ids, min(STREAMS, n - start), n_symbols, batch_seed, args,
                               stop))
    return np.concatenate(pieces, axis=1)


def _streams(model, ids: np.ndarray, S: int, n_symbols: int, seed: int, args,
             stop: int | None) -> np.ndarray:
    """ids (n_symbols, S) generated after the prime's `ids` by S streams side by side."""
    states = model.initial_states(S)
    if len(ids) > 1:  # read the prime once, all of it but the last symbol
        _, states = model(np.tile(ids[None, :-1], (S, 1)), states)
    first = tf.fill([S], int(ids[-1]))
    pieces, done, stopped = [np.zeros((0, S), np.int32)], 0, np.zeros(S, bool)
    while done < n_symbols and not stopped.all():
        n = min(CHUNK, n_symbols - done)
        out, states = model.generate_chunk(first, states, tf.constant(n),
                                           tf.constant(seed, tf.int64),
                                           tf.constant(done, tf.int64), *args)
        pieces.append(out.numpy()[:n])                             # (n, S)
        first = tf.constant(pieces[-1][-1])
        done += n
        if stop is not None:
            stopped |= (pieces[-1] == stop).any(0)
    if done < n_symbols:  # every stream stopped early
        pieces.append(np.full((n_symbols - done, S), stop, np.int32))
    return np.concatenate(pieces)
