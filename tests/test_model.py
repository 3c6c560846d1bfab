"""The networks and the losses, checked against hand computations and finite differences."""
import math

import numpy as np
import pytest
import tensorflow as tf

import model
from conftest import settled_dcgan
from model import Architecture


@pytest.fixture(scope="module")
def tiny():
    """A tiny DCGAN whose batch-norm moving averages match its batch statistics."""
    return settled_dcgan(0)


@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_generator_and_discriminator_shapes(size):
    arch = Architecture(image_size=size, z_dim=10, gf_dim=4, df_dim=4, c_dim=3)
    generator, discriminator = model.Generator(arch), model.Discriminator(arch)
    images = generator(tf.random.uniform([3, 10], -1, 1), training=False)
    assert images.shape == (3, size, size, 3)
    assert images.dtype == tf.float32
    assert np.all(np.abs(images.numpy()) <= 1.0)  # tanh output
    logits = discriminator(images, training=False)
    assert logits.shape == (3, 1)
    # The number of stride-2 layers is log2(size / 4): one per halving down to 4x4.
    n = int(math.log2(size // 4))
    assert len([layer for layer in generator.layers if "g_h" in layer.name]) == n + 1
    assert len([layer for layer in discriminator.layers if "conv" in layer.name]) == n


def test_original_architecture_at_64():
    """The 2016 model at 64x64: the parameter count of each network, computed by hand."""
    arch = Architecture()
    generator, discriminator = model.Generator(arch), model.Discriminator(arch)
    generator(tf.zeros([1, 100]))
    discriminator(tf.zeros([1, 64, 64, 3]))

    def count(variables):
        return sum(int(np.prod(v.shape)) for v in variables)

    lin = 100 * 4 * 4 * 512 + 4 * 4 * 512
    deconvs = sum(5 * 5 * o * i + o for i, o in [(512, 256), (256, 128), (128, 64), (64, 3)])
    # gamma and beta per channel (batch norm over the last axis, as the original)
    bns = 2 * (512 + 256 + 128 + 64)
    assert count(generator.trainable_variables) == lin + deconvs + bns
    convs = sum(5 * 5 * i * o + o for i, o in [(3, 64), (64, 128), (128, 256), (256, 512)])
    d_bns = 2 * (128 + 256 + 512)
    d_lin = 4 * 4 * 512 + 1
    assert count(discriminator.trainable_variables) == convs + d_bns + d_lin
    # Weights drawn from N(0, 0.02), biases zero.
    kernel = generator.g_h1.kernel.numpy()
    assert abs(kernel.std() - 0.02) < 0.001 and abs(kernel.mean()) < 0.001
    assert np.all(generator.g_h1.bias.numpy() == 0)
    assert generator.g_bn0.momentum == 0.9 and generator.g_bn0.epsilon == 1e-5


@pytest.mark.parametrize("size", [4, 12, 48, 512])
def test_bad_image_size_is_a_clear_error(size):
    with pytest.raises(ValueError, match="power of two"):
        Architecture(image_size=size)


def test_gan_losses_match_hand_computation():
    real = tf.constant([[2.0], [-1.0]])
    fake = tf.constant([[0.5], [-3.0]])
    sigmoid = lambda x: 1 / (1 + np.exp(-x))
    d_real = -np.mean(np.log(sigmoid(np.array([2.0, -1.0]))))
    d_fake = -np.mean(np.log(1 - sigmoid(np.array([0.5, -3.0]))))
    d_loss, d_loss_real, d_loss_fake = model.discriminator_losses(real, fake)
    assert d_loss_real.numpy() == pytest.approx(d_real, rel=1e-6)
    assert d_loss_fake.numpy() == pytest.approx(d_fake, rel=1e-6)
    assert d_loss.numpy() == pytest.approx(d_real + d_fake, rel=1e-6)
    g = -np.mean(np.log(sigmoid(np.array([0.5, -3.0]))))
    assert model.generator_loss(fake).numpy() == pytest.approx(g, rel=1e-6)
    np.testing.assert_allclose(model.perceptual_loss(fake).numpy(),
                               -np.log(sigmoid(np.array([0.5, -3.0]))), rtol=1e-6)


def test_contextual_loss_hand_computed():
    generated = np.zeros((2, 8, 8, 3), np.float32)
    images = np.zeros((2, 8, 8, 3), np.float32)
    mask = np.ones((1, 8, 8, 1), np.float32)
    mask[0, 2:6, 2:6] = 0  # 16 missing pixels
    # Image 0 differs by 0.5 on one known pixel (3 channels) and by 9 on a missing one.
    generated[0, 0, 0] = 0.5
    generated[0, 3, 3] = 9.0
    # Image 1 differs by -0.25 on every known pixel of channel 1.
    generated[1, :, :, 1] = -0.25
    generated[1, 2:6, 2:6, 1] = 0.0
    loss = model.contextual_loss(tf.constant(generated), tf.constant(images), tf.constant(mask))
    np.testing.assert_allclose(loss.numpy(), [3 * 0.5, 0.25 * (64 - 16)], rtol=1e-6)
    # Equal on the known pixels: zero, whatever the hole holds.
    noisy = images.copy()
    noisy[:, 2:6, 2:6] = np.random.default_rng(0).normal(size=(2, 4, 4, 3))
    assert np.all(model.contextual_loss(tf.constant(noisy), tf.constant(images),
                                        tf.constant(mask)).numpy() == 0)


def test_lowres_term_compares_pooled_images():
    generated = np.zeros((1, 16, 16, 3), np.float32)
    images = np.zeros((1, 16, 16, 3), np.float32)
    # One 8x8 block of image differs by +1 in channel 0 on half its pixels -> pooled diff 0.5.
    images[0, 0:8, 0:4, 0] = 1.0
    no_mask = np.zeros((1, 16, 16, 1), np.float32)
    low_mask = np.ones((1, 2, 2, 1), np.float32)
    loss = model.contextual_loss(tf.constant(generated), tf.constant(images), tf.constant(no_mask),
                                 tf.constant(low_mask), lowres_factor=8)
    assert loss.numpy()[0] == pytest.approx(0.5)


def _loss_and_gradient(dcgan, z, images, mask, lam=0.1):
    """model.loss_and_gradient, which the search compiles, on NumPy or tensor inputs."""
    tensor = lambda value: tf.convert_to_tensor(value, tf.float32)
    return model.loss_and_gradient(dcgan.generator, dcgan.discriminator, tensor(z),
                                   tensor(images), tensor(mask), None, lam)


def test_completion_loss_of_the_generators_own_image(tiny):
    """y = G(z): the contextual term is 0 at z, the loss is exactly lam * -log D(G(z))."""
    z = tf.random.uniform([4, 8], -1, 1, seed=1)
    images = tiny.sample(z)
    mask = np.ones((1, 16, 16, 1), np.float32)
    mask[:, 4:12, 4:12] = 0
    loss, _, generated = _loss_and_gradient(tiny, z, images, mask, lam=0.1)
    logits = tiny.discriminator(generated, training=False)
    np.testing.assert_allclose(loss.numpy(), 0.1 * model.perceptual_loss(logits).numpy(),
                               rtol=1e-5)


@pytest.mark.parametrize("lam", [0.0, 10.0])  # contextual alone; perceptual dominant
def test_gradient_matches_finite_difference(tiny, lam):
    rng = np.random.default_rng(0)
    z = rng.uniform(-0.9, 0.9, (3, 8)).astype(np.float32)
    # Targets 0.05 above G(z) on every pixel: no |.| kink within the step (G moves far
    # less), a small loss (little float32 rounding), and a directional derivative
    # that is the summed change of G on the known pixels.
    images = tiny.sample(z).numpy() + 0.05
    mask = np.ones((1, 16, 16, 1), np.float32)
    mask[:, 4:12, 4:12] = 0
    loss, grad, _ = _loss_and_gradient(tiny, z, images, mask, lam=lam)
    grad = grad.numpy()
    step = 3e-3
    # float32 rounding of the loss, amplified by the central difference:
    noise = 8 * np.finfo(np.float32).eps * np.abs(loss.numpy()).max() / (2 * step)
    for _ in range(3):
        direction = rng.normal(size=z.shape).astype(np.float32)
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        plus, _, _ = _loss_and_gradient(tiny, z + step * direction, images, mask, lam=lam)
        minus, _, _ = _loss_and_gradient(tiny, z - step * direction, images, mask, lam=lam)
        numeric = (plus.numpy() - minus.numpy()) / (2 * step)      # per image
        analytic = np.sum(grad * direction, axis=1)
        scale = np.abs(numeric).max()
        assert scale > 20 * noise  # the check is not lost in the rounding noise
        # float32 through the network: agree to 2% of the largest directional derivative
        np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=max(noise, 2e-2 * scale))


def test_completion_is_independent_of_the_batch(tiny):
    """Batch norm in inference mode: an image's loss and gradient do not depend on its batch."""
    rng = np.random.default_rng(1)
    z = rng.uniform(-1, 1, (5, 8)).astype(np.float32)
    images = rng.uniform(-1, 1, (5, 16, 16, 3)).astype(np.float32)
    mask = np.ones((1, 16, 16, 1), np.float32)
    loss_all, grad_all, _ = _loss_and_gradient(tiny, z, images, mask)
    loss_one, grad_one, _ = _loss_and_gradient(tiny, z[2:3], images[2:3], mask)
    np.testing.assert_allclose(loss_one.numpy()[0], loss_all.numpy()[2], rtol=1e-5)
    np.testing.assert_allclose(grad_one.numpy()[0], grad_all.numpy()[2], rtol=1e-4, atol=1e-6)

