"""Layer helpers with the original DCGAN's hyper-parameters.

Radford et al. (2016) and the 2016 TensorFlow code this project rebuilds use
5x5 kernels with stride 2 ("SAME" padding, so each layer halves or doubles the
spatial size), weights drawn from N(0, 0.02), zero biases, batch norm with
momentum 0.9 and epsilon 1e-5 (with a learned scale), and leaky ReLU with slope
0.2 in the discriminator. Every helper takes a Keras dtype policy so the same
model runs in float32 or in mixed precision (variables stay float32).
"""
from __future__ import annotations

from shared import speed

speed.configure()    # TensorFlow's CPU kernels for this CPU: only works before its import

import tensorflow as tf  # noqa: E402 (after the kernels' choice)

keras = tf.keras

WEIGHT_STDDEV = 0.02
KERNEL_SIZE = 5
STRIDE = 2
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
LRELU_SLOPE = 0.2


def _init():
    return keras.initializers.RandomNormal(mean=0.0, stddev=WEIGHT_STDDEV)


def conv2d(filters: int, name: str, dtype=None) -> keras.layers.Layer:
    """5x5 convolution with stride 2: (B, H, W, C) -> (B, H/2, W/2, filters)."""
    return keras.layers.Conv2D(filters, KERNEL_SIZE, strides=STRIDE, padding="same",
                               kernel_initializer=_init(), bias_initializer="zeros",
                               name=name, dtype=dtype)


def deconv2d(filters: int, name: str, dtype=None) -> keras.layers.Layer:
    """5x5 transposed convolution with stride 2: (B, H, W, C) -> (B, 2H, 2W, filters)."""
    return keras.layers.Conv2DTranspose(filters, KERNEL_SIZE, strides=STRIDE, padding="same",
                                        kernel_initializer=_init(), bias_initializer="zeros",
                                        name=name, dtype=dtype)


def linear(units: int, name: str, dtype=None) -> keras.layers.Layer:
    """Fully connected layer: (B, N) -> (B, units)."""
    return keras.layers.Dense(units, kernel_initializer=_init(), bias_initializer="zeros",
                              name=name, dtype=dtype)


def batch_norm(name: str, dtype=None, synchronized: bool = False) -> keras.layers.Layer:
    """Batch norm as the original: moving averages with decay 0.9, epsilon 1e-5, learned scale.

    ``synchronized`` computes the batch statistics over the global batch of all
    replicas (several GPUs or workers), so training matches one device.
    """
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                           center=True, scale=True, name=name, dtype=dtype,
                                           synchronized=synchronized)


def lrelu(x: tf.Tensor, leak: float = LRELU_SLOPE) -> tf.Tensor:
    """Leaky ReLU, max(x, leak * x)."""
    return tf.nn.leaky_relu(x, alpha=leak)
