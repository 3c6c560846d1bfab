"""Layer helpers with the original DCGAN's hyper-parameters.

Radford et al. (2016) and the 2016 TensorFlow code this project rebuilds use
5x5 kernels with stride 2 ("SAME" padding, so each layer halves or doubles the
spatial size), weights drawn from N(0, 0.02), zero biases, batch norm with
momentum 0.9 and epsilon 1e-5 (with a learned scale), and leaky ReLU with slope
0.2 in the discriminator. Every helper takes a Keras dtype policy so the same
model runs in float32 or in mixed precision (variables stay float32).

Spectral normalisation (Miyato et al. 2018, "Spectral Normalization for Generative
Adversarial Networks", Sec. 2.1 and Appendix A): :class:`SpectralNorm` layers use
W / sigma(W), sigma the largest singular value of the kernel reshaped to a matrix
(its output units against everything else), estimated by power iteration with a
persistent vector u.
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


class SpectralNorm:
    """Mixin for a Keras layer with a ``_kernel`` (Conv2D, Dense): its ``kernel`` is
    W / sigma(W), W the kernel reshaped to (inputs, units).

    ``sn_u`` (1, units), a non-trainable weight saved with the layer, holds the power
    iteration's estimate of the top left singular vector of W^T. The kernel uses it as
    stored: v = normalise(u W^T), sigma = u W^T v (Miyato et al.'s Algorithm 1 with u
    and v held constant in the gradient, W's gradient through sigma kept); only
    :meth:`power_iteration` changes u, once per training step, so inference and every
    call within a step see the same sigma.
    """

    def build(self, input_shape):
        super().build(input_shape)
        units = self._kernel.shape[-1]
        # N(0, 1) then normalised by the first power iteration; float32 under any policy.
        self.sn_u = self.add_weight(name="sn_u", shape=(1, units), trainable=False,
                                    initializer=keras.initializers.RandomNormal(0.0, 1.0),
                                    dtype="float32", autocast=False)

    def _matrix(self):
        """The kernel as (inputs, units), float32: (kH, kW, C_in, units) -> (kH*kW*C_in, units)."""
        kernel = tf.convert_to_tensor(self._kernel)
        return tf.reshape(tf.cast(kernel, tf.float32), [-1, kernel.shape[-1]])

    def sigma(self):
        """The estimate of W's largest singular value from the stored u (a scalar, float32)."""
        matrix = self._matrix()                                             # (N, units)
        u = tf.stop_gradient(tf.convert_to_tensor(self.sn_u))               # (1, units)
        v = tf.stop_gradient(tf.math.l2_normalize(tf.matmul(u, matrix, transpose_b=True)))
        return tf.reduce_sum(tf.matmul(v, matrix) * u)                      # u W^T v

    def power_iteration(self) -> None:
        """One step: v = normalise(u W^T), u = normalise(v W)."""
        matrix = self._matrix()
        v = tf.math.l2_normalize(tf.matmul(self.sn_u, matrix, transpose_b=True))  # (1, N)
        self.sn_u.assign(tf.math.l2_normalize(tf.matmul(v, matrix)))             # (1, units)

    @property
    def kernel(self):
        kernel = super().kernel
        return kernel / tf.cast(self.sigma(), kernel.dtype)


class SNConv2D(SpectralNorm, keras.layers.Conv2D):
    """A spectrally normalised Conv2D."""


class SNDense(SpectralNorm, keras.layers.Dense):
    """A spectrally normalised Dense layer."""


def sn_conv2d(filters: int, name: str, dtype=None) -> keras.layers.Layer:
    """:func:`conv2d` with spectral normalisation."""
    return SNConv2D(filters, KERNEL_SIZE, strides=STRIDE, padding="same",
                    kernel_initializer=_init(), bias_initializer="zeros", name=name, dtype=dtype)


def sn_linear(units: int, name: str, dtype=None) -> keras.layers.Layer:
    """:func:`linear` with spectral normalisation."""
    return SNDense(units, kernel_initializer=_init(), bias_initializer="zeros", name=name,
                   dtype=dtype)


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
