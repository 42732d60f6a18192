"""Tests for libs.metrics: units and exact sums."""
import math

import numpy as np
import pytest
import tensorflow as tf

from libs import metrics


def test_bits_per_char_and_perplexity():
    assert metrics.bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert metrics.bits_per_char(math.log(256)) == pytest.approx(8.0)
    assert metrics.perplexity(0.0) == 1.0
    assert metrics.perplexity(math.log(50)) == pytest.approx(50.0)


def test_sparse_cross_entropy_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 7)).astype(np.float32)
    labels = rng.integers(0, 7, size=(3, 5))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nats = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]  # (3, 5)
    total, count = metrics.sparse_cross_entropy(labels, logits)
    assert float(total) == pytest.approx(nats.sum(), rel=1e-5)
    assert float(count) == 15
    weights = (rng.random((3, 5)) < 0.5).astype(np.float32)
    total, count = metrics.sparse_cross_entropy(labels, logits, weights)
    assert float(total) == pytest.approx((nats * weights).sum(), rel=1e-5)
    assert float(count) == weights.sum()


def test_uniform_prediction_costs_log_v_nats():
    total, count = metrics.sparse_cross_entropy(tf.constant([0, 3, 9]), tf.zeros((3, 10)))
    assert float(total / count) == pytest.approx(math.log(10), rel=1e-6)
    assert metrics.bits_per_char(float(total / count)) == pytest.approx(math.log2(10), rel=1e-6)


def test_unigram_entropy_is_the_context_free_baseline():
    assert metrics.unigram_entropy("aaaa") == 0.0
    assert metrics.unigram_entropy("abab") == pytest.approx(math.log(2))
    assert metrics.unigram_entropy("aab\u00e9") == pytest.approx(-(0.5 * math.log(0.5)
                                                                   + 2 * 0.25 * math.log(0.25)))
    with pytest.raises(ValueError, match="empty"):
        metrics.unigram_entropy("")
