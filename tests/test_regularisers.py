"""Regularised training (docs/TRAINING_RECIPES.md): spectral norm, the hinge loss, lazy R1,
DiffAugment, learning-rate decay, and the recipe in checkpoints; each checked against a
value derived independently (numpy, finite differences, a copy of the original step)."""
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

import model
import ops
import train_dcgan
from model import Architecture, DCGAN
from training import augment, checkpoints
from training.train_step import FusedAdam, LearningRateDecay, TrainStep

keras = tf.keras
ARCH = dict(image_size=16, z_dim=8, gf_dim=4, df_dim=4)


def _batch(seed=0, size=16, batch=4, z_dim=8):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
    return tf.constant(images), tf.constant(rng.uniform(-1, 1, (batch, z_dim)).astype(np.float32))


def _values(variables):
    return [v.numpy().copy() for v in variables]


# ---------------------------------------------------------------- spectral norm
def test_spectral_norm_makes_every_kernels_largest_singular_value_one():
    keras.utils.set_random_seed(0)
    gan = DCGAN(Architecture(**ARCH, d_spectral_norm=True))
    discriminator = gan.discriminator
    layers = discriminator.spectral_norm_layers
    assert [layer.name for layer in layers] == ["d_h0_conv", "d_h1_conv", "d_h1_lin"]
    # SN-DCGAN's D: no batch norm; u is a saved, non-trainable weight.
    assert not [l for l in discriminator.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert all(not layer.sn_u.trainable for layer in layers)
    for _ in range(100):
        discriminator.power_iteration()
    for layer in layers:
        kernel = layer.kernel.numpy()                       # W / sigma, what the layer uses
        matrix = kernel.reshape(-1, kernel.shape[-1])
        raw = layer._kernel.numpy().reshape(-1, kernel.shape[-1])
        assert np.linalg.svd(raw, compute_uv=False)[0] > 0.05    # far from 1 unnormalised
        assert np.linalg.svd(matrix, compute_uv=False)[0] == pytest.approx(1.0, abs=1e-3)


def test_spectral_norm_updates_u_once_per_step_and_never_at_inference():
    keras.utils.set_random_seed(1)
    gan = DCGAN(Architecture(**ARCH, d_spectral_norm=True))
    layer = gan.discriminator.d_h1_conv
    images, z = _batch()
    before = layer.sn_u.numpy().copy()
    gan.discriminator(images, training=False)
    gan.discriminator(images, training=True)
    np.testing.assert_array_equal(layer.sn_u.numpy(), before)
    # One power iteration by hand: v = normalise(u W^T), u = normalise(v W).
    matrix = layer._kernel.numpy().reshape(-1, layer._kernel.shape[-1])
    v = before @ matrix.T
    v /= np.linalg.norm(v)
    expected = v @ matrix
    expected /= np.linalg.norm(expected)
    TrainStep(gan, ema_decay=0.0)(images, z)               # 1 D + 1 G update: 3 D calls
    np.testing.assert_allclose(layer.sn_u.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_spectral_norm_is_recorded_and_rebuilt_from_the_checkpoint(tmp_path):
    keras.utils.set_random_seed(2)
    gan = DCGAN(Architecture(**ARCH, d_spectral_norm=True, loss="hinge"))
    gan.discriminator.power_iteration()
    checkpoint = checkpoints.inference_checkpoint(gan)
    checkpoint.save_counter.assign(1)                    # as checkpoints.export writes one
    prefix = checkpoint.write(str(tmp_path / "DCGAN.model-1"))
    names = [name for name, _ in tf.train.list_variables(prefix)]
    assert "discriminator/d_h0_conv/sn_u/.ATTRIBUTES/VARIABLE_VALUE" in names
    assert not [name for name in names if "d_bn" in name]
    loaded, _ = checkpoints.load_for_completion(str(tmp_path))
    assert loaded.arch == gan.arch
    for a, b in zip(loaded.discriminator.variables, gan.discriminator.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    images, _ = _batch()
    np.testing.assert_array_equal(loaded.discriminator(images).numpy(),
                                  gan.discriminator(images).numpy())


def test_an_architecture_record_without_the_new_fields_is_the_original():
    old = json.dumps({"image_size": 64, "z_dim": 100, "gf_dim": 64, "df_dim": 64, "c_dim": 3})
    arch = Architecture.from_json(old)
    assert arch == Architecture() and not arch.d_spectral_norm and arch.loss == "bce"
    with pytest.raises(ValueError, match="loss"):
        Architecture(loss="wasserstein")


# ---------------------------------------------------------------- the hinge loss
def test_hinge_losses_equal_a_hand_computation():
    real = np.array([[1.5], [0.2], [-0.7], [3.0]], np.float32)
    fake = np.array([[-2.0], [0.4], [-0.5], [1.1]], np.float32)
    d_loss, d_real, d_fake = model.discriminator_losses(real, fake, "hinge")
    # relu(1 - r): 0, 0.8, 1.7, 0 -> 0.625; relu(1 + f): 0, 1.4, 0.5, 2.1 -> 1.0
    assert float(d_real) == pytest.approx(0.625, abs=1e-6)
    assert float(d_fake) == pytest.approx(1.0, abs=1e-6)
    assert float(d_loss) == pytest.approx(1.625, abs=1e-6)
    # -mean f = -(−2 + 0.4 − 0.5 + 1.1) / 4 = 0.25
    assert float(model.generator_loss(fake, "hinge")) == pytest.approx(0.25, abs=1e-6)
    # bce, the default, stays -log sigmoid
    assert float(model.generator_loss(fake)) == pytest.approx(
        np.mean(np.log1p(np.exp(-fake))), rel=1e-6)


def test_completion_of_a_hinge_model_uses_minus_d_as_perceptual_loss():
    keras.utils.set_random_seed(3)
    gan = DCGAN(Architecture(**ARCH, loss="hinge"))
    images, z = _batch()
    mask = tf.ones([1, 16, 16, 1])
    loss, generated = model.completion_loss(gan.generator, gan.discriminator, z, images, mask,
                                            None, 0.1)
    logits = gan.discriminator(generated).numpy()[:, 0]
    context = np.abs(generated.numpy() - images.numpy()).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(loss.numpy(), context - 0.1 * logits, rtol=1e-5)


# ---------------------------------------------------------------- R1
def test_r1_is_gamma_half_mean_squared_gradient_norm_by_finite_differences():
    keras.utils.set_random_seed(4)
    gan = DCGAN(Architecture(image_size=8, z_dim=4, gf_dim=2, df_dim=2))
    discriminator = gan.discriminator

    def d(x):  # inference mode: each image's logit depends on that image only
        return discriminator(x, training=False)

    images, _ = _batch(seed=5, size=8, batch=2)
    gamma = 3.0
    penalty, logits = model.r1_penalty(d, images, gamma)
    np.testing.assert_array_equal(logits.numpy(), d(images).numpy())
    # Central differences, every input value at once: D is piecewise linear (leaky ReLU).
    x = images.numpy().astype(np.float64)
    eps = 1e-3
    count = x[0].size
    gradients = np.zeros_like(x)
    for b in range(len(x)):
        eye = np.eye(count).reshape(count, *x.shape[1:])
        plus = d(tf.constant((x[b] + eps * eye).astype(np.float32))).numpy()[:, 0]
        minus = d(tf.constant((x[b] - eps * eye).astype(np.float32))).numpy()[:, 0]
        gradients[b] = ((plus.astype(np.float64) - minus) / (2 * eps)).reshape(x.shape[1:])
    expected = gamma / 2 * np.mean(np.sum(gradients.reshape(len(x), -1) ** 2, axis=1))
    assert float(penalty) == pytest.approx(expected, rel=2e-2)
    # and it trains D: a finite, non-zero gradient for every kernel (not for the last bias,
    # which no input gradient depends on)
    kernels = [layer._kernel for layer in (discriminator.d_h0_conv,
                                           getattr(discriminator, discriminator.lin_name))]
    with tf.GradientTape() as tape:
        penalty, _ = model.r1_penalty(d, images, gamma)
    for gradient in tape.gradient(penalty, kernels):
        assert gradient is not None and np.all(np.isfinite(gradient))
        assert np.abs(gradient).max() > 0


def test_lazy_r1_applies_only_every_k_steps_times_k():
    """From the same state, D's update with lazy R1 (k=3) equals the plain one at steps 1, 2,
    4, 5 and differs at 0 and 3, where it equals R1 every step with gamma times k."""
    keras.utils.set_random_seed(6)
    arch = Architecture(**ARCH)
    lazy = TrainStep(DCGAN(arch), ema_decay=0.0, r1_gamma=50.0, r1_interval=3)
    plain = TrainStep(DCGAN(arch), ema_decay=0.0)
    eager = TrainStep(DCGAN(arch), ema_decay=0.0, r1_gamma=150.0, r1_interval=1)
    steps = (lazy, plain, eager)

    def state(step):
        return step.gan.generator.variables + step.gan.discriminator.variables + \
            step.d_optimizer.variables + step.g_optimizer.variables

    start = _values(state(lazy))
    images, z = _batch(seed=7)
    changed = []
    for s in range(6):
        results = []
        for step in steps:
            for variable, value in zip(state(step), start):
                variable.assign(value)
            step.step.assign(s)
            step(images, z)
            results.append(_values(step.gan.discriminator.trainable_variables))
        lazy_d, plain_d, eager_d = results
        differs = max(np.abs(a - b).max() for a, b in zip(lazy_d, plain_d))
        if s % 3:
            assert differs == 0, s
        else:
            changed.append(s)
            assert differs > 1e-6, s
            for a, b in zip(lazy_d, eager_d):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert changed == [0, 3]


# ---------------------------------------------------------------- DiffAugment
def test_colour_ops_follow_their_formulas():
    x = np.random.default_rng(8).uniform(-1, 1, (2, 4, 4, 3)).astype(np.float32)
    b, s, c = np.array([0.3, -0.4], np.float32), np.array([0.5, 1.7], np.float32), \
        np.array([0.6, 1.4], np.float32)
    np.testing.assert_allclose(augment.brightness(x, b), x + b[:, None, None, None], rtol=1e-6)
    mean_c = x.mean(axis=3, keepdims=True)
    np.testing.assert_allclose(augment.saturation(x, s),
                               (x - mean_c) * s[:, None, None, None] + mean_c, rtol=1e-5,
                               atol=1e-6)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(augment.contrast(x, c),
                               (x - mean) * c[:, None, None, None] + mean, rtol=1e-5, atol=1e-6)


def test_translation_moves_pixels_by_the_shift_and_fills_zeros():
    x = np.random.default_rng(9).uniform(0.1, 1, (2, 8, 8, 3)).astype(np.float32)
    dy, dx = np.array([2, -1], np.int32), np.array([-3, 1], np.int32)
    out = augment.translate(tf.constant(x), dy, dx).numpy()
    expected = np.zeros_like(x)
    for b in range(2):
        for i in range(8):
            for j in range(8):
                if 0 <= i - dy[b] < 8 and 0 <= j - dx[b] < 8:
                    expected[b, i, j] = x[b, i - dy[b], j - dx[b]]
    np.testing.assert_array_equal(out, expected)
    assert (out[0, :2] == 0).all() and (out[0, :, -3:] == 0).all()


def test_cutout_zeroes_exactly_the_square():
    x = np.ones((3, 16, 16, 1), np.float32)
    side = augment.cutout_size(16)
    assert side == 8 and augment.max_shift(16) == 2 and augment.max_shift(64) == 8
    top, left = np.array([4, -3, 12], np.int32), np.array([2, 5, 10], np.int32)
    out = augment.cutout(tf.constant(x), top, left, side).numpy()[..., 0]
    assert (out[0] == 0).sum() == side * side                      # inside: the whole square
    assert (out[0, 4:12, 2:10] == 0).all()
    assert (out[1] == 0).sum() == 5 * 8 and (out[1, 0:5, 5:13] == 0).all()   # clipped at the top
    assert (out[2] == 0).sum() == 4 * 6 and (out[2, 12:, 10:] == 0).all()    # at the corner


def test_draws_lie_in_the_papers_ranges():
    params = augment.draw(("color", "translation", "cutout"), 4000, 64,
                          tf.constant([1, 2], tf.int64))
    ranges = {"brightness": (-0.5, 0.5), "saturation": (0, 2), "contrast": (0.5, 1.5),
              "shift_y": (-8, 8), "shift_x": (-8, 8), "top": (-16, 48), "left": (-16, 48)}
    for name, (low, high) in ranges.items():
        values = params[name].numpy()
        assert values.min() >= low and values.max() <= high, name
        assert values.min() < low + 0.05 * (high - low) and values.max() > high - 0.05 * (high - low)
    assert set(np.unique(params["shift_x"].numpy())) == set(range(-8, 9))


def test_diff_augment_is_deterministic_differentiable_and_empty_is_identity():
    x = tf.constant(np.random.default_rng(10).uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32))
    seed = tf.constant([3, 4], tf.int64)
    policy = augment.policy_from("cutout, color,translation")
    assert policy == ("color", "translation", "cutout")
    out = augment.diff_augment(x, policy, seed)
    np.testing.assert_array_equal(out.numpy(), augment.diff_augment(x, policy, seed).numpy())
    np.testing.assert_array_equal(
        out.numpy(), augment.apply(x, policy, augment.draw(policy, 4, 16, seed)).numpy())
    assert not np.allclose(out.numpy(), augment.diff_augment(x, policy, seed + 1).numpy())
    weights = tf.constant(np.random.default_rng(11).normal(size=(4, 16, 16, 3)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = tf.reduce_sum(augment.diff_augment(x, policy, seed) * weights)
    gradient = tape.gradient(value, x)
    assert gradient is not None and np.all(np.isfinite(gradient.numpy()))
    assert np.abs(gradient.numpy()).max() > 0
    assert augment.policy_from("") == () and augment.diff_augment(x, (), seed) is x
    with pytest.raises(ValueError, match="blur"):
        augment.policy_from("color,blur")


def test_diffaug_changes_what_d_sees_in_the_step():
    keras.utils.set_random_seed(12)
    arch = Architecture(**ARCH)
    images, z = _batch(seed=13)
    plain = TrainStep(DCGAN(arch), ema_decay=0.0)(images, z)
    keras.utils.set_random_seed(12)
    augmented = TrainStep(DCGAN(arch), ema_decay=0.0, diffaug=("translation",))(images, z)
    assert float(plain["d_loss"]) != float(augmented["d_loss"])
    assert np.isfinite(float(augmented["g_loss"]))


# ---------------------------------------------------------------- learning-rate decay
def test_learning_rate_schedules_equal_hand_computations():
    linear = LearningRateDecay(1e-3, "linear", start=10, total=110)
    cosine = LearningRateDecay(1e-3, "cosine", start=10, total=110)
    for step, value in [(0, 1e-3), (10, 1e-3), (35, 7.5e-4), (60, 5e-4), (109, 1e-5),
                        (110, 0.0), (500, 0.0)]:
        assert float(linear(step)) == pytest.approx(value, abs=1e-9)
    for step, value in [(0, 1e-3), (35, 1e-3 * 0.5 * (1 + math.cos(math.pi / 4))),
                        (60, 5e-4), (110, 0.0)]:
        assert float(cosine(step)) == pytest.approx(value, abs=1e-9)
    assert float(LearningRateDecay(2e-4)(1000)) == pytest.approx(2e-4)
    with pytest.raises(ValueError):
        LearningRateDecay(1e-3, "linear")                 # no total


def test_a_resumed_run_continues_the_schedule(tmp_path):
    """4 steps straight == 2 steps, a checkpoint, a new process's 2 steps: weights and rates."""
    arch = Architecture(**ARCH)
    batches = [_batch(seed=20 + i) for i in range(4)]
    options = dict(ema_decay=0.0, learning_rate=1e-3, lr_decay="linear", lr_decay_start=1,
                   total_steps=5)

    def run(train_step, batches):
        rates = []
        for images, z in batches:
            train_step(images, z)
            rates.append(float(train_step.g_optimizer.learning_rate))
        return rates

    keras.utils.set_random_seed(21)
    straight = TrainStep(DCGAN(arch), **options)
    rates = run(straight, batches)
    # the rate of the update made at step s: 1e-3 * (5 - s) / 4 from s = 1
    assert rates == pytest.approx([1e-3, 1e-3, 7.5e-4, 5e-4], abs=1e-9)

    keras.utils.set_random_seed(21)
    first = TrainStep(DCGAN(arch), **options)
    run(first, batches[:2])
    prefix = checkpoints.training_checkpoint(first, step=first.step).save(str(tmp_path / "c"))
    keras.utils.set_random_seed(99)                      # other initial weights, restored over
    second = TrainStep(DCGAN(arch), **options)
    checkpoints.restore(checkpoints.training_checkpoint(second, step=second.step), prefix)
    second.set_learning_rates()
    assert int(second.step.numpy()) == 2
    assert float(second.d_optimizer.learning_rate) == pytest.approx(7.5e-4)
    assert run(second, batches[2:]) == pytest.approx(rates[2:], abs=1e-9)
    for a, b in zip(straight.gan.discriminator.variables + straight.gan.generator.variables,
                    second.gan.discriminator.variables + second.gan.generator.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- all off: the original step
class OriginalStep:
    """A copy of the step before issue 29 (one D update, g_steps G updates, Adam; no EMA).
    ``adam``: the optimizer class (the step's own fused Adam, or Keras's)."""

    def __init__(self, gan, g_steps=2, learning_rate=2e-4, beta1=0.5, adam=FusedAdam):
        self.gan, self.g_steps = gan, g_steps
        self.d_optimizer = adam(learning_rate=learning_rate, beta_1=beta1)
        self.g_optimizer = adam(learning_rate=learning_rate, beta_1=beta1)
        self.d_optimizer.build(gan.discriminator.trainable_variables)
        self.g_optimizer.build(gan.generator.trainable_variables)
        self.step = tf.function(self._step)

    def _step(self, images, z):
        generator, discriminator = self.gan.generator, self.gan.discriminator
        with tf.GradientTape() as tape:
            fake = generator(z, training=True)
            real_logits = discriminator(images, training=True)
            fake_logits = discriminator(fake, training=True)
            real = tf.nn.sigmoid_cross_entropy_with_logits(
                labels=tf.ones_like(real_logits), logits=real_logits)
            d_loss = tf.reduce_mean(real) + tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(fake_logits),
                                                        logits=fake_logits))
        variables = discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, variables), variables))
        for _ in range(self.g_steps):
            with tf.GradientTape() as tape:
                logits = discriminator(generator(z, training=True), training=True)
                g_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                    labels=tf.ones_like(logits), logits=logits))
            variables = generator.trainable_variables
            self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, variables), variables))
        return d_loss, g_loss


def test_with_every_regulariser_off_the_step_is_the_originals():
    arch = Architecture(**ARCH)
    keras.utils.set_random_seed(30)
    new = TrainStep(DCGAN(arch), g_steps=2, ema_decay=0.0)
    keras.utils.set_random_seed(30)
    old = OriginalStep(DCGAN(arch))
    for i in range(3):
        images, z = _batch(seed=31 + i)
        out = new(images, z)
        d_loss, g_loss = old.step(images, z)
        assert float(out["d_loss"]) == float(d_loss) and float(out["g_loss"]) == float(g_loss)
    for a, b in zip(new.gan.generator.variables + new.gan.discriminator.variables,
                    old.gan.generator.variables + old.gan.discriminator.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_the_step_with_kerass_own_adam_gives_the_same_weights_within_float_tolerance():
    """FusedAdam (one ResourceApplyAdam per variable) against keras.optimizers.Adam:
    the same formula, so after 3 steps of the whole GAN the weights agree to float32
    rounding (1 - beta is rounded in float32 by the kernel, in float64 by Keras)."""
    arch = Architecture(**ARCH)
    keras.utils.set_random_seed(30)
    new = TrainStep(DCGAN(arch), g_steps=2, ema_decay=0.0)
    keras.utils.set_random_seed(30)
    old = OriginalStep(DCGAN(arch), adam=keras.optimizers.Adam)
    for i in range(3):
        images, z = _batch(seed=31 + i)
        out = new(images, z)
        d_loss, g_loss = old.step(images, z)
        assert float(out["d_loss"]) == pytest.approx(float(d_loss), rel=1e-5)
        assert float(out["g_loss"]) == pytest.approx(float(g_loss), rel=1e-5)
    names = {variable.path for variable in new.gan.generator.variables
             + new.gan.discriminator.variables}
    compared = 0
    for a, b in zip(new.gan.generator.trainable_variables + new.gan.discriminator.trainable_variables,
                    old.gan.generator.trainable_variables + old.gan.discriminator.trainable_variables):
        # The bias of a layer followed by batch norm (g_h1 -> g_bn1, d_h1_conv -> d_bn1) has
        # a gradient of 0 up to rounding (batch norm subtracts it again), and Adam turns
        # that rounding noise into steps of about lr: those biases differ by up to lr per
        # step between any two implementations, and change nothing downstream.
        layer, _, weight = a.path.rpartition("/")
        bn = layer.replace("_conv", "").replace("_h", "_bn")
        if weight == "bias" and f"{bn}/gamma" in names:
            continue
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        compared += 1
    assert compared == 16     # all 18 but the two biases before batch norm


def test_fused_adam_is_adams_formula_by_hand():
    """Three updates of FusedAdam, compiled, against Adam written out in float64 numpy
    (Kingma & Ba 2015, Algorithm 1, with epsilon outside the square root as Keras)."""
    rng = np.random.default_rng(5)
    start = rng.standard_normal((4, 3)).astype(np.float32)
    grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(3)]
    variable = keras.Variable(start)
    optimizer = FusedAdam(learning_rate=0.01, beta_1=0.5)
    apply = tf.function(lambda g: optimizer.apply_gradients([(g, variable)]))
    for g in grads:
        apply(tf.constant(g))
    lr, b1, b2, eps = 0.01, 0.5, 0.999, 1e-7
    x, m, v = start.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    assert np.abs(x - start).max() > 0.02          # it moved (3 steps of about lr each)
    np.testing.assert_allclose(variable.numpy(), x, rtol=1e-5, atol=1e-6)
    assert int(optimizer.iterations.numpy()) == 3


def test_every_regulariser_on_trains_finitely_in_one_compiled_step():
    keras.utils.set_random_seed(32)
    gan = DCGAN(Architecture(**ARCH, d_spectral_norm=True, loss="hinge"))
    step = TrainStep(gan, ema_decay=0.9, r1_gamma=1.0, r1_interval=2,
                     diffaug=("color", "translation", "cutout"), lr_decay="cosine",
                     total_steps=4)
    for i in range(3):
        out = step(*_batch(seed=33 + i))
        assert all(np.isfinite(float(out[key])) for key in ("d_loss", "g_loss"))
    assert int(step.step.numpy()) == 3
    assert step.single_device_step.experimental_get_tracing_count() == 1


# ---------------------------------------------------------------- the shipped model, flags
def _without_recipe(prefix: str, target: str) -> str:
    """A copy of the export ``prefix`` whose export info has no recipe, as exports made
    before recipes were recorded (the step-2,000 model shipped until 2026-12-06): every
    tensor copied by name, only that JSON string changed."""
    reader = tf.train.load_checkpoint(prefix)
    names = sorted(reader.get_variable_to_dtype_map())
    values = [reader.get_tensor(name) for name in names]
    at = names.index(checkpoints.EXPORT_INFO_KEY)
    info = json.loads(values[at].decode())
    assert "recipe" in info
    del info["recipe"]
    values[at] = json.dumps(info).encode()
    tf.raw_ops.SaveV2(prefix=target, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(v) for v in values])
    return target


def test_the_shipped_checkpoint_and_one_without_a_recipe_load_for_completion(tmp_path):
    """The shipped export records its recipe (BCE, D with batch norm, lazy R1 at 0.1); a copy
    without it (an export from before recipes) loads as the same model: no spectral norm,
    D's batch norms, the perceptual term -log D(G(z))."""
    from conftest import ROOT
    shipped = checkpoints.find(str(ROOT / "checkpoint"))
    if shipped is None:
        pytest.skip("no shipped checkpoint in this checkout")
    recipe = checkpoints.read_recipe(shipped)
    assert (recipe["loss"], recipe["d_spectral_norm"], recipe["r1_gamma"]) == ("bce", False, 0.1)
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    _without_recipe(shipped, str(old_dir / os.path.basename(shipped)))
    z = tf.constant(np.random.default_rng(40).uniform(-1, 1, (2, 100)).astype(np.float32))
    outputs = []
    for directory in (ROOT / "checkpoint", old_dir):
        dcgan, prefix = checkpoints.load_for_completion(str(directory))
        assert dcgan.arch == Architecture()
        discriminator = dcgan.discriminator
        assert not discriminator.spectral_norm_layers
        assert [l.name for l in discriminator.layers
                if isinstance(l, keras.layers.BatchNormalization)] == ["d_bn1", "d_bn2", "d_bn3"]
        reader = tf.train.load_checkpoint(prefix)
        np.testing.assert_array_equal(
            discriminator.d_h1_conv.kernel.numpy(),
            reader.get_tensor("discriminator/d_h1_conv/_kernel/.ATTRIBUTES/VARIABLE_VALUE"))
        # The perceptual term is -log D(G(z)) = softplus(-logit).
        images = tf.zeros([2, 64, 64, 3])
        loss, generated = model.completion_loss(dcgan.generator, discriminator, z, images,
                                                tf.zeros([1, 64, 64, 1]), None, 1.0)
        logits = discriminator(generated).numpy()[:, 0].astype(np.float64)
        np.testing.assert_allclose(loss.numpy(), np.logaddexp(0, -logits), rtol=1e-5)
        outputs.append(generated.numpy())
    assert checkpoints.read_recipe(str(old_dir / os.path.basename(shipped))) == {}
    np.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.parametrize("flag,value,words", [
    ("--r1_gamma", "-1", "must be a finite number >= 0"),
    ("--r1_interval", "0", "must be a positive integer"),
    ("--diffaug", "color,blur", "unknown op 'blur'"),
    ("--lr_decay", "exponential", "invalid choice"),
    ("--lr_decay_start", "-5", "must be 0 or more"),
    ("--loss", "wgan", "invalid choice")])
def test_bad_regulariser_flags_exit_2_with_one_line_naming_the_flag(flag, value, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_dcgan.main([flag, value])
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert flag in last and words in last


def test_the_flags_default_to_the_original_recipe():
    from training.loop import TrainConfig
    args = vars(train_dcgan.build_parser().parse_args([]))
    assert (args["loss"], args["d_spectral_norm"], args["r1_gamma"], args["diffaug"],
            args["lr_decay"]) == ("bce", False, 0.0, (), "none")
    args.pop("verbose")
    config = TrainConfig(**args)
    assert config.architecture == Architecture() and config.recipe["diffaug"] == []
    assert train_dcgan.build_parser().parse_args(
        ["--diffaug", "translation,color"]).diffaug == ("color", "translation")


# ---------------------------------------------------------------- the recipe through train_dcgan.py
def _random_faces(folder, count=16, size=16):
    import utils
    folder.mkdir()
    rng = np.random.default_rng(50)
    for index in range(count):
        utils.save_rgb(rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
                       folder / f"{index:02d}.png")
    return folder


def _flags(dataset, run, epochs=1, *extra):
    return ["--dataset", str(dataset), "--epoch", str(epochs), "--batch_size", "8",
            "--image_size", "16", "--z_dim", "8", "--gf_dim", "4", "--df_dim", "4",
            "--checkpoint_dir", str(run / "checkpoint"), "--sample_dir", str(run / "samples"),
            "--log_dir", str(run / "logs"), "--seed", "5", "--precision", "float32",
            "--ema_decay", "0", *extra]


RECIPE = ["--loss", "hinge", "--d_spectral_norm", "--r1_gamma", "2", "--r1_interval", "2",
          "--diffaug", "color,cutout", "--lr_decay", "linear", "--lr_decay_start", "1"]


@pytest.fixture
def regularised_run(tmp_path):
    """One epoch (2 steps) of a tiny model with every regulariser on."""
    faces = _random_faces(tmp_path / "faces")
    run = tmp_path / "run"
    assert train_dcgan.main(_flags(faces, run, 1, *RECIPE)) == 0
    return faces, run


def test_the_recipe_is_stored_in_the_checkpoint_and_options(regularised_run):
    _, run = regularised_run
    prefix = checkpoints.latest(str(run / "checkpoint"))
    recipe = checkpoints.read_recipe(prefix)
    assert recipe == {"loss": "hinge", "d_spectral_norm": True, "r1_gamma": 2.0,
                      "r1_interval": 2, "diffaug": ["color", "cutout"], "lr_decay": "linear",
                      "lr_decay_start": 1, "g_steps": 1, "ema_decay": 0.0,
                      "learning_rate": 2e-4, "d_learning_rate": 2e-4, "g_learning_rate": 2e-4,
                      "beta1": 0.5}
    assert json.loads((run / "checkpoint" / "options.json").read_text())["recipe"] == recipe
    assert checkpoints.read_architecture(prefix) == Architecture(
        image_size=16, z_dim=8, gf_dim=4, df_dim=4, d_spectral_norm=True, loss="hinge")
    # The last step (1 of 2) trained at 2e-4 * (2 - 1) / (2 - 1); 0 is reached at step 2.
    reader = tf.train.load_checkpoint(prefix)
    rates = [reader.get_tensor(name) for name, _ in tf.train.list_variables(prefix)
             if name.startswith("optimizer_") and "learning_rate" in name]
    assert rates and all(rate == pytest.approx(2e-4) for rate in rates)
    dcgan, _ = checkpoints.load_for_completion(str(run / "checkpoint"))
    assert dcgan.discriminator.spectral_norm_layers and dcgan.arch.loss == "hinge"


@pytest.mark.parametrize("change,words", [
    (["--loss", "bce"], "was trained with --loss hinge, not bce; pass --loss hinge"),
    ([], "was trained with --d_spectral_norm"),
])
def test_resuming_with_another_loss_or_spectral_norm_is_a_clear_error(regularised_run, change,
                                                                       words, capsys):
    faces, run = regularised_run
    recipe = [flag for flag in RECIPE if flag != "--d_spectral_norm"] if not change else \
        RECIPE[2:] + change
    capsys.readouterr()
    assert train_dcgan.main(_flags(faces, run, 2, *recipe)) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and words in error and "--checkpoint_dir" in error
    assert "Traceback" not in error


def test_resuming_with_another_r1_gamma_continues_with_a_note(regularised_run, capsys):
    faces, run = regularised_run
    recipe = list(RECIPE)
    recipe[recipe.index("--r1_gamma") + 1] = "5"
    recipe[recipe.index("--lr_decay") + 1] = "cosine"
    capsys.readouterr()
    assert train_dcgan.main(_flags(faces, run, 2, *recipe)) == 0
    out = capsys.readouterr().out
    assert "was trained with --r1_gamma 2.0; this run goes on with --r1_gamma 5.0" in out
    assert "--lr_decay linear; this run goes on with --lr_decay cosine" in out
    prefix = checkpoints.latest(str(run / "checkpoint"))
    assert prefix.endswith("-4") and checkpoints.read_recipe(prefix)["r1_gamma"] == 5.0
