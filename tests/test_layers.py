"""libs.layers.LeakyReLU: the stock layer's values and gradients, and no oneDNN remapper failure."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from libs import layers


@pytest.mark.parametrize("slope", [0.2, 0.0, 1.5])
def test_leaky_relu_matches_keras(slope):
    x = tf.constant(np.concatenate([np.random.default_rng(0).normal(size=50), [0.0, -0.0, 1e-30]]),
                    tf.float32)
    ours, stock = layers.LeakyReLU(slope), keras.layers.LeakyReLU(slope)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_ours, y_stock = ours(x), stock(x)
        loss_ours, loss_stock = tf.reduce_sum(y_ours * x), tf.reduce_sum(y_stock * x)
    np.testing.assert_array_equal(y_ours, y_stock)
    np.testing.assert_array_equal(tape.gradient(loss_ours, x), tape.gradient(loss_stock, x))


def test_gan_step_has_no_onednn_remapper_failure():
    # With the stock LeakyReLU, TensorFlow's oneDNN remapper printed "remapper failed: ...
    # Mutation::Apply error: fanout '.../LeakyReluGrad' exist for missing node '.../BiasAdd'"
    # when tracing this step (TensorFlow 2.21), in red in every GAN and VAE-GAN notebook cell.
    script = textwrap.dedent("""
        import numpy as np
        from libs import gan
        model = gan.GAN(gan.GANConfig(image_size=16, n_features=4, batch_size=4, equilibrium=True))
        model.train_step(np.zeros((4, 16, 16, 1), np.float32))
        print("ok")
    """)
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="0")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
    assert "oneDNN custom operations are on" in done.stderr  # the rewriter really ran
    assert "remapper failed" not in done.stderr, done.stderr[-3000:]
