"""Completion: search the latent space for the z whose G(z) fits the known pixels.

Yeh, Chen et al., "Semantic Image Inpainting with Perceptual and Contextual
Losses", Sec. 3.3: minimise ``L(z) = contextual(z) + lam * perceptual(z)`` over
z in [-1, 1]^z_dim, then paste G(z) into the hole. Three searches, as in the
2016 repository:

* ``momentum`` (default, the blog's): projected gradient descent with
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

* ``adam``: Adam on z (the repository's later default and the paper's), then clip.
* ``hmc``: Hamiltonian Monte Carlo with ``hmcL`` leapfrog steps of size
  ``hmcEps`` on the energy ``hmcBeta * L(z)``, a Metropolis accept/reject per
  image, and ``hmcBeta`` multiplied by ``hmcAnneal`` after every iteration.

:class:`Completer` runs many iterations per compiled call (a ``tf.while_loop``)
between output intervals and returns the per-iteration losses and z's for the
logs, so Python does no work per iteration. It yields :class:`Snapshot` at
iteration 0, every ``out_interval`` iterations, and after the last one.
:func:`best_of_restarts` runs several random starts per image and keeps the
one with the lowest final loss (``--nRestarts``).
"""
from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np
import tensorflow as tf

from masks import LOWRES_FACTOR

APPROACHES = ("momentum", "adam", "hmc")
from flags import DEFAULT_LR  # noqa: E402  (defined without TensorFlow, for --help)


@dataclasses.dataclass
class CompletionConfig:
    approach: str = "momentum"
    lr: float | None = None   # None: DEFAULT_LR[approach]
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    hmc_beta: float = 0.2
    hmc_eps: float = 0.001
    hmc_L: int = 100
    hmc_anneal: float = 1.0
    lam: float = 0.1
    n_iter: int = 1000
    out_interval: int = 50
    normalize: bool = True    # momentum: step on the loss per known value (see above)

    def __post_init__(self):
        if self.approach not in APPROACHES:
            raise ValueError(f"approach must be one of {APPROACHES}, got {self.approach!r}")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.approach]
        if self.n_iter < 0 or self.out_interval < 1 or self.hmc_L < 1:
            raise ValueError("n_iter must be >= 0, out_interval and hmc_L >= 1")


@dataclasses.dataclass
class Snapshot:
    """State after ``iteration`` updates, and what happened since the last snapshot."""
    iteration: int
    z: np.ndarray                # (B, z_dim)
    generated: np.ndarray        # G(z): (B, S, S, C) in [-1, 1]
    loss: np.ndarray             # (B,) loss at z
    history_start: int           # iteration index of history_loss[0]
    history_loss: np.ndarray     # (T, B): loss at each iteration before its update
    history_z: np.ndarray        # (T, B, z_dim): z at each iteration before its update


# --------------------------------------------------------------- update rules
def momentum_update(z, v, grad, lr, momentum):
    """The blog's projected gradient step with momentum. Returns (z, v)."""
    v_prev = v
    v = momentum * v - lr * grad
    z = z - momentum * v_prev + (1.0 + momentum) * v
    return tf.clip_by_value(z, -1.0, 1.0), v


def adam_update(z, m, v, grad, step, lr, beta1, beta2, eps):
    """One Adam step on z (``step`` counts from 0), then clip. Returns (z, m, v)."""
    t = tf.cast(step, tf.float32) + 1.0
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * grad * grad
    m_hat = m / (1.0 - beta1 ** t)
    v_hat = v / (1.0 - beta2 ** t)
    z = z - lr * m_hat / (tf.sqrt(v_hat) + eps)
    return tf.clip_by_value(z, -1.0, 1.0), m, v


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


def gradient_scale(mask, lowres_mask, channels: int) -> np.ndarray:
    """(B,) ``1 / |M|``: one over the known values of each image's loss (mask and lowres
    mask summed over pixels and channels; 1 if nothing is known)."""
    def known(values):
        values = np.asarray(values, np.float64)
        per_image = values.reshape(len(values), -1).sum(axis=1)
        return per_image * (channels if values.shape[-1] == 1 else 1)

    total = known(mask) + known(lowres_mask)
    return (1.0 / np.maximum(total, 1.0)).astype(np.float32)


# ------------------------------------------------------------------- the loop
class Completer:
    """Runs a completion search with a :class:`model.DCGAN`; see the module docstring."""

    def __init__(self, dcgan, config: CompletionConfig = CompletionConfig(), seed: int | None = None):
        self.dcgan = dcgan
        self.config = config
        self.seed = seed
        self.np_rng = np.random.default_rng(seed)
        self.tf_rng = (tf.random.Generator.from_seed(seed) if seed is not None
                       else tf.random.Generator.from_non_deterministic_state())
        self._run = tf.function(self._run_eager, reduce_retracing=True)
        self._evaluate = tf.function(self._evaluate_eager, reduce_retracing=True)

    def _evaluate_eager(self, z, images, mask, lowres_mask):
        return self.dcgan.completion_loss(z, images, mask, lowres_mask, self.config.lam)

    def _run_eager(self, z, state_a, state_b, images, mask, lowres_mask, start, num_steps,
                   grad_scale):
        """``num_steps`` updates from iteration ``start``; returns the new state and history."""
        config = self.config
        lam = tf.constant(config.lam, tf.float32)

        def loss_and_grad(z):
            loss, grad, _ = self.dcgan.loss_and_gradient(z, images, mask, lowres_mask, lam)
            return loss, grad

        def body(i, z, a, b, losses, zs):
            loss, grad = loss_and_grad(z)
            losses = losses.write(i, loss)
            zs = zs.write(i, z)
            step = start + i
            if config.approach == "momentum":
                z, a = momentum_update(z, a, grad * grad_scale[:, None], config.lr,
                                       config.momentum)
            elif config.approach == "adam":
                z, a, b = adam_update(z, a, b, grad, step, config.lr, config.beta1, config.beta2,
                                      config.eps)
            else:
                beta = config.hmc_beta * config.hmc_anneal ** tf.cast(step, tf.float32)
                z = hmc_update(z, loss, grad, loss_and_grad, beta, config.hmc_eps, config.hmc_L,
                               self.tf_rng)
            return i + 1, z, a, b, losses, zs

        losses = tf.TensorArray(tf.float32, size=num_steps)
        zs = tf.TensorArray(tf.float32, size=num_steps)
        _, z, state_a, state_b, losses, zs = tf.while_loop(
            lambda i, *_: i < num_steps, body,
            (tf.constant(0), z, state_a, state_b, losses, zs))
        loss, generated = self._evaluate_eager(z, images, mask, lowres_mask)
        return z, state_a, state_b, losses.stack(), zs.stack(), loss, generated

    def initial_z(self, batch_size: int) -> np.ndarray:
        """z drawn uniformly from [-1, 1] (B, z_dim)."""
        return self.np_rng.uniform(-1.0, 1.0, (batch_size, self.dcgan.arch.z_dim)).astype(np.float32)

    def complete(self, images, mask, lowres_mask=None, z=None,
                 lr_scale=None) -> Iterator[Snapshot]:
        """Search z for a batch; yield a :class:`Snapshot` at each output point.

        images (B, S, S, C) in [-1, 1]; mask (B or 1, S, S, 1 or C), 1 = known;
        lowres_mask (B or 1, S/8, S/8, 1 or C) or None; z (B, z_dim) or None;
        lr_scale (B,) or None: momentum only, each image's lr is ``lr * lr_scale``
        (so one batch can try several step sizes: ``bench/sweep_search.py``).
        """
        config = self.config
        arch = self.dcgan.arch
        images = tf.convert_to_tensor(images, tf.float32)
        batch = int(images.shape[0])
        mask = tf.convert_to_tensor(np.broadcast_to(mask, (batch, *np.shape(mask)[-3:])), tf.float32)
        if lowres_mask is None:
            low = arch.image_size // LOWRES_FACTOR
            lowres_mask = np.zeros((1, low, low, 1), np.float32)
        lowres_mask = tf.convert_to_tensor(
            np.broadcast_to(lowres_mask, (batch, *np.shape(lowres_mask)[-3:])), tf.float32)
        z = tf.convert_to_tensor(self.initial_z(batch) if z is None else z, tf.float32)
        grad_scale = tf.convert_to_tensor(
            gradient_scale(mask, lowres_mask, images.shape[-1]) if config.normalize
            else np.ones(batch, np.float32), tf.float32)
        if lr_scale is not None:
            grad_scale *= tf.convert_to_tensor(lr_scale, tf.float32)
        state_a = tf.zeros_like(z)
        state_b = tf.zeros_like(z)
        empty_loss = np.zeros((0, batch), np.float32)
        empty_z = np.zeros((0, batch, arch.z_dim), np.float32)

        loss, generated = self._evaluate(z, images, mask, lowres_mask)
        yield Snapshot(0, z.numpy(), generated.numpy(), loss.numpy(), 0, empty_loss, empty_z)
        iteration = 0
        while iteration < config.n_iter:
            steps = min(config.out_interval - iteration % config.out_interval,
                        config.n_iter - iteration)
            z, state_a, state_b, losses, zs, loss, generated = self._run(
                z, state_a, state_b, images, mask, lowres_mask,
                tf.constant(iteration), tf.constant(steps), grad_scale)
            start, iteration = iteration, iteration + steps
            yield Snapshot(iteration, z.numpy(), generated.numpy(), loss.numpy(), start,
                           losses.numpy(), zs.numpy())


def best_of_restarts(completer: Completer, images, mask, lowres_mask=None,
                     restarts: int = 1) -> list[Snapshot]:
    """``restarts`` searches per image from independent random z; keep each image's best.

    All ``B * restarts`` searches run as one batch (restart-major: rows
    ``k * B + i`` are restart ``k`` of image ``i``; batch norm is in inference
    mode, so they do not interact), then every image keeps the restart with the
    lowest *final* loss. Returns that restart's snapshots, shaped as for one search
    of B images. Restart 0 draws the same z as a plain :meth:`Completer.complete`
    with the same seed, so it can only do better.
    """
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    images = np.asarray(images, np.float32)
    batch = len(images)

    def tile(array):
        array = np.broadcast_to(array, (batch, *np.shape(array)[-3:]))
        return np.concatenate([array] * restarts)

    low = completer.dcgan.arch.image_size // LOWRES_FACTOR
    lowres_mask = np.zeros((1, low, low, 1), np.float32) if lowres_mask is None else lowres_mask
    snapshots = list(completer.complete(tile(images), tile(mask), tile(lowres_mask)))
    final_loss = snapshots[-1].loss.reshape(restarts, batch)
    chosen = final_loss.argmin(axis=0) * batch + np.arange(batch)      # (B,) rows of the winners
    return [Snapshot(s.iteration, s.z[chosen], s.generated[chosen], s.loss[chosen],
                     s.history_start, s.history_loss[:, chosen], s.history_z[:, chosen])
            for s in snapshots]
