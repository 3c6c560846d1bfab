"""train_step.TrainStep: one compiled D update and g_steps G updates, as training runs it."""
import numpy as np
import pytest
import tensorflow as tf

from model import Architecture, DCGAN
from training.train_step import TrainStep


@pytest.fixture
def tiny():
    tf.keras.utils.set_random_seed(0)
    return DCGAN(Architecture(image_size=16, z_dim=8, gf_dim=4, df_dim=4))


def test_train_step_updates_both_networks_and_returns_finite_losses(tiny):
    train_step = TrainStep(tiny, g_steps=2, ema_decay=0.0)       # the original's --g_steps 2
    images = tf.random.uniform([6, 16, 16, 3], -1, 1, seed=2)
    z = tf.random.uniform([6, 8], -1, 1, seed=3)
    g_before = [v.numpy().copy() for v in tiny.generator.trainable_variables]
    d_before = [v.numpy().copy() for v in tiny.discriminator.trainable_variables]
    out = train_step(images, z)
    assert int(train_step.d_optimizer.iterations.numpy()) == 1
    assert int(train_step.g_optimizer.iterations.numpy()) == 2
    for key in ("d_loss", "d_loss_real", "d_loss_fake", "g_loss"):
        assert np.isfinite(out[key].numpy())
    assert out["d_loss"].numpy() == pytest.approx(
        out["d_loss_real"].numpy() + out["d_loss_fake"].numpy(), rel=1e-6)
    assert all(np.any(a != b.numpy()) for a, b in zip(g_before, tiny.generator.trainable_variables))
    assert all(np.any(a != b.numpy()) for a, b in zip(d_before,
                                                       tiny.discriminator.trainable_variables))
    # A batch of another size needs no padding and no new model.
    out = train_step(images[:3], z[:3])
    assert out["d_real"].shape == (3, 1)


def test_the_step_is_the_losses_of_model_py_by_hand(tiny):
    """The reported d_loss is model.discriminator_losses of the weights before the step."""
    import model

    images = tf.random.uniform([4, 16, 16, 3], -1, 1, seed=5)
    z = tf.random.uniform([4, 8], -1, 1, seed=6)
    fake = tiny.generator(z, training=True)
    real_logits = tiny.discriminator(images, training=True)
    fake_logits = tiny.discriminator(fake, training=True)
    expected = model.discriminator_losses(real_logits, fake_logits)[0].numpy()
    tf.keras.utils.set_random_seed(0)
    fresh = DCGAN(Architecture(image_size=16, z_dim=8, gf_dim=4, df_dim=4))
    out = TrainStep(fresh, g_steps=1)(images, z)
    assert out["d_loss"].numpy() == pytest.approx(expected, rel=1e-5)
