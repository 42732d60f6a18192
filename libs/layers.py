"""Keras layers that train faster on CPUs: strided and transposed 5x5 convolutions, batch norm,
and a leaky ReLU that TensorFlow's oneDNN graph rewriter can handle.

On CPUs TensorFlow's transposed convolution (and the input gradient of a strided one) runs at a
fraction of the speed of a forward convolution, so these layers compute it as a forward
convolution followed by depth_to_space (sub-pixel), and batch norm uses the fused kernel. Their
maths and variables are those of the Keras layers they subclass (tests/test_gan.py checks it);
on a GPU they run the stock ops.
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf
from keras import layers


@functools.lru_cache(maxsize=1)
def _on_gpu() -> bool:
    # cuDNN runs transposed convolutions well; the sub-pixel form only pays on CPUs.
    return bool(tf.config.list_logical_devices("GPU"))


def conv_transpose_subpixel(x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """`tf.nn.conv2d_transpose(x, kernel, (B, 2H, 2W, C_out), 2, "SAME")` for an odd kernel size.

    x: (B, H, W, C_in); kernel: (k, k, C_out, C_in). Each of the 4 output phases (even/odd row
    and column) is a small stride-1 convolution of x with a subset of the taps, so all four are
    one forward convolution to 4 * C_out channels followed by depth_to_space. It does 36/25 of the
    multiplications (zero taps) but forward convolutions run several times faster on CPUs.
    """
    k = int(kernel.shape[0])
    pad = (k - 2) // 2  # SAME padding before, for stride 2 and an even output size
    # Output row 2m + a receives x[m + o] * kernel[t] for every tap t with a + pad - t = 2 o.
    taps = [[((a + pad - t) // 2, t) for t in range(k) if (a + pad - t) % 2 == 0] for a in (0, 1)]
    lo = min(o for phase in taps for o, _ in phase)
    hi = max(o for phase in taps for o, _ in phase)
    index = np.full((2, hi - lo + 1), k, np.int32)  # k selects an added row of zeros
    for a, phase in enumerate(taps):
        for o, t in phase:
            index[a, o - lo] = t
    w = tf.pad(tf.transpose(kernel, [0, 1, 3, 2]), [[0, 1], [0, 1], [0, 0], [0, 0]])
    w = tf.gather(tf.gather(w, index, axis=0), index, axis=2)  # (2, T, 2, T, C_in, C_out)
    c_in, c_out = int(kernel.shape[3]), int(kernel.shape[2])
    w = tf.reshape(tf.transpose(w, [1, 3, 4, 0, 2, 5]), [hi - lo + 1, hi - lo + 1, c_in, 4 * c_out])
    y = tf.nn.conv2d(x, w, 1, [[0, 0], [-lo, hi], [-lo, hi], [0, 0]])  # (B, H, W, 4 C_out)
    return tf.nn.depth_to_space(y, 2)  # (B, 2H, 2W, C_out)


def _filter_grad(x, kernel, dy):
    return tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(kernel), out_backprop=dy,
                                           strides=[1, 2, 2, 1], padding="SAME")


@tf.custom_gradient
def _conv_s2(x, kernel):
    """Strided 5x5 convolution whose input gradient is computed sub-pixel."""
    def grad(dy):
        return conv_transpose_subpixel(dy, kernel), _filter_grad(x, kernel, dy)
    return tf.nn.conv2d(x, kernel, 2, "SAME"), grad


@tf.custom_gradient
def _conv_transpose_s2(x, kernel):
    """Transposed strided convolution computed sub-pixel; its gradients are the stock ones."""
    def grad(dy):
        return tf.nn.conv2d(dy, kernel, 2, "SAME"), _filter_grad(dy, kernel, x)
    return conv_transpose_subpixel(x, kernel), grad


def _stride2_same(layer) -> bool:
    """The configuration the sub-pixel code handles; anything else uses the Keras op."""
    return (tuple(layer.strides) == (2, 2) and layer.padding == "same"
            and tuple(layer.dilation_rate) == (1, 1) and layer.kernel_size[0] % 2 == 1
            and layer.kernel_size[0] == layer.kernel_size[1]
            and layer.data_format == "channels_last"
            and getattr(layer, "output_padding", None) is None)


class StridedConv2D(layers.Conv2D):
    """`keras.layers.Conv2D(filters, k, strides=2, padding="same")`, faster to train on CPUs."""

    def call(self, inputs):
        if _on_gpu() or not _stride2_same(self):
            return super().call(inputs)
        y = _conv_s2(inputs, tf.convert_to_tensor(self.kernel))
        y = tf.nn.bias_add(y, self.bias) if self.use_bias else y
        return self.activation(y)


class StridedConv2DTranspose(layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose(filters, k, strides=2, padding="same")`, faster on CPUs."""

    def call(self, inputs):
        if _on_gpu() or not _stride2_same(self):
            return super().call(inputs)
        y = _conv_transpose_s2(inputs, tf.convert_to_tensor(self.kernel))
        y = tf.nn.bias_add(y, self.bias) if self.use_bias else y
        return self.activation(y)


class FusedBatchNormalization(layers.BatchNormalization):
    """`keras.layers.BatchNormalization` over the last axis, training with TensorFlow's fused kernel.

    Outputs, gradients and moving statistics equal the Keras layer's. (B, C) inputs are viewed
    as (B, 1, 1, C).
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or mask is not None or inputs.shape.rank not in (2, 4) \
                or self.axis not in (-1, inputs.shape.rank - 1) or not (self.center and self.scale):
            return super().call(inputs, training=training, mask=mask)
        x = inputs if inputs.shape.rank == 4 else inputs[:, None, None, :]
        empty = tf.constant([], tf.float32)
        y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=tf.convert_to_tensor(self.gamma), offset=tf.convert_to_tensor(self.beta),
            mean=empty, variance=empty, epsilon=self.epsilon, is_training=True)
        # The kernel returns the unbiased variance; Keras averages the biased one.
        n = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
        variance = variance * (n - 1.0) / n
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + tf.stop_gradient(mean) * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + tf.stop_gradient(variance) * (1.0 - m))
        return y if inputs.shape.rank == 4 else y[:, 0, 0, :]


def _leaky_relu(x: tf.Tensor, negative_slope: float) -> tf.Tensor:
    """tf.nn.leaky_relu whose gradient reads its output y instead of its input x."""
    @tf.custom_gradient
    def leaky_relu(x):
        y = tf.nn.leaky_relu(x, negative_slope)

        def grad(dy):
            # For a slope >= 0, y > 0 exactly where x > 0: the stock op's gradient.
            return tf.raw_ops.LeakyReluGrad(gradients=dy, features=y, alpha=negative_slope)
        return y, grad
    return leaky_relu(x)


class LeakyReLU(layers.LeakyReLU):
    """`keras.layers.LeakyReLU`, with a gradient computed from its output instead of its input.

    Same values and gradients. With the stock layer after a convolution with a bias, the
    backward pass reads the pre-activation too, and TensorFlow's oneDNN remapper (on by default on
    recent Intel CPUs, or with TF_ENABLE_ONEDNN_OPTS=1) fuses the convolution with the activation
    without checking for that second reader: it then fails ("remapper failed: INVALID_ARGUMENT:
    Mutation::Apply error: fanout ... LeakyReluGrad exist for missing node ... BiasAdd", printed
    as an error) and skips all its fusions for the training step. Here nothing else reads the
    pre-activation, so the rewrite is valid.
    """

    def call(self, inputs):
        return _leaky_relu(inputs, float(self.negative_slope))
