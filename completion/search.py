"""Completion: search the latent space for the z whose G(z) fits the known pixels.

Yeh, Chen et al., "Semantic Image Inpainting with Perceptual and Contextual
Losses", Sec. 3.3: minimise ``L(z) = contextual(z) + lam * perceptual(z)``
(:func:`model.completion_loss`) over z in [-1, 1]^z_dim, then paste G(z) into
the hole. Three update rules, as in the 2016 repository, one class each:

* :class:`Momentum` (default, the blog's): projected gradient descent with
  Nesterov-style momentum, exactly as the blog writes it::

      v_prev = v
      v = momentum * v - lr * grad
      z += -momentum * v_prev + (1 + momentum) * v
      z = clip(z, -1, 1)

  with one change of scale (``normalize``, on by default): ``grad`` is the
  gradient of the loss *per known value*, ``L(z) / |M|`` with ``|M|`` the sum
  of the image's mask over pixels and channels (9,216 for the centre hole at
  64x64). The blog differentiates the summed loss, whose L1 gradient is about
  |M| times larger (each known value adds a sign), so its lr 0.01 moved z by
  far more than its range [-1, 1] every step and never converged. Dividing by
  |M| does not move the minimum (both terms are divided), and one lr then
  fits every mask and image size. ``normalize=False`` (``--sumLoss``) is the
  blog's scale.

* :class:`Adam`: Adam on z (the repository's later default and the paper's), then clip.
* :class:`HMC`: Hamiltonian Monte Carlo with ``hmc_L`` leapfrog steps of size
  ``hmc_eps`` on the energy ``hmc_beta * L(z)``, a Metropolis accept/reject per
  image, and ``hmc_beta`` multiplied by ``hmc_anneal`` after every iteration.

New here: the **feature search** (``feature_iter`` iterations after the ``n_iter``
of z; complete.py's ``--featureIter``, on by default there). G's range is 100-D and
the best z still misses the known pixels; the search then moves G's first feature
map h = features(z) (4x4x512 at 64x64, after g_bn0 and the ReLU) from where z put
it, with the same loss through the rest of G (``G.from_features``) and the blog's
momentum step (``feature_lr``, on the loss per known value), projected onto h >= 0,
the ReLU's range. This is the intermediate-layer search of Daras et al., "Intermediate
Layer Optimization for Inverse Problems using Deep Generative Models" (ICML 2021),
at G's first layer; deeper layers fit the context better and the hole worse
(docs/DESIGN.md, "The feature search"). Snapshots of this phase keep the final z and carry
the map in ``features``.

:func:`complete` is the search, in the shape of stylegan2-ada's ``project()``:
it takes G, D, the images, the mask, a :class:`CompletionConfig` and a seed (or
a starting z), does no I/O, and yields a :class:`Snapshot` at iteration 0,
every ``out_interval`` iterations and after the last one. ``out_interval`` is
only a chunk size: that many iterations run in one compiled ``tf.while_loop``
call, which also returns every iteration's loss and z for the logs, so Python
does no work per iteration. :func:`best_of_restarts` runs several random starts
per image and keeps the one with the lowest final loss (``--nRestarts``).
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, NamedTuple

import numpy as np
import tensorflow as tf

from completion import masks
from completion.config import APPROACHES, CompletionConfig  # noqa: F401 (completion's API)
from model import completion_loss, loss_and_gradient

def networks(model) -> tuple:
    """(G, D) to complete with, from a loaded model (:func:`checkpoints.load_for_completion`)."""
    return model.generator, model.discriminator


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """State after ``iteration`` updates of the batch, and what happened since the last
    snapshot. With early stopping (``CompletionConfig.stop_tol``) an image that has
    stopped keeps its z (and map) while the rest go on: ``steps`` counts each image's own
    updates, and ``history_active`` marks the history rows in which it still moved."""
    iteration: int
    z: np.ndarray                # (B, z_dim)
    generated: np.ndarray        # G(z): (B, S, S, C) in [-1, 1]
    loss: np.ndarray             # (B,) loss at z
    history_start: int           # iteration index of history_loss[0]
    history_loss: np.ndarray     # (T, B): loss at each iteration before its update
    history_z: np.ndarray        # (T, B, z_dim): z at each iteration before its update
    features: np.ndarray | None = None   # the feature search's map (B, 4, 4, F0), or None
    history_active: np.ndarray | None = None  # (T, B) bool: the image made that update
    steps: np.ndarray | None = None      # (B,) updates each image has made, both phases
    active: np.ndarray | None = None     # (B,) bool: the image still searches (this phase)
    phase: str = "z"                     # "z", or "features" (the feature search)

    def __post_init__(self):
        batch, rows = len(self.loss), len(self.history_loss)
        if self.history_active is None:
            object.__setattr__(self, "history_active", np.ones((rows, batch), bool))
        if self.steps is None:
            object.__setattr__(self, "steps", np.full(batch, self.iteration, np.int64))
        if self.active is None:
            object.__setattr__(self, "active", np.ones(batch, bool))

    @property
    def stopped(self) -> np.ndarray:
        """(B,) bool: the image stopped early in this phase (its fill stopped changing)."""
        return ~self.active

    def rows(self, chosen: np.ndarray) -> "Snapshot":
        """The same snapshot for the images ``chosen`` (indices into the batch)."""
        return dataclasses.replace(
            self, z=self.z[chosen], generated=self.generated[chosen], loss=self.loss[chosen],
            history_loss=self.history_loss[:, chosen], history_z=self.history_z[:, chosen],
            features=None if self.features is None else self.features[chosen],
            history_active=self.history_active[:, chosen], steps=self.steps[chosen],
            active=self.active[chosen])


class SearchRandom:
    """The search's random streams from one seed: the starting z (NumPy) and HMC's
    momenta and accept draws (TensorFlow). Passing one object to several
    :func:`complete` calls continues both streams (complete.py's batches). HMC's
    compiled search draws from this stream, so it is kept here (``compiled``); the other
    rules' are shared by every search in the process (:func:`compiled_search`)."""

    def __init__(self, seed: int | None = None):
        self.numpy = np.random.default_rng(seed)
        self.tensorflow = (tf.random.Generator.from_seed(seed) if seed is not None
                           else tf.random.Generator.from_non_deterministic_state())
        self.compiled = {}     # (G, D, config, ...) -> HMC's CompiledSearch

    def initial_z(self, batch_size: int, z_dim: int) -> np.ndarray:
        """z drawn uniformly from [-1, 1]: (B, z_dim) float32."""
        return self.numpy.uniform(-1.0, 1.0, (batch_size, z_dim)).astype(np.float32)


# --------------------------------------------------------------- update rules
# Each rule: ``initial_state(z)`` and ``step(z, state, loss, grad, scale, iteration,
# loss_and_grad) -> (z, state)``, traced into the compiled loop. ``scale`` (B,) is each
# image's gradient scale (momentum only); ``iteration`` counts from 0.
class MomentumState(NamedTuple):
    velocity: tf.Tensor          # the variable's shape: (B, z_dim), or G's first feature map


def per_image(scale, like):
    """(B,) ``scale`` shaped to multiply a batch ``like`` (B, ...) row by row."""
    return tf.reshape(scale, [-1] + [1] * (len(like.shape) - 1))


class Momentum:
    """The blog's projected gradient step with momentum (module docstring), on each
    image's gradient times its ``scale``: ``1 / |M|`` for the loss per known value
    (:func:`gradient_scale`), times a per-image lr factor if any. The projection
    clips to [``low``, ``high``]: z's box [-1, 1], or [0, inf) (``high`` None) for
    G's first feature map, which comes out of a ReLU (:func:`complete`)."""

    def __init__(self, lr: float, momentum: float, low: float = -1.0,
                 high: float | None = 1.0):
        self.lr, self.momentum, self.low, self.high = lr, momentum, low, high

    def initial_state(self, z) -> MomentumState:
        return MomentumState(velocity=tf.zeros_like(z))

    def step(self, z, state, loss, grad, scale, iteration, loss_and_grad):
        v_prev = state.velocity
        v = self.momentum * v_prev - self.lr * (grad * per_image(scale, grad))
        z = z - self.momentum * v_prev + (1.0 + self.momentum) * v
        z = tf.maximum(z, self.low) if self.high is None else tf.clip_by_value(z, self.low,
                                                                               self.high)
        return z, MomentumState(velocity=v)


class AdamState(NamedTuple):
    mean: tf.Tensor              # m: moving average of the gradient (B, z_dim)
    square: tf.Tensor            # v: moving average of its square (B, z_dim)


class Adam:
    """One Adam step on z (Kingma and Ba, bias-corrected), then clip."""

    def __init__(self, lr: float, beta1: float, beta2: float, eps: float):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps

    def initial_state(self, z) -> AdamState:
        return AdamState(mean=tf.zeros_like(z), square=tf.zeros_like(z))

    def step(self, z, state, loss, grad, scale, iteration, loss_and_grad):
        t = tf.cast(iteration, tf.float32) + 1.0
        m = self.beta1 * state.mean + (1.0 - self.beta1) * grad
        v = self.beta2 * state.square + (1.0 - self.beta2) * grad * grad
        m_hat = m / (1.0 - self.beta1 ** t)
        v_hat = v / (1.0 - self.beta2 ** t)
        z = z - self.lr * m_hat / (tf.sqrt(v_hat) + self.eps)
        return tf.clip_by_value(z, -1.0, 1.0), AdamState(mean=m, square=v)


class HMCState(NamedTuple):
    """HMC keeps nothing between iterations: each one draws fresh momenta."""


class HMC:
    """One HMC proposal per image per iteration, accepted or rejected per image, at the
    inverse temperature ``beta * anneal ** iteration``; ``rng`` is a ``tf.random.Generator``."""

    def __init__(self, beta: float, eps: float, num_leapfrog: int, anneal: float, rng):
        self.beta, self.eps, self.num_leapfrog, self.anneal = beta, eps, num_leapfrog, anneal
        self.rng = rng

    def initial_state(self, z) -> HMCState:
        return HMCState()

    def step(self, z, state, loss, grad, scale, iteration, loss_and_grad):
        beta = self.beta * self.anneal ** tf.cast(iteration, tf.float32)
        z = hmc_update(z, loss, grad, loss_and_grad, beta, self.eps, self.num_leapfrog, self.rng)
        return z, state


def hmc_update(z, loss, grad, loss_and_grad, beta, eps, num_leapfrog, rng):
    """One HMC proposal per image from (z, loss, grad), accepted or rejected per image.

    ``loss_and_grad(z) -> (loss (B,), grad (B, z_dim))``. As the 2016 code, the
    position is clipped to [-1, 1] after every leapfrog step.
    """
    v_old = rng.normal(tf.shape(z))
    z_old, loss_old = z, loss

    def leapfrog(i, z, v, loss, grad):
        v = v - eps / 2.0 * beta * grad
        z = tf.clip_by_value(z + eps * v, -1.0, 1.0)
        loss, grad = loss_and_grad(z)
        v = v - eps / 2.0 * beta * grad
        return i + 1, z, v, loss, grad

    _, z, v, loss, _ = tf.while_loop(lambda i, *_: i < num_leapfrog, leapfrog,
                                     (tf.constant(0), z, v_old, loss, grad))
    energy_old = beta * loss_old + tf.reduce_sum(v_old ** 2, axis=1) / 2.0
    energy_new = beta * loss + tf.reduce_sum(v ** 2, axis=1) / 2.0
    accept_probability = tf.exp(energy_old - energy_new)
    accept = rng.uniform(tf.shape(loss)) <= accept_probability
    return tf.where(accept[:, None], z, z_old)


def update_rule(config: CompletionConfig, rng):
    """The rule of ``config.approach``, chosen once, outside the compiled loop; ``rng``:
    HMC's ``tf.random.Generator``."""
    if config.approach == "momentum":
        return Momentum(config.lr, config.momentum)
    if config.approach == "adam":
        return Adam(config.lr, config.beta1, config.beta2, config.eps)
    return HMC(config.hmc_beta, config.hmc_eps, config.hmc_L, config.hmc_anneal, rng)


def gradient_scale(mask, lowres_mask, channels: int) -> np.ndarray:
    """(B,) ``1 / |M|``: one over the known values of each image's loss (mask and lowres
    mask summed over pixels and channels; 1 if nothing is known)."""
    def known(values):
        values = np.asarray(values, np.float64)
        per_image = values.reshape(len(values), -1).sum(axis=1)
        return per_image * (channels if values.shape[-1] == 1 else 1)

    total = known(mask) + known(lowres_mask)
    return (1.0 / np.maximum(total, 1.0)).astype(np.float32)


# ------------------------------------------------------------------ the search
def hole_change(generated, reference, hole):
    """(B,) mean absolute difference of two batches of images over each image's ``hole``
    (B, S, S, 1 or C; 1 = missing), in 8-bit grey levels (images in [-1, 1])."""
    hole = tf.broadcast_to(hole, tf.shape(generated))
    total = tf.reduce_sum(tf.abs(generated - reference) * hole, axis=[1, 2, 3])
    return 127.5 * total / tf.maximum(tf.reduce_sum(hole, axis=[1, 2, 3]), 1.0)


class Stopping(NamedTuple):
    """The early-stopping part of a search's loop state, per image."""
    active: tf.Tensor            # (B,) bool: still searching
    reference: tf.Tensor         # (B, S, S, C): G at the last check


class CompiledSearch:
    """The two compiled functions of one search of G and D with one update rule.

    ``generator`` maps the searched variable to images: G itself for z, or
    ``G.from_features`` for the feature search. ``record`` False does not keep the
    variable at every iteration (``zs`` comes back empty), for the feature map,
    which is 80 times larger than z. ``stop_tol`` > 0 stops each image once the mean
    change of its hole over ``stop_window`` iterations is below it (grey levels)."""

    def __init__(self, generator, discriminator, rule, lam: float, record: bool = True,
                 stop_tol: float = 0.0, stop_window: int = 10):
        self.generator, self.discriminator = generator, discriminator
        self.rule, self.lam, self.record = rule, lam, record
        self.stop_tol, self.stop_window = stop_tol, stop_window
        self.evaluate = tf.function(self._evaluate, reduce_retracing=True)
        self.run = tf.function(self._run, reduce_retracing=True)

    def _evaluate(self, z, images, mask, lowres_mask):
        """(loss (B,), G(z)) at z."""
        return completion_loss(self.generator, self.discriminator, z, images, mask, lowres_mask,
                               self.lam)

    def _run(self, z, state, stopping, images, mask, lowres_mask, hole, scale, start,
             num_steps):
        """Up to ``num_steps`` updates from iteration ``start`` (counted from the phase's
        first), ending early once no image is active: (steps run, z, state, stopping,
        losses (T, B), actives (T, B), zs (T, B, z_dim), loss at the new z (B,), G(new z)).
        ``actives[t]`` tells which images made update t; the others keep their z and state."""
        lam = tf.constant(self.lam, tf.float32)
        stops = self.stop_tol > 0

        def loss_and_grad(z):
            loss, grad, _ = loss_and_gradient(self.generator, self.discriminator, z, images,
                                              mask, lowres_mask, lam)
            return loss, grad

        def body(i, z, state, stopping, losses, actives, zs):
            loss, grad, generated = loss_and_gradient(self.generator, self.discriminator, z,
                                                      images, mask, lowres_mask, lam)
            iteration = start + i
            if stops:
                # Every stop_window iterations: has the hole changed since the last check?
                check = tf.equal(iteration % self.stop_window, 0)
                change = hole_change(tf.cast(generated, tf.float32), stopping.reference, hole)
                converged = check & (iteration > 0) & (change < self.stop_tol)
                stopping = Stopping(
                    active=stopping.active & ~converged,
                    reference=tf.where(check, tf.cast(generated, tf.float32),
                                       stopping.reference))
            losses = losses.write(i, loss)
            actives = actives.write(i, stopping.active)
            if self.record:
                zs = zs.write(i, z)
            new_z, new_state = self.rule.step(z, state, loss, grad, scale, iteration,
                                              loss_and_grad)
            if stops:          # a stopped image keeps its z and state
                def keep(new, old):
                    return tf.where(per_image(stopping.active, new), new, old)
                new_z = keep(new_z, z)
                new_state = tf.nest.map_structure(keep, new_state, state)
            return i + 1, new_z, new_state, stopping, losses, actives, zs

        losses = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        actives = tf.TensorArray(tf.bool, size=0, dynamic_size=True)
        zs = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        steps, z, state, stopping, losses, actives, zs = tf.while_loop(
            lambda i, z, state, stopping, *_: (i < num_steps)
            & tf.reduce_any(stopping.active),
            body, (tf.constant(0), z, state, stopping, losses, actives, zs))
        loss, generated = self._evaluate(z, images, mask, lowres_mask)
        return (steps, z, state, stopping, losses.stack(), actives.stack(),
                zs.stack() if self.record else tf.zeros([0]), loss, generated)


def complete(generator, discriminator, images, mask, lowres_mask=None, *,
             config: CompletionConfig = CompletionConfig(), z=None,
             seed: int | SearchRandom | None = None, lr_scale=None,
             hole=None) -> Iterator[Snapshot]:
    """Search z for a batch; yield a :class:`Snapshot` at each output point.

    images (B, S, S, C) in [-1, 1]; mask (B or 1, S, S, 1 or C), 1 = known (or the
    importance weight); lowres_mask (B or 1, S/8, S/8, 1 or C), None: no lowres term;
    z (B, z_dim), None: drawn from ``seed``; seed: an int, None (a random one) or a
    :class:`SearchRandom` whose streams continue; lr_scale (B,) or None: momentum
    only, each image's lr is ``lr * lr_scale`` (one batch can try several step sizes:
    ``bench/sweep_search.py``); hole (B or 1, S, S, 1 or C), 1 = missing: where early
    stopping (``config.stop_tol``) watches the fill; None: where ``mask`` is 0 (pass it
    with importance weights, which are 0 on known pixels far from the hole too). An image
    with no hole is watched whole. Batch norm runs in inference mode, so images do not
    interact: with early stopping, each image stops when it alone would.

    Snapshots come at iteration 0, at every multiple of ``out_interval`` and at the end
    of each phase; a phase ends when every image has stopped or at its cap (``n_iter``,
    then ``feature_iter``). Images that have stopped leave the batch at the next chunk
    (``out_interval`` iterations), so they cost nothing more.
    """
    random = seed if isinstance(seed, SearchRandom) else SearchRandom(seed)
    images = tf.convert_to_tensor(images, tf.float32)
    batch, size = int(images.shape[0]), int(images.shape[1])

    def per_image(array):
        return np.array(np.broadcast_to(np.asarray(array, np.float32),
                                        (batch, *np.shape(array)[-3:])))

    mask = per_image(mask)
    lowres_mask = per_image(masks.no_lowres_mask(size)[None] if lowres_mask is None
                            else lowres_mask)
    hole = per_image((mask <= 0) if hole is None else (np.asarray(hole) > 0))
    hole[hole.reshape(batch, -1).sum(axis=1) == 0] = 1.0      # nothing missing: watch it all
    if z is None:
        z = random.initial_z(batch, generator.arch.z_dim)
    z = np.array(z, np.float32)
    # 1 / (known values) per image: the loss per known value (--sumLoss: the sum).
    per_value = gradient_scale(mask, lowres_mask, images.shape[-1])
    scale = per_value if config.normalize else np.ones(batch, np.float32)
    if lr_scale is not None:
        scale = scale * np.asarray(lr_scale, np.float32)
    # What the compiled loop depends on: not the iteration counts or the chunk size.
    key = (discriminator, dataclasses.replace(config, n_iter=0, feature_iter=0, out_interval=1))
    search = compiled_search(random, generator, key, lambda: CompiledSearch(
        generator, discriminator, update_rule(config, random.tensorflow), config.lam,
        stop_tol=config.stop_tol, stop_window=config.stop_window))
    images = images.numpy()
    steps = np.zeros(batch, np.int64)           # each image's updates so far
    z_dim = generator.arch.z_dim

    def phase(search, variable, scale, first, cap, snapshot):
        """Run ``search`` on ``variable`` (B, ...) from batch iteration ``first`` for at
        most ``cap`` iterations, in chunks that end at every multiple of ``out_interval``;
        yield ``snapshot(...)`` after each chunk; return the final variable and the
        iteration at which the phase ended.

        Between chunks the batch shrinks to its active images (when any has stopped), so
        a stopped image costs nothing more; rows are put back in place for the snapshot."""
        variable = np.array(variable, np.float32)
        state = tf.nest.map_structure(lambda t: np.array(t),
                                      search.rule.initial_state(tf.constant(variable)))
        active = np.ones(batch, bool)
        loss, generated = search.evaluate(tf.constant(variable), images, mask, lowres_mask)
        loss, generated = np.array(loss), np.array(generated)
        reference = generated.astype(np.float32)
        iteration = first
        while iteration - first < cap and active.any():
            steps_wanted = min(config.out_interval - iteration % config.out_interval,
                               first + cap - iteration)
            rows = np.flatnonzero(active)
            every = len(rows) == batch

            def take(array):
                return array if every else array[rows]

            done, new_variable, new_state, stopping, losses, actives, zs, new_loss, \
                new_generated = search.run(
                    take(variable), tf.nest.map_structure(take, state),
                    Stopping(take(active), take(reference)), take(images), take(mask),
                    take(lowres_mask), take(hole), take(scale),
                    tf.constant(iteration - first), tf.constant(steps_wanted))
            done = int(done)
            variable[rows] = new_variable.numpy()
            state = tf.nest.map_structure(lambda full, part: _put(full, rows, part.numpy()),
                                          state, new_state)
            active[rows] = stopping.active.numpy()
            reference[rows] = stopping.reference.numpy()
            loss[rows], generated[rows] = new_loss.numpy(), new_generated.numpy()
            history_loss = np.zeros((done, batch), np.float32)
            history_loss[:, rows] = losses.numpy()
            history_active = np.zeros((done, batch), bool)
            history_active[:, rows] = actives.numpy()
            history_z = None
            if search.record:
                history_z = np.zeros((done, batch, variable.shape[1]), np.float32)
                history_z[:, rows] = zs.numpy()
            # The loop's last pass may only have found that the last images converged: it
            # made no update, so it is no iteration of the batch.
            moved = history_active.any(axis=1)
            done = int(moved.sum())
            history_loss, history_active = history_loss[moved], history_active[moved]
            if history_z is not None:
                history_z = history_z[moved]
            steps[:] += history_active.sum(axis=0)
            start, iteration = iteration, iteration + done
            yield snapshot(variable, start, iteration, generated.copy(), loss.copy(),
                           history_loss, history_z, history_active, active.copy())
        return variable, iteration

    loss, generated = search.evaluate(tf.constant(z), images, mask, lowres_mask)
    yield Snapshot(0, z.copy(), generated.numpy(), loss.numpy(), 0,
                   np.zeros((0, batch), np.float32), np.zeros((0, batch, z_dim), np.float32),
                   steps=steps.copy())
    z, end = yield from phase(
        search, z, scale, 0, config.n_iter,
        lambda z, start, end, generated, loss, losses, zs, history_active, active:
            Snapshot(end, z.copy(), generated, loss, start, losses, zs,
                     history_active=history_active, steps=steps.copy(), active=active))
    if config.feature_iter == 0:
        return

    # The feature search: G's first feature map h = features(z), a ReLU's output, is
    # searched in its place with the same loss through the rest of G (from_features),
    # from the z found above, by the blog's momentum step projected onto h >= 0, always
    # on the loss per known value.
    feature_search = compiled_search(random, generator, (*key, "features"), lambda: CompiledSearch(
        generator.from_features, discriminator,
        Momentum(config.feature_lr, config.momentum, low=0.0, high=None), config.lam,
        record=False, stop_tol=config.stop_tol, stop_window=config.stop_window))
    final_z = z.copy()
    h = tf.cast(generator.features(tf.constant(z), training=False), tf.float32).numpy()
    yield from phase(
        feature_search, h, per_value, end, config.feature_iter,
        lambda h, start, end, generated, loss, losses, zs, history_active, active:
            Snapshot(end, final_z, generated, loss, start, losses,
                     np.repeat(final_z[None], end - start, axis=0), h.copy(),
                     history_active=history_active, steps=steps.copy(), active=active,
                     phase="features"))


# Compiled searches that draw no random numbers (every rule but HMC), kept for the life of
# the process: a later search of the same networks and settings (the web page's next
# Complete) does not trace them again. Tracing one costs seconds; a process holds a few.
_SHARED_SEARCHES: dict = {}


def compiled_search(random: SearchRandom, generator, key, build) -> CompiledSearch:
    """The compiled search of ``generator`` and ``key`` (discriminator, config, ...), built
    by ``build()`` once: shared by every search if its rule draws nothing (not HMC), else
    kept in ``random`` (HMC's draws come from its stream)."""
    cache = random.compiled if key[1].approach == "hmc" else _SHARED_SEARCHES
    key = (generator, *key)
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _put(full: np.ndarray, rows: np.ndarray, part: np.ndarray) -> np.ndarray:
    """``full`` with its ``rows`` set to ``part`` (in place when the shapes allow)."""
    if len(rows) == len(full):
        return np.array(part)
    full[rows] = part
    return full


def restart_snapshots(generator, discriminator, images, mask, lowres_mask=None, *,
                      config: CompletionConfig = CompletionConfig(),
                      seed: int | SearchRandom | None = None,
                      restarts: int = 1, hole=None, z=None) -> Iterator[Snapshot]:
    """The snapshots of ``restarts`` searches per image from independent random z, as they
    come, every restart's row kept (the web page shows the best so far).

    All ``B * restarts`` searches run as one batch (restart-major: rows
    ``k * B + i`` are restart ``k`` of image ``i``; batch norm is in inference
    mode, so they do not interact). Restart 0 draws the same z as a plain
    :func:`complete` with the same seed; ``z`` (B, z_dim): restart 0 starts there
    instead (a learned start, :mod:`completion.encoder`), the others from random z.
    The z are drawn when this is called, the search runs as the snapshots are read.
    """
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    images = np.asarray(images, np.float32)
    batch = len(images)

    def tile(array):
        if array is None:
            return None
        array = np.broadcast_to(array, (batch, *np.shape(array)[-3:]))
        return np.concatenate([array] * restarts)

    random = seed if isinstance(seed, SearchRandom) else SearchRandom(seed)
    starts = random.initial_z(batch * restarts, generator.arch.z_dim)
    if z is not None:
        starts[:batch] = np.asarray(z, np.float32)
    return complete(generator, discriminator, tile(images), tile(mask), tile(lowres_mask),
                    config=config, seed=random, hole=tile(hole), z=starts)


def best_of_restarts(generator, discriminator, images, mask, lowres_mask=None, *,
                     config: CompletionConfig = CompletionConfig(),
                     seed: int | SearchRandom | None = None,
                     restarts: int = 1, hole=None, z=None) -> list[Snapshot]:
    """``restarts`` searches per image from independent random z; keep each image's best.

    The searches of :func:`restart_snapshots` (one batch, restart-major), then every
    image keeps the restart with the lowest *final* loss. Returns that restart's
    snapshots, shaped as for one search of B images. Restart 0 draws the same z as a
    plain :func:`complete` with the same seed, so it can only do better. ``z`` (B,
    z_dim): restart 0 starts there instead (a learned start, :mod:`completion.encoder`),
    the others from random z.
    """
    batch = len(images)
    snapshots = list(restart_snapshots(generator, discriminator, images, mask, lowres_mask,
                                       config=config, seed=seed, restarts=restarts, hole=hole,
                                       z=z))
    final_loss = snapshots[-1].loss.reshape(restarts, batch)
    chosen = final_loss.argmin(axis=0) * batch + np.arange(batch)      # (B,) rows of the winners
    return [snapshot.rows(chosen) for snapshot in snapshots]
