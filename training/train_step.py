"""One training step: Adam for D and G, loss scaling, the moving average of G, compiled.

The step is the original's (Radford et al. 2016; Amos 2016): one discriminator
update on a batch of real images and G(z), then ``g_steps`` generator updates on
the same z; Adam with lr 2e-4 and beta1 0.5. The losses are :mod:`model`'s.

Batch size is never fixed: every step takes it from its input tensors. Built
inside a ``tf.distribute`` strategy's scope, the step splits each global batch
across the replicas (several GPUs, or workers), batch norm is synchronised over
the global batch (``DCGAN(sync_bn=True)``) and gradients are averaged, so one
step equals one single-device step on the same batch.
"""
from __future__ import annotations

import tensorflow as tf

from model import DCGAN, Generator, discriminator_losses, generator_loss
from shared import defaults

keras = tf.keras

LOSS_KEYS = ("d_loss", "d_loss_real", "d_loss_fake", "g_loss")


def make_optimizer(learning_rate: float, beta1: float, precision: str):
    """Adam; in float16 wrapped for loss scaling (float16 gradients underflow without it,
    bfloat16 has float32's range)."""
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta1)
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
    """

    def __init__(self, gan: DCGAN, learning_rate: float = defaults.DEFAULT_LEARNING_RATE,
                 beta1: float = defaults.DEFAULT_BETA1, g_steps: int = defaults.DEFAULT_G_STEPS,
                 d_learning_rate: float | None = None, g_learning_rate: float | None = None,
                 ema_decay: float = defaults.DEFAULT_EMA_DECAY):
        super().__init__(name="train_step")
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        self.gan = gan
        self.g_steps = int(g_steps)
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
        self.g_optimizer = make_optimizer(g_learning_rate or learning_rate, beta1, gan.precision)
        self.d_optimizer = make_optimizer(d_learning_rate or learning_rate, beta1, gan.precision)
        self.g_optimizer.build(gan.generator.trainable_variables)
        self.d_optimizer.build(gan.discriminator.trainable_variables)
        self.single_device_step = tf.function(self._single_device_step, reduce_retracing=True, autograph=False)
        self.distributed_step = tf.function(self._distributed_step, reduce_retracing=True)

    def __call__(self, images, z) -> dict:
        """images (B, S, S, C) in [-1, 1], z (B, z_dim) -> {loss name: scalar tensor,
        ``d_real``/``d_fake``: D's outputs (B, 1)}. Tensors, not floats: reading one waits
        for the device. With several replicas, B must be a multiple of their number."""
        images = tf.convert_to_tensor(images, tf.float32)
        z = tf.convert_to_tensor(z, tf.float32)
        if self.replicas == 1:
            return self.single_device_step(images, z)
        return self.distributed_step(images, z)

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

    def _replica_step(self, images, z):
        """One D update on (images, G(z)), then ``g_steps`` G updates on the same z."""
        generator, discriminator = self.gan.generator, self.gan.discriminator
        with tf.GradientTape() as tape:
            fake = generator(z, training=True)                               # (B, S, S, C)
            real_logits = discriminator(images, training=True)               # (B, 1)
            fake_logits = discriminator(fake, training=True)                 # (B, 1)
            d_loss, d_loss_real, d_loss_fake = discriminator_losses(real_logits, fake_logits)
            scaled = self._scaled(self.d_optimizer, d_loss)
        self._apply(self.d_optimizer, tape, scaled, discriminator.trainable_variables)
        for _ in range(self.g_steps):
            with tf.GradientTape() as tape:
                fake_logits_g = discriminator(generator(z, training=True), training=True)
                g_loss = generator_loss(fake_logits_g)
                scaled = self._scaled(self.g_optimizer, g_loss)
            self._apply(self.g_optimizer, tape, scaled, generator.trainable_variables)
        return {"d_loss": d_loss, "d_loss_real": d_loss_real, "d_loss_fake": d_loss_fake,
                "g_loss": g_loss, "d_real": tf.sigmoid(real_logits),
                "d_fake": tf.sigmoid(fake_logits)}

    def _single_device_step(self, images, z):
        outputs = self._replica_step(images, z)
        if self.generator_ema is not None:
            self.update_ema()
        return outputs

    def _distributed_step(self, images, z):
        """Each replica trains on its contiguous slice of the global batch."""
        def replica_step(images, z):
            context = tf.distribute.get_replica_context()
            size = tf.shape(images)[0] // context.num_replicas_in_sync
            start = context.replica_id_in_sync_group * size
            return self._replica_step(images[start:start + size], z[start:start + size])

        outputs = self.strategy.run(replica_step, args=(images, z))
        if self.generator_ema is not None:
            self.update_ema()   # cross-replica context: every replica's copy gets the same value
        mean = tf.distribute.ReduceOp.MEAN
        reduced = {key: self.strategy.reduce(mean, outputs[key], axis=None) for key in LOSS_KEYS}
        for key in ("d_real", "d_fake"):
            reduced[key] = self.strategy.gather(outputs[key], axis=0)
        return reduced
