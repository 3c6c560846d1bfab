"""The completion search: each update rule against a NumPy transcription, and convergence.

Every search runs through ``completion.search.complete``, the path complete.py takes, and every
hand computation takes its gradients from ``model.loss_and_gradient``, which it compiles."""
import numpy as np
import pytest
import tensorflow as tf

from completion import masks, search
from completion.search import CompletionConfig, complete
import model
from training import checkpoints
from conftest import settled_dcgan


@pytest.fixture(scope="module")
def dcgan():
    return settled_dcgan(1)


def _problem(dcgan, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (batch, 16, 16, 3)).astype(np.float32)
    mask, low = masks.make_mask("center", 16)
    return images, mask[None], low[None]


def _grad(dcgan, z, images, mask, low, lam):
    tensor = lambda value: tf.convert_to_tensor(value, tf.float32)
    loss, grad, _ = model.loss_and_gradient(dcgan.generator, dcgan.discriminator, tensor(z),
                                            tensor(images), tensor(mask), tensor(low), lam)
    return loss.numpy(), grad.numpy()


def _search(dcgan, config, *batch, **options):
    """Every snapshot of search.complete with the DCGAN's networks."""
    return list(complete(dcgan.generator, dcgan.discriminator, *batch, config=config, **options))


# The blog's scale (normalize=False) at lr 0.01 and 5.0 (which pushes z against the box, so
# clipping acts), and the default scale, where the gradient is that of the loss per known
# value: the 16x16 centre mask keeps 16 * 16 - 8 * 8 = 192 pixels, 576 values.
@pytest.mark.parametrize("lr,normalize,known", [(0.01, False, 1), (5.0, False, 1),
                                                (500.0, True, 576)])
def test_momentum_updates_equal_the_blog_formula(dcgan, lr, normalize, known):
    images, mask, low = _problem(dcgan)
    config = CompletionConfig(approach="momentum", lr=lr, momentum=0.9, lam=0.1, n_iter=4,
                              out_interval=1, normalize=normalize, feature_iter=0, stop_tol=0)
    snapshots = _search(dcgan, config, images, mask, low, seed=5)
    assert [s.iteration for s in snapshots] == [0, 1, 2, 3, 4]
    z = snapshots[0].z.astype(np.float64)
    v = np.zeros_like(z)
    for snapshot in snapshots[1:]:
        _, grad = _grad(dcgan, z.astype(np.float32), images, mask, low, 0.1)
        grad = grad / known
        v_prev = v
        v = 0.9 * v - lr * grad
        z = np.clip(z - 0.9 * v_prev + (1 + 0.9) * v, -1, 1)
        np.testing.assert_allclose(snapshot.z, z, rtol=1e-4, atol=1e-5)
        z = snapshot.z.astype(np.float64)  # follow the run, so float32 drift does not add up
        assert snapshot.z.min() >= -1.0 and snapshot.z.max() <= 1.0
    if lr == 5.0:
        assert np.mean(np.abs(snapshots[-1].z) == 1.0) > 0.2  # clipping happened, z stayed in


def test_gradient_scale_counts_known_values_by_hand():
    mask, low = masks.make_mask("center", 64)             # 64^2 - 32^2 = 3072 known pixels
    assert search.gradient_scale(mask[None], low[None], 3)[0] == np.float32(1 / 9216)
    random = np.zeros((2, 8, 8, 1), np.float32)
    random[0, :2] = 1                                     # 16 pixels, 48 values
    scale = search.gradient_scale(random, np.zeros((2, 1, 1, 1)), 3)
    np.testing.assert_allclose(scale, [1 / 48, 1.0])      # nothing known: no division by 0
    lowres = np.ones((1, 8, 8, 1), np.float32)            # lowres: the 8x8 pooled values count
    assert search.gradient_scale(np.zeros((1, 64, 64, 1)), lowres, 3)[0] == np.float32(1 / 192)
    colour = np.ones((1, 4, 4, 3), np.float32)            # a per-channel mask is not multiplied
    assert search.gradient_scale(colour, np.zeros((1, 1, 1, 1)), 3)[0] == np.float32(1 / 48)


def test_per_image_lr_scale_equals_separate_searches(dcgan):
    """Rows with lr_scale 1 and 3 follow the searches at lr and 3 * lr exactly."""
    images, mask, low = _problem(dcgan, batch=2)
    config = CompletionConfig(lr=200.0, n_iter=6, out_interval=6, feature_iter=0, stop_tol=0)
    z0 = np.random.default_rng(3).uniform(-1, 1, (2, 8)).astype(np.float32)
    both = _search(dcgan, config, np.concatenate([images, images]), mask, low,
                   z=np.concatenate([z0, z0]), lr_scale=[1, 1, 3, 3])[-1]
    for rows, lr in ((slice(0, 2), 200.0), (slice(2, 4), 600.0)):
        alone = _search(dcgan, CompletionConfig(lr=lr, n_iter=6, out_interval=6, feature_iter=0,
                                                stop_tol=0), images, mask, low, z=z0)[-1]
        np.testing.assert_allclose(both.z[rows], alone.z, rtol=1e-5, atol=1e-6)
    assert not np.allclose(both.z[:2], both.z[2:])


def test_adam_updates_equal_hand_computation(dcgan):
    images, mask, low = _problem(dcgan)
    config = CompletionConfig(approach="adam", lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8,
                              lam=0.1, n_iter=3, out_interval=1, feature_iter=0, stop_tol=0)
    snapshots = _search(dcgan, config, images, mask, low, seed=6)
    z = snapshots[0].z.astype(np.float64)
    m = v = 0.0
    for i, snapshot in enumerate(snapshots[1:]):
        _, g = _grad(dcgan, z.astype(np.float32), images, mask, low, 0.1)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - 0.9 ** (i + 1)), v / (1 - 0.999 ** (i + 1))
        z = np.clip(z - 0.05 * m_hat / (np.sqrt(v_hat) + 1e-8), -1, 1)
        np.testing.assert_allclose(snapshot.z, z, rtol=1e-4, atol=1e-5)
        z = snapshot.z.astype(np.float64)


class FixedRandom:
    """Stands in for tf.random.Generator: returns the draws a test chose."""

    def __init__(self, normal, uniform):
        self._normal, self._uniform = normal, uniform

    def normal(self, shape):
        return tf.constant(self._normal, tf.float32)

    def uniform(self, shape):
        return tf.constant(self._uniform, tf.float32)


def _numpy_hmc(z, loss_fn, grad_fn, v, u, beta, eps, steps):
    """The 2016 repository's HMC iteration, transcribed to NumPy."""
    z_old, loss_old, v_old = z.copy(), loss_fn(z), v.copy()
    g = grad_fn(z)
    for _ in range(steps):
        v = v - eps / 2 * beta * g
        z = np.clip(z + eps * v, -1, 1)
        g = grad_fn(z)
        v = v - eps / 2 * beta * g
    loss = loss_fn(z)
    out = z.copy()
    for i in range(len(z)):
        logprob_old = beta * loss_old[i] + np.sum(v_old[i] ** 2) / 2
        logprob = beta * loss[i] + np.sum(v[i] ** 2) / 2
        accept = np.exp(logprob_old - logprob)
        if accept < 1 and u[i] > accept:
            out[i] = z_old[i]
    return out


@pytest.mark.parametrize("uniform", [0.0, 0.5, 1.0])
def test_hmc_update_equals_the_original(uniform):
    """On a quadratic bowl (gradient known in closed form), per-image accept/reject included."""
    rng = np.random.default_rng(2)
    center = rng.uniform(-0.5, 0.5, (6, 5))
    scale = np.linspace(1.0, 30.0, 6)[:, None]  # some images' proposals get rejected
    loss_fn = lambda z: 0.5 * np.sum(scale * (z - center) ** 2, axis=1)
    grad_fn = lambda z: scale * (z - center)
    z = rng.uniform(-1, 1, (6, 5))
    v = rng.normal(size=(6, 5)) * 3
    u = np.full(6, uniform)
    expected = _numpy_hmc(z, loss_fn, grad_fn, v, u, beta=2.0, eps=0.3, steps=7)

    def loss_and_grad(zt):
        return (0.5 * tf.reduce_sum(scale * (zt - center) ** 2, axis=1),
                tf.cast(scale, tf.float32) * (zt - tf.cast(center, tf.float32)))

    zt = tf.constant(z, tf.float32)
    loss, grad = loss_and_grad(zt)
    got = search.hmc_update(zt, tf.cast(loss, tf.float32), grad,
                                lambda q: tuple(tf.cast(t, tf.float32) for t in loss_and_grad(q)),
                                2.0, 0.3, 7, FixedRandom(v, u))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-5)
    moved = np.any(np.abs(expected - z) > 1e-9, axis=1)
    if uniform == 0.0:
        assert moved.all()            # u = 0 accepts every proposal
    if uniform == 1.0:
        assert not moved.all()        # some proposals raise the energy and are rejected


def test_hmc_runs_in_the_completer_and_stays_in_the_box(dcgan):
    images, mask, low = _problem(dcgan)
    config = CompletionConfig(approach="hmc", hmc_beta=0.2, hmc_eps=0.05, hmc_L=5, n_iter=3,
                              out_interval=3, feature_iter=0, stop_tol=0)
    snapshots = _search(dcgan, config, images, mask, low, seed=1)
    assert snapshots[-1].iteration == 3
    assert np.all(np.abs(snapshots[-1].z) <= 1.0)
    assert not np.allclose(snapshots[-1].z, snapshots[0].z)


def test_history_holds_each_iterations_loss_and_z(dcgan):
    images, mask, low = _problem(dcgan)
    config = CompletionConfig(n_iter=7, out_interval=3, feature_iter=0, stop_tol=0)
    snapshots = _search(dcgan, config, images, mask, low, seed=2)
    assert [s.iteration for s in snapshots] == [0, 3, 6, 7]   # every interval and the last
    assert [s.history_start for s in snapshots] == [0, 0, 3, 6]
    assert [len(s.history_loss) for s in snapshots] == [0, 3, 3, 1]
    for snapshot in snapshots[1:]:
        for t in range(len(snapshot.history_loss)):
            loss, _ = _grad(dcgan, snapshot.history_z[t], images, mask, low, 0.1)
            np.testing.assert_allclose(snapshot.history_loss[t], loss, rtol=1e-5)
    # The z at iteration 3 is the first history entry of the next chunk.
    np.testing.assert_allclose(snapshots[2].history_z[0], snapshots[1].z)
    # Snapshot losses and images belong to the snapshot's z.
    loss, _ = _grad(dcgan, snapshots[-1].z, images, mask, low, 0.1)
    np.testing.assert_allclose(snapshots[-1].loss, loss, rtol=1e-5)
    np.testing.assert_allclose(snapshots[-1].generated, dcgan.sample(snapshots[-1].z).numpy(),
                               atol=1e-6)


def test_completing_a_generated_face_drives_contextual_loss_down_90_percent(trained_run):
    """The generator's own image under the centre mask: the blog's momentum search with its
    defaults (lr 0.01, momentum 0.9, lam 0.1) must recover the known pixels."""
    dcgan, _ = checkpoints.load_for_completion(str(trained_run / "checkpoint"))
    rng = np.random.default_rng(7)
    z_true = rng.uniform(-1, 1, (8, dcgan.arch.z_dim)).astype(np.float32)
    images = dcgan.sample(z_true).numpy()
    mask, low = masks.make_mask("center", dcgan.arch.image_size)
    config = CompletionConfig(n_iter=1000, out_interval=1000, feature_iter=0, stop_tol=0)
    snapshots = _search(dcgan, config, images, mask[None], low[None], seed=8)

    def contextual(snapshot):
        return model.contextual_loss(tf.constant(snapshot.generated), tf.constant(images),
                                     tf.constant(mask[None])).numpy()

    start, end = contextual(snapshots[0]), contextual(snapshots[-1])
    assert start.min() > 0.5  # a real gap to close (L1 summed over the 576 known values)
    assert end.sum() <= 0.1 * start.sum(), (start, end)


def test_each_approach_has_its_own_rule_with_named_state(dcgan):
    """The rule is chosen once, from the config, outside the compiled loop; its state is
    a named tuple the loop carries."""
    z = tf.zeros([2, 8])
    expected = {"momentum": (search.Momentum, ("velocity",)),
                "adam": (search.Adam, ("mean", "square")),
                "hmc": (search.HMC, ())}
    for approach, (kind, fields) in expected.items():
        rule = search.update_rule(CompletionConfig(approach=approach),
                                      tf.random.Generator.from_seed(0))
        assert type(rule) is kind
        assert rule.initial_state(z)._fields == fields
    with pytest.raises(ValueError, match="approach"):
        CompletionConfig(approach="sgd")
    assert CompletionConfig(approach="adam").lr == 0.03 and CompletionConfig().lr == 1.0


def test_one_random_stream_across_batches_equals_one_batch(dcgan):
    """complete.py's batches share one SearchRandom: two batches of 2 start from the z,
    and end at the z, of one batch of 4; HMC's draws continue rather than restart."""
    images, mask, low = _problem(dcgan, batch=4)
    config = CompletionConfig(n_iter=3, out_interval=2, lr=300.0, feature_iter=0, stop_tol=0)
    whole = _search(dcgan, config, images, mask, low, seed=4)
    random = search.SearchRandom(4)
    halves = [_search(dcgan, config, images[rows], mask, low, seed=random)
              for rows in (slice(0, 2), slice(2, 4))]
    np.testing.assert_array_equal(np.concatenate([h[0].z for h in halves]), whole[0].z)
    np.testing.assert_allclose(np.concatenate([h[-1].z for h in halves]), whole[-1].z,
                               rtol=1e-5, atol=1e-6)

    hmc = CompletionConfig(approach="hmc", hmc_eps=0.05, hmc_L=2, n_iter=2, feature_iter=0,
                           stop_tol=0)
    random = search.SearchRandom(4)
    first = _search(dcgan, hmc, images[:2], mask, low, seed=random)
    z0 = first[0].z
    continued = _search(dcgan, hmc, images[:2], mask, low, z=z0, seed=random)[-1].z
    restarted = _search(dcgan, hmc, images[:2], mask, low, z=z0, seed=4)[-1].z
    np.testing.assert_allclose(restarted, first[-1].z, rtol=1e-5, atol=1e-6)  # same draws
    assert not np.allclose(continued, first[-1].z)                            # new draws


# ------------------------------------------------------------------ the feature search
def test_generator_split_at_the_first_feature_map_is_the_generator(dcgan):
    """G(z) == from_features(features(z)); the map is g_bn0's output after the ReLU."""
    z = tf.random.uniform([3, 8], -1, 1, seed=3)
    h = dcgan.generator.features(z)
    assert h.shape == (3, 4, 4, dcgan.generator.base_filters)
    assert float(tf.reduce_min(h)) == 0.0                      # a ReLU: some units are off
    np.testing.assert_allclose(dcgan.generator.from_features(h).numpy(),
                               dcgan.generator(z).numpy(), atol=1e-6)


def _feature_grad(dcgan, h, images, mask, low, lam):
    tensor = lambda value: tf.convert_to_tensor(value, tf.float32)
    loss, grad, _ = model.loss_and_gradient(dcgan.generator.from_features, dcgan.discriminator,
                                            tensor(h), tensor(images), tensor(mask),
                                            tensor(low), lam)
    return loss.numpy(), grad.numpy()


def test_feature_search_steps_equal_the_blog_formula_projected_onto_the_relu_range(dcgan):
    """After n_iter z steps, feature_iter momentum steps on h = features(z) with the
    gradient of the loss per known value (576 at 16x16), then h = max(h, 0); lr 3000 is
    large enough that the projection acts."""
    images, mask, low = _problem(dcgan)
    lr = 3000.0
    config = CompletionConfig(lr=300.0, n_iter=2, feature_iter=3, feature_lr=lr, lam=0.1,
                              out_interval=1, stop_tol=0)
    snapshots = _search(dcgan, config, images, mask, low, seed=5)
    assert [s.iteration for s in snapshots] == [0, 1, 2, 3, 4, 5]
    assert [s.features is None for s in snapshots] == [True] * 3 + [False] * 3
    z = snapshots[2].z
    h = dcgan.generator.features(tf.constant(z)).numpy().astype(np.float64)
    v = np.zeros_like(h)
    projected = 0
    for snapshot in snapshots[3:]:
        loss, grad = _feature_grad(dcgan, h.astype(np.float32), images, mask, low, 0.1)
        np.testing.assert_allclose(snapshot.history_loss[0], loss, rtol=1e-5)
        v_prev = v
        v = 0.9 * v - lr * grad / 576
        stepped = h - 0.9 * v_prev + 1.9 * v
        projected += np.sum((stepped < 0) & (h > 0))           # units the step switched off
        h = np.maximum(stepped, 0.0)
        np.testing.assert_allclose(snapshot.features, h, rtol=1e-4, atol=1e-5)
        h = snapshot.features.astype(np.float64)
        np.testing.assert_array_equal(snapshot.z, z)           # z stays where the z search ended
        np.testing.assert_array_equal(snapshot.history_z[0], z)
        np.testing.assert_allclose(snapshot.generated,
                                   dcgan.generator.from_features(snapshot.features).numpy(),
                                   atol=1e-6)
    assert projected > 0                                       # the projection acted


def test_feature_search_fits_the_known_pixels_better_than_z_alone(trained_run, tiny_faces):
    """On real faces the z search leaves a gap on the known pixels that G's range cannot
    close; searching the 4x4 feature map (256 values for this tiny G, whose gradients
    are far smaller than the shipped model's: hence lr 3000) from the same z must lower
    every face's contextual loss, by 5% on average (measured: 289.4 -> 261.3)."""
    from completion import faces as face_io
    dcgan, _ = checkpoints.load_for_completion(str(trained_run / "checkpoint"))
    images = face_io.read_faces(sorted(str(p) for p in tiny_faces.iterdir())[:8], 16, 3)
    mask, low = masks.make_mask("center", 16)
    config = CompletionConfig(n_iter=300, out_interval=300, feature_iter=300, feature_lr=3000.0,
                              stop_tol=0)
    snapshots = _search(dcgan, config, images, mask[None], low[None], seed=8)
    after_z, after_features = snapshots[1], snapshots[-1]
    assert (after_z.iteration, after_features.iteration) == (300, 600)

    def contextual(snapshot):
        return model.contextual_loss(tf.constant(snapshot.generated), tf.constant(images),
                                     tf.constant(mask[None])).numpy()

    assert np.all(contextual(after_features) < contextual(after_z))
    assert contextual(after_features).mean() < 0.95 * contextual(after_z).mean()
    assert np.all(after_features.loss < after_z.loss)


def test_feature_iterations_must_not_be_negative():
    with pytest.raises(ValueError, match="feature_iter"):
        CompletionConfig(feature_iter=-1)
    assert CompletionConfig(n_iter=10, feature_iter=5).total_iter == 15
