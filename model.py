"""The DCGAN's math: generator, discriminator, GAN losses, completion losses.

This module is only math: no flags, no printing, no files, no optimizers
(those, loss scaling, the moving average of G and the compiled train step are
in ``training/train_step.py``; the precision names in ``shared/precision.py``).

* Generator and discriminator follow Radford et al. (2016) as the 2016
  ``dcgan-completion.tensorflow`` code built them: a linear layer to a 4x4
  feature map, then 5x5 stride-2 transposed convolutions up to the image size
  (batch norm + ReLU between, tanh at the end); the discriminator mirrors it
  with 5x5 stride-2 convolutions and leaky ReLU (no batch norm on the first
  layer) down to 4x4 and a linear layer to one logit.
* GAN losses (Goodfellow et al. 2014, non-saturating generator loss):
  sigmoid cross-entropy on logits, ``d_loss = d_loss_real + d_loss_fake``; or
  (``loss="hinge"``, Lim & Ye 2017; Miyato et al. 2018) the hinge loss
  ``d_loss = mean relu(1 - D(x)) + mean relu(1 + D(G(z)))``, ``g_loss = -mean D(G(z))``.
* Spectral normalisation of D (Miyato et al. 2018, ``d_spectral_norm``): every
  convolution kernel and the final linear layer divided by its largest singular
  value, estimated by one power iteration per training step (``ops.SpectralNorm``);
  D then has no batch norm, as in the paper's SN-DCGAN.
* The R1 penalty (Mescheder et al. 2018): ``gamma / 2 * E ||grad_x D(x)||^2`` on real images.
* Completion loss (Yeh, Chen et al., "Semantic Image Inpainting with
  Perceptual and Contextual Losses", Sec. 3.2): per image,
  ``L(z) = || M * (G(z) - y) ||_1 + lam * L_p(z)`` with the perceptual loss
  ``L_p(z) = -log D(G(z))``, the generator's non-saturating loss, which every
  public implementation uses in place of the paper's ``log(1 - D(G(z)))``; for a D
  trained with the hinge loss, that loss's generator term ``-D(G(z))``.
  ``M`` is the binary mask (1 = known pixel) or the paper's importance
  weights. A second contextual term compares 8x average-pooled images, which
  is how the original completes from a low-resolution version (``lowres``).

Batch norm runs in inference mode (moving averages) during completion, so an
image completes the same alone or in a batch (the original's batch statistics
made completions depend on the other images in the batch).
"""
from __future__ import annotations

import dataclasses
import json
import math

import tensorflow as tf

import ops
from shared import defaults
from shared.defaults import LOWRES_FACTOR  # the original's lowres: 64x64 images compared at 8x8
from shared.precision import dtype_policy

keras = tf.keras

MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 256
BASE_SIZE = 4          # spatial size of the generator's first feature map
MAX_FILTER_MULT = 8    # filters grow x2 per layer up to 8 * gf_dim (as the original at 64x64)
LOSSES = defaults.LOSS_CHOICES   # the GAN losses: sigmoid cross-entropy (the original's), hinge
SPECTRAL_NORM_WARMUP = 15   # power iterations when D is built (as PyTorch's spectral norm)


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What a checkpoint needs to rebuild its networks and use them; stored inside every
    checkpoint. The defaults are the original's (train_dcgan.py's).

    ``d_spectral_norm`` builds D with spectral normalisation and without batch norm;
    ``loss`` is the GAN loss D was trained with, which picks the completion's perceptual
    loss. A checkpoint written before these fields existed loads with their defaults,
    the original's (no spectral norm, sigmoid cross-entropy)."""
    image_size: int = defaults.DEFAULT_IMAGE_SIZE
    z_dim: int = defaults.DEFAULT_Z_DIM
    gf_dim: int = defaults.DEFAULT_GF_DIM
    df_dim: int = defaults.DEFAULT_DF_DIM
    c_dim: int = defaults.DEFAULT_C_DIM
    d_spectral_norm: bool = defaults.DEFAULT_D_SPECTRAL_NORM
    loss: str = defaults.DEFAULT_LOSS

    def __post_init__(self):
        size = self.image_size
        if (not isinstance(size, int) or size < MIN_IMAGE_SIZE or size > MAX_IMAGE_SIZE
                or size & (size - 1)):
            raise ValueError(f"image size must be a power of two from {MIN_IMAGE_SIZE} to "
                             f"{MAX_IMAGE_SIZE}, got {size}")
        for field in ("z_dim", "gf_dim", "df_dim", "c_dim"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
        if not isinstance(self.d_spectral_norm, bool):
            raise ValueError(f"d_spectral_norm must be true or false, got {self.d_spectral_norm!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")

    @property
    def num_layers(self) -> int:
        """Stride-2 layers between the 4x4 map and the image: 4 at 64x64."""
        return int(math.log2(self.image_size // BASE_SIZE))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.c_dim)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Architecture":
        fields = {f.name for f in dataclasses.fields(cls)}
        values = json.loads(text)
        return cls(**{key: value for key, value in values.items() if key in fields})


def _filter_mult(layer_from_image: int) -> int:
    """Filter multiplier of the layer ``layer_from_image`` stride-2 steps from the image side."""
    return min(2 ** layer_from_image, MAX_FILTER_MULT)


class Generator(keras.Model):
    """G: z (B, z_dim) -> image (B, S, S, c_dim) in [-1, 1], float32.

    At 64x64 with gf_dim 64 (state sizes as comments):
      z (B, 100) -> g_h0_lin -> (B, 4, 4, 512) -> g_h1 (B, 8, 8, 256) -> g_h2 (B, 16, 16, 128)
      -> g_h3 (B, 32, 32, 64) -> g_h4 (B, 64, 64, 3) -> tanh
    """

    def __init__(self, arch: Architecture, precision: str = "float32", sync_bn: bool = False):
        super().__init__(name="generator")
        self.arch = arch
        policy = dtype_policy(precision)
        n = arch.num_layers
        self.base_filters = arch.gf_dim * _filter_mult(n - 1)
        self.g_h0_lin = ops.linear(self.base_filters * BASE_SIZE * BASE_SIZE, "g_h0_lin", policy)
        self.g_bn0 = ops.batch_norm("g_bn0", policy, sync_bn)
        # Attribute names are checkpoint keys: keep them (the original's names).
        for i in range(1, n + 1):
            filters = arch.c_dim if i == n else arch.gf_dim * _filter_mult(n - 1 - i)
            setattr(self, f"g_h{i}", ops.deconv2d(filters, f"g_h{i}", policy))
            if i < n:
                setattr(self, f"g_bn{i}", ops.batch_norm(f"g_bn{i}", policy, sync_bn))

    def call(self, z, training=False):
        return self.from_features(self.features(z, training=training), training=training)

    def features(self, z, training=False):
        """G's first feature map: z (B, z_dim) -> (B, 4, 4, F0), after g_bn0 and the ReLU."""
        h = self.g_h0_lin(z)                                                 # (B, 16 * F0)
        h = tf.reshape(h, [-1, BASE_SIZE, BASE_SIZE, self.base_filters])     # (B, 4, 4, F0)
        return tf.nn.relu(self.g_bn0(h, training=training))

    def from_features(self, h, training=False):
        """The rest of G: its first feature map (B, 4, 4, F0) -> image; G(z) is
        ``from_features(features(z))``."""
        n = self.arch.num_layers
        for i in range(1, n):
            h = getattr(self, f"g_h{i}")(h)                                  # (B, 2^(i+2), ..., F_i)
            h = tf.nn.relu(getattr(self, f"g_bn{i}")(h, training=training))
        h = getattr(self, f"g_h{n}")(h)                                      # (B, S, S, c_dim)
        return tf.cast(tf.tanh(h), tf.float32)


class Discriminator(keras.Model):
    """D: image (B, S, S, c_dim) -> logit (B, 1), float32.

    At 64x64 with df_dim 64:
      (B, 64, 64, 3) -> d_h0_conv (B, 32, 32, 64) -> d_h1_conv (B, 16, 16, 128)
      -> d_h2_conv (B, 8, 8, 256) -> d_h3_conv (B, 4, 4, 512) -> d_h3_lin (B, 1)

    With ``arch.d_spectral_norm`` every convolution and the linear layer use their
    kernel divided by its spectral norm (``ops.SpectralNorm``), estimated from a stored
    vector u that only :meth:`power_iteration` updates (once per training step), so
    training and inference calls alike use the stored u; and there is no batch norm
    (Miyato et al. 2018's SN-DCGAN has none in D: batch statistics would rescale the
    layers that spectral normalisation bounds).
    """

    def __init__(self, arch: Architecture, precision: str = "float32", sync_bn: bool = False):
        super().__init__(name="discriminator")
        self.arch = arch
        policy = dtype_policy(precision)
        n = arch.num_layers
        spectral = arch.d_spectral_norm
        conv2d = ops.sn_conv2d if spectral else ops.conv2d
        linear = ops.sn_linear if spectral else ops.linear
        for i in range(n):
            setattr(self, f"d_h{i}_conv", conv2d(arch.df_dim * _filter_mult(i), f"d_h{i}_conv",
                                                 policy))
            if i > 0 and not spectral:
                setattr(self, f"d_bn{i}", ops.batch_norm(f"d_bn{i}", policy, sync_bn))
        self.lin_name = f"d_h{n - 1}_lin"
        setattr(self, self.lin_name, linear(1, self.lin_name, policy))

    def call(self, images, training=False):
        h = images
        for i in range(self.arch.num_layers):
            h = getattr(self, f"d_h{i}_conv")(h)                             # halves H and W
            if i > 0 and not self.arch.d_spectral_norm:
                h = getattr(self, f"d_bn{i}")(h, training=training)
            h = ops.lrelu(h)
        h = tf.reshape(h, [tf.shape(h)[0], -1])                              # (B, 16 * F_last)
        return tf.cast(getattr(self, self.lin_name)(h), tf.float32)          # (B, 1) logits

    @property
    def spectral_norm_layers(self) -> list:
        """The spectrally normalised layers (none without ``arch.d_spectral_norm``)."""
        return [layer for layer in self.layers if isinstance(layer, ops.SpectralNorm)]

    def power_iteration(self) -> None:
        """One power iteration on every spectrally normalised layer: updates its stored u."""
        for layer in self.spectral_norm_layers:
            layer.power_iteration()


def _sigmoid_ce(logits, label: float):
    """Per-example sigmoid cross-entropy against a constant label: (B, 1) -> (B,)."""
    logits = tf.reshape(logits, [-1])
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), label),
                                                   logits=logits)


def discriminator_losses(real_logits, fake_logits, loss: str = "bce"):
    """D's losses (d_loss, d_loss_real, d_loss_fake), d_loss = d_loss_real + d_loss_fake;
    logits (B, 1).

    ``bce`` (the original's), means over the batch of sigmoid CE with labels 1 and 0:
    d_loss_real = -mean log D(x), d_loss_fake = -mean log(1 - D(G(z))).
    ``hinge``: d_loss_real = mean relu(1 - D(x)), d_loss_fake = mean relu(1 + D(G(z))).
    """
    if loss == "hinge":
        d_loss_real = tf.reduce_mean(tf.nn.relu(1.0 - tf.reshape(real_logits, [-1])))
        d_loss_fake = tf.reduce_mean(tf.nn.relu(1.0 + tf.reshape(fake_logits, [-1])))
    else:
        d_loss_real = tf.reduce_mean(_sigmoid_ce(real_logits, 1.0))
        d_loss_fake = tf.reduce_mean(_sigmoid_ce(fake_logits, 0.0))
    return d_loss_real + d_loss_fake, d_loss_real, d_loss_fake


def generator_loss(fake_logits, loss: str = "bce"):
    """G's loss, the mean of :func:`perceptual_loss`: ``bce``, the non-saturating
    -mean log D(G(z)); ``hinge``, -mean D(G(z)). Logits (B, 1) -> scalar."""
    return tf.reduce_mean(perceptual_loss(fake_logits, loss))


def perceptual_loss(fake_logits, loss: str = "bce"):
    """Per-image perceptual (prior) loss, G's loss of the GAN loss D was trained with:
    -log D(G(z)) for ``bce``, -D(G(z)) (the raw logit) for ``hinge``. (B, 1) -> (B,)."""
    if loss == "hinge":
        return -tf.reshape(fake_logits, [-1])
    return _sigmoid_ce(fake_logits, 1.0)


def r1_penalty(discriminator, images, gamma: float):
    """The R1 penalty (Mescheder et al. 2018) and D's logits: (gamma / 2 * E_x ||grad_x D(x)||^2,
    D(x) (B, 1)), the expectation a mean over the batch of images (B, S, S, C).

    ``discriminator`` is a function of the images to logits (B, 1): D in the mode the
    caller wants, after an augmentation if any (the gradient is with respect to the
    images before it). Differentiable in D's weights (the gradient of a gradient)."""
    images = tf.convert_to_tensor(images)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(images)
        logits = discriminator(images)
    gradients = tape.gradient(logits, images)       # of sum_i D(x_i): row i is grad D(x_i), (B, S, S, C)
    return gamma * 0.5 * tf.reduce_mean(squared_norms(gradients)), logits


def squared_norms(gradients):
    """||g||^2 of each example: (B, ...) -> (B,), in float32."""
    gradients = tf.cast(gradients, tf.float32)
    return tf.reduce_sum(tf.reshape(tf.square(gradients), [tf.shape(gradients)[0], -1]), axis=1)


def downsample(images, factor: int):
    """Average-pool by ``factor``: (B, S, S, C) -> (B, S/factor, S/factor, C)."""
    if factor == 1:
        return images
    return tf.nn.avg_pool2d(images, ksize=factor, strides=factor, padding="VALID")


def contextual_loss(generated, images, mask, lowres_mask=None, lowres_factor=LOWRES_FACTOR):
    """Per-image L1 distance on the known pixels, summed over pixels and channels: (B,).

    ``mask`` (B or 1, S, S, 1 or C) is 1 on known pixels (or the importance
    weight); ``lowres_mask`` (B or 1, S/f, S/f, 1 or C), if given, weighs the same
    distance between ``factor``-times average-pooled images (the ``lowres`` mask).
    """
    loss = tf.reduce_sum(tf.abs(mask * generated - mask * images), axis=[1, 2, 3])
    if lowres_mask is not None:
        low_generated = downsample(generated, lowres_factor)
        low_images = downsample(images, lowres_factor)
        loss += tf.reduce_sum(tf.abs(lowres_mask * low_generated - lowres_mask * low_images),
                              axis=[1, 2, 3])
    return loss


def completion_loss(generator, discriminator, z, images, mask, lowres_mask, lam):
    """Per-image completion loss (Yeh, Chen et al., Sec. 3.2) and G(z): ((B,), (B, S, S, C)).

        L(z) = sum |M * (G(z) - y)| + sum |M_low * (pool(G(z)) - pool(y))| + lam * -log D(G(z))

    (``-D(G(z))`` in place of ``-log D(G(z))`` for a D trained with the hinge loss:
    :func:`perceptual_loss` of ``discriminator.arch.loss``).

    z (B, z_dim); images y (B, S, S, C) in [-1, 1]; mask M (B or 1, S, S, 1 or C), 1 on
    known pixels or the importance weights; lowres_mask M_low (B or 1, S/8, S/8, 1 or C),
    or None for no low-resolution term (:func:`contextual_loss`); lam weighs the
    perceptual term. Batch norm runs in inference mode, so an image's loss does not
    depend on the rest of its batch.
    """
    generated = generator(z, training=False)
    logits = discriminator(generated, training=False)
    loss = (contextual_loss(generated, images, mask, lowres_mask)
            + lam * perceptual_loss(logits, discriminator.arch.loss))
    return loss, generated


def loss_and_gradient(generator, discriminator, z, images, mask, lowres_mask, lam):
    """(L(z) (B,), dL/dz (B, z_dim), G(z)) of :func:`completion_loss`.

    The gradient is that of sum_i L_i(z); images are independent, so row i is
    image i's own gradient dL_i/dz_i.
    """
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss, generated = completion_loss(generator, discriminator, z, images, mask, lowres_mask,
                                          lam)
    return loss, tape.gradient(loss, z), generated


class DCGAN(tf.Module):
    """G and D of one architecture, built, so that a checkpoint restores into them at once.

    ``generator`` is the generator to sample and complete with: a checkpoint that
    keeps a moving average of G's weights loads the average here
    (:func:`training.checkpoints.load_for_completion`). Optimizers, loss scaling, the
    average and the compiled train step are training's (``training/train_step.py``).
    ``sync_bn``: batch norm over the global batch of all replicas (training under
    a ``tf.distribute`` strategy with several).
    """

    def __init__(self, arch: Architecture = Architecture(), precision: str = "float32",
                 sync_bn: bool = False):
        super().__init__(name="dcgan")
        self.arch = arch
        self.precision = precision
        self.generator = Generator(arch, precision, sync_bn)
        self.discriminator = Discriminator(arch, precision, sync_bn)
        self.generator(tf.zeros([1, arch.z_dim]))                    # create the weights now
        self.discriminator(tf.zeros([1, *arch.image_shape]))
        for _ in range(SPECTRAL_NORM_WARMUP if arch.d_spectral_norm else 0):
            self.discriminator.power_iteration()    # u near the top singular vector from the start

    def sample(self, z):
        """G(z) with batch norm in inference mode: (B, z_dim) -> (B, S, S, C)."""
        return self.generator(tf.convert_to_tensor(z, tf.float32), training=False)


def recalibrate_batch_norm(network: keras.Model, batches) -> int:
    """Set every batch-norm layer's moving mean and variance of ``network`` to the average
    of its batch statistics over ``batches`` (inputs of ``network``); returns their count.

    Training leaves D's moving statistics mostly from fake batches (each step
    updates them once on real faces and ``2 + g_steps`` times on G(z)), yet the
    perceptual loss runs D in inference mode on faces that should look real, so
    an export can recompute them on real faces; likewise the average of G's
    weights (``generator_ema``) gets statistics of its own rather than the
    average of G's. Runs eagerly: momentum ``k / (k + 1)`` for batch ``k`` (from
    0) makes Keras's moving average the plain mean of the batches seen.
    """
    layers = [layer for layer in network.layers
              if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for batch in batches:
            for layer in layers:
                layer.momentum = count / (count + 1.0)
            network(tf.convert_to_tensor(batch, tf.float32), training=True)
            count += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return count
