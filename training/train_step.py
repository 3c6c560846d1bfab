"""One training step: Adam for D and G, loss scaling, the moving average of G, compiled.

The step is the original's (Radford et al. 2016; Amos 2016): one discriminator
update on a batch of real images and G(z), then ``g_steps`` generator updates on
the same z; Adam with lr 2e-4 and beta1 0.5. The losses are :mod:`model`'s.

Regularised training (docs/TRAINING_RECIPES.md), each off by default: the hinge loss
and spectral normalisation of D (both part of the model, ``gan.arch``: one power
iteration per step), the lazy R1 penalty (Mescheder et al. 2018; every
``r1_interval`` steps, times ``r1_interval``, as StyleGAN2), DiffAugment (Zhao et
al. 2020, :mod:`training.augment`) on every image D sees, and a linear or cosine
decay of both learning rates to 0 at the run's last step. With all of them off the
step is the original's, operation for operation.

Batch size is never fixed: every step takes it from its input tensors. Built
inside a ``tf.distribute`` strategy's scope, the step splits each global batch
across the replicas (several GPUs, or workers), batch norm is synchronised over
the global batch (``DCGAN(sync_bn=True)``) and gradients are averaged, so one
step equals one single-device step on the same batch.
"""
from __future__ import annotations

import tensorflow as tf

import math

from model import DCGAN, Generator, discriminator_losses, generator_loss, r1_penalty
from shared import defaults
from training import augment

keras = tf.keras

LOSS_KEYS = ("d_loss", "d_loss_real", "d_loss_fake", "g_loss")


class LearningRateDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate at a training step: ``initial`` until ``start``, then down to 0
    at ``total`` (the run's last step), linearly or along half a cosine; ``none`` keeps
    ``initial``.

    ``step`` is the number of steps already made (0 for the first update), so the
    last update (step ``total - 1``) has a small positive rate and 0 is reached at
    ``total``. With ``start >= total`` the rate stays ``initial``.
    """

    def __init__(self, initial: float, kind: str = "none", start: int = 0,
                 total: int | None = None):
        if kind not in defaults.LR_DECAY_CHOICES:
            raise ValueError(f"lr decay must be one of {defaults.LR_DECAY_CHOICES}, got {kind!r}")
        if kind != "none" and total is None:
            raise ValueError("a decaying learning rate needs the run's total steps")
        self.initial, self.kind, self.start, self.total = float(initial), kind, int(start), total

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        if self.kind == "none" or self.total <= self.start:
            return tf.constant(self.initial, tf.float32)
        progress = tf.clip_by_value((step - self.start) / float(self.total - self.start),
                                    0.0, 1.0)
        if self.kind == "linear":
            return self.initial * (1.0 - progress)
        return self.initial * 0.5 * (1.0 + tf.cos(math.pi * progress))

    def get_config(self) -> dict:
        return {"initial": self.initial, "kind": self.kind, "start": self.start,
                "total": self.total}


class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam with each variable's update as one fused kernel, TensorFlow's
    ``ResourceApplyAdam``, instead of Keras's ten or so separate ops per variable.

    The kernel computes Keras's formula, step for step::

        alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
        m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2)
        var -= m * alpha / (sqrt(v) + epsilon)

    on the same slot variables (so checkpoints are the same; only ``1 - beta`` is
    rounded in float32 instead of Python's float64, a relative 1e-5 in that constant).
    It traces about 0.4 s faster at the start of a run and makes one pass over each
    variable instead of several (docs/CPU_SPEED.md). AMSGrad, not used here, falls back
    to Keras's own update.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.constant(self.beta_1, dtype)
        beta_2 = tf.constant(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle,
            v=self._velocities[index].handle, beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype), beta1=beta_1,
            beta2=beta_2, epsilon=tf.constant(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype))


def make_optimizer(learning_rate: float, beta1: float, precision: str):
    """Adam (:class:`FusedAdam`); in float16 wrapped for loss scaling (float16 gradients
    underflow without it, bfloat16 has float32's range)."""
    optimizer = FusedAdam(learning_rate=learning_rate, beta_1=beta1)
    if precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class TrainStep(tf.Module):
    """``train_step(images, z)``: one compiled step that updates ``gan`` in place.

    ``d_learning_rate``/``g_learning_rate`` (default ``learning_rate``) give D and G
    their own Adam step sizes (two time-scale updates, Heusel et al. 2017).
    ``ema_decay`` > 0 keeps ``generator_ema``, an exponential moving average of G's
    weights (Yazici et al. 2019), updated after every step; samples, exports and
    completion use it. 0 keeps none (the original). The defaults are train_dcgan.py's
    (:mod:`shared.defaults`): one G update per D update and the average, where the original
    made two and kept none (``g_steps=2, ema_decay=0``).

    The regularisers (the loss and spectral norm come with ``gan.arch``):
    ``r1_gamma`` > 0 adds the R1 penalty to D's loss on the steps that are a multiple
    of ``r1_interval``, times ``r1_interval``; ``diffaug`` (op names,
    :func:`training.augment.policy_from`) augments every image D sees, drawn from
    (``seed``, step, call); ``lr_decay`` ``linear`` or ``cosine`` decays both learning
    rates from ``lr_decay_start`` to 0 at ``total_steps`` (:class:`LearningRateDecay`).
    ``step`` is the training step counter (an int64 variable; the loop's, saved in its
    checkpoint), which each call advances by one; without it the step keeps its own.
    """

    def __init__(self, gan: DCGAN, learning_rate: float = defaults.DEFAULT_LEARNING_RATE,
                 beta1: float = defaults.DEFAULT_BETA1, g_steps: int = defaults.DEFAULT_G_STEPS,
                 d_learning_rate: float | None = None, g_learning_rate: float | None = None,
                 ema_decay: float = defaults.DEFAULT_EMA_DECAY, *,
                 r1_gamma: float = defaults.DEFAULT_R1_GAMMA,
                 r1_interval: int = defaults.DEFAULT_R1_INTERVAL,
                 diffaug=defaults.DEFAULT_DIFFAUG, lr_decay: str = defaults.DEFAULT_LR_DECAY,
                 lr_decay_start: int = defaults.DEFAULT_LR_DECAY_START,
                 total_steps: int | None = None, step: tf.Variable | None = None, seed=0):
        super().__init__(name="train_step")
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        if not r1_gamma >= 0.0 or int(r1_interval) < 1:
            raise ValueError(f"r1_gamma must be >= 0 and r1_interval >= 1, got {r1_gamma} and "
                             f"{r1_interval}")
        self.gan = gan
        self.loss = gan.arch.loss
        self.g_steps = int(g_steps)
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)
        self.policy = augment.policy_from(diffaug)
        self.step = step if step is not None else tf.Variable(0, dtype=tf.int64,
                                                              trainable=False)
        self.seed = seed
        self.host_step = None       # several replicas: the step, counted in Python (lazy R1)
        self.strategy = tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        self.ema_decay = float(ema_decay)
        self.generator_ema = None
        if self.ema_decay > 0:
            self.generator_ema = Generator(gan.arch, gan.precision, sync_bn=False)
            self.generator_ema(tf.zeros([1, gan.arch.z_dim]))
            self.reset_ema()
            # Counts EMA updates for the warm-up (see update_ema); checkpointed with it.
            self.ema_updates = tf.Variable(0, dtype=tf.int64, trainable=False)
        # The rates are the optimizers' own variables (as without decay, so a checkpoint's
        # optimizer state has the same layout whatever the schedule): set from the
        # schedules at every step (set_learning_rates).
        self.d_schedule = LearningRateDecay(d_learning_rate or learning_rate, lr_decay,
                                            lr_decay_start, total_steps)
        self.g_schedule = LearningRateDecay(g_learning_rate or learning_rate, lr_decay,
                                            lr_decay_start, total_steps)
        self.g_optimizer = make_optimizer(g_learning_rate or learning_rate, beta1, gan.precision)
        self.d_optimizer = make_optimizer(d_learning_rate or learning_rate, beta1, gan.precision)
        self.g_optimizer.build(gan.generator.trainable_variables)
        self.d_optimizer.build(gan.discriminator.trainable_variables)
        self.single_device_step = tf.function(self._single_device_step, reduce_retracing=True,
                                              autograph=False)
        self.distributed_step = tf.function(self._distributed_step, reduce_retracing=True)

    def __call__(self, images, z) -> dict:
        """images (B, S, S, C) in [-1, 1], z (B, z_dim) -> {loss name: scalar tensor,
        ``d_real``/``d_fake``: D's outputs (B, 1)}. Tensors, not floats: reading one waits
        for the device. With several replicas, B must be a multiple of their number."""
        images = tf.convert_to_tensor(images, tf.float32)
        z = tf.convert_to_tensor(z, tf.float32)
        if self.replicas == 1:
            return self.single_device_step(images, z)
        return self.distributed_step(images, z, self._r1_due_on_host())

    def _r1_due_on_host(self) -> bool:
        """Several replicas: whether this step carries the R1 penalty, decided in Python (one
        compiled step for each answer), as a tf.cond cannot hold synchronised batch norm.
        Counts from the step counter, read once (set ``host_step`` to None after assigning
        ``step`` between calls)."""
        if self.r1_gamma == 0 or self.r1_interval == 1:
            return self.r1_gamma > 0
        if self.host_step is None:
            self.host_step = int(self.step.numpy())
        due = self.host_step % self.r1_interval == 0
        self.host_step += 1
        return due

    # ------------------------------------------------------------ the moving average
    @property
    def inference_generator(self) -> Generator:
        """The generator to sample and complete with: the average if there is one."""
        return self.generator_ema if self.generator_ema is not None else self.gan.generator

    def sample(self, z):
        """G(z) (the average of G's weights if kept), batch norm in inference mode."""
        return self.inference_generator(tf.convert_to_tensor(z, tf.float32), training=False)

    def reset_ema(self):
        """Copy G's weights (and batch-norm statistics) into the average."""
        for average, value in zip(self.generator_ema.variables, self.gan.generator.variables):
            average.assign(value)

    def update_ema(self):
        """average = d * average + (1 - d) * G for every variable of G, batch-norm statistics
        included, with the usual warm-up d_t = min(d, (1 + t) / (10 + t)), so an average
        started from random weights forgets them within a few hundred steps."""
        t = tf.cast(self.ema_updates.assign_add(1), tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        for average, value in zip(self.generator_ema.variables, self.gan.generator.variables):
            average.assign(decay * average + (1.0 - decay) * tf.cast(value, average.dtype))

    # ------------------------------------------------------------ the schedule
    def set_learning_rates(self) -> None:
        """Both optimizers' rates, their schedules' at the current step (after a resume, the
        flags' rates replace the checkpoint's)."""
        self.d_optimizer.learning_rate = self.d_schedule(self.step)
        self.g_optimizer.learning_rate = self.g_schedule(self.step)

    # ------------------------------------------------------------ the step
    def _scaled(self, optimizer, loss):
        """The loss to differentiate (inside the tape): divided by the number of replicas,
        whose gradients are summed, and scaled up for float16."""
        loss = loss / self.replicas
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    @staticmethod
    def _apply(optimizer, tape, scaled_loss, variables):
        gradients = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))  # unscales for float16

    def _d(self, images, call: int):
        """D (training mode) on DiffAugment's T(images), T drawn for this step and ``call``
        (0: real, 1: fake in D's update, 2...: G's updates); D alone without DiffAugment."""
        if self.policy:
            seed = tf.stack([tf.cast(self.seed, tf.int64), self.step])
            context = tf.distribute.get_replica_context()
            replica = context.replica_id_in_sync_group if context is not None else 0
            seed = tf.random.experimental.stateless_fold_in(seed, call * 65536 + replica)
            images = augment.diff_augment(images, self.policy, seed)
        return self.gan.discriminator(images, training=True)

    def _real_logits_and_r1(self, images, due=None):
        """(D(x) (B, 1), the R1 penalty to add to D's loss): the penalty times r1_interval on
        the steps that are a multiple of it, else 0. ``due`` None decides by a tf.cond on the
        step counter (one compiled step); True or False (several replicas) in Python."""
        def d_real(x):
            return self._d(x, 0)

        def with_penalty():
            penalty, logits = r1_penalty(d_real, images, self.r1_gamma * self.r1_interval)
            return logits, penalty

        def without():
            return d_real(images), tf.constant(0.0)

        if self.r1_interval == 1 or due is True:
            return with_penalty()
        if due is False:
            return without()
        return tf.cond(tf.equal(self.step % self.r1_interval, 0), with_penalty, without)

    def _replica_step(self, images, z, r1_due=None):
        """One D update on (images, G(z)), then ``g_steps`` G updates on the same z;
        ``r1_due``: :meth:`_real_logits_and_r1`'s ``due``."""
        generator, discriminator = self.gan.generator, self.gan.discriminator
        with tf.GradientTape() as tape:
            fake = generator(z, training=True)                               # (B, S, S, C)
            if self.r1_gamma > 0:
                real_logits, penalty = self._real_logits_and_r1(images, r1_due)
            else:
                real_logits = self._d(images, 0)                             # (B, 1)
            fake_logits = self._d(fake, 1)                                   # (B, 1)
            d_loss, d_loss_real, d_loss_fake = discriminator_losses(real_logits, fake_logits,
                                                                    self.loss)
            scaled = self._scaled(self.d_optimizer,
                                  d_loss + penalty if self.r1_gamma > 0 else d_loss)
        self._apply(self.d_optimizer, tape, scaled, discriminator.trainable_variables)
        for g_step in range(self.g_steps):
            with tf.GradientTape() as tape:
                fake_logits_g = self._d(generator(z, training=True), 2 + g_step)
                g_loss = generator_loss(fake_logits_g, self.loss)
                scaled = self._scaled(self.g_optimizer, g_loss)
            self._apply(self.g_optimizer, tape, scaled, generator.trainable_variables)
        return {"d_loss": d_loss, "d_loss_real": d_loss_real, "d_loss_fake": d_loss_fake,
                "g_loss": g_loss, "d_real": tf.sigmoid(real_logits),
                "d_fake": tf.sigmoid(fake_logits)}

    def _before_step(self):
        """Cross-replica: the step's learning rates and D's power iteration."""
        if self.d_schedule.kind != "none":
            self.set_learning_rates()
        self.gan.discriminator.power_iteration()    # nothing without spectral norm

    def _after_step(self):
        """Cross-replica: the moving average of G, the step counter."""
        if self.generator_ema is not None:
            self.update_ema()
        self.step.assign_add(1)

    def _single_device_step(self, images, z):
        self._before_step()
        outputs = self._replica_step(images, z)
        self._after_step()
        return outputs

    def _distributed_step(self, images, z, r1_due=False):
        """Each replica trains on its contiguous slice of the global batch."""
        def replica_step(images, z):
            context = tf.distribute.get_replica_context()
            size = tf.shape(images)[0] // context.num_replicas_in_sync
            start = context.replica_id_in_sync_group * size
            return self._replica_step(images[start:start + size], z[start:start + size],
                                      r1_due)

        self._before_step()
        outputs = self.strategy.run(replica_step, args=(images, z))
        self._after_step()      # cross-replica context: every replica's copy gets the same value
        mean = tf.distribute.ReduceOp.MEAN
        reduced = {key: self.strategy.reduce(mean, outputs[key], axis=None) for key in LOSS_KEYS}
        for key in ("d_real", "d_fake"):
            reduced[key] = self.strategy.gather(outputs[key], axis=0)
        return reduced
