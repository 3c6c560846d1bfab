"""Run by tests/test_distribute.py in a fresh process (logical devices must be set first).

Builds the same tiny DCGAN twice, on one device and under a MirroredStrategy over two
logical CPU devices, runs one train step on the same global batch, and prints the
largest differences of the losses and of every updated variable as JSON. With the
environment variable REGULARISED=1: two steps with the lazy R1 penalty (k = 2, so the
first step carries it and the second not) and a cosine learning-rate decay.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.set_visible_devices([], "GPU")   # two CPU replicas, also on a machine with GPUs
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from model import Architecture, DCGAN  # noqa: E402
from training import distribute  # noqa: E402
from training.train_step import TrainStep  # noqa: E402

arch = Architecture(image_size=16, z_dim=8, gf_dim=4, df_dim=4)
rng = np.random.default_rng(0)
images = rng.uniform(-1, 1, (8, 16, 16, 3)).astype(np.float32)
z = rng.uniform(-1, 1, (8, 8)).astype(np.float32)

regularised = os.environ.get("REGULARISED") == "1"
options = dict(r1_gamma=5.0, r1_interval=2, lr_decay="cosine", total_steps=10) \
    if regularised else {}
tf.keras.utils.set_random_seed(1)
single = TrainStep(DCGAN(arch), g_steps=2, ema_decay=0.0, **options)
strategy = distribute.make_strategy("mirrored")
with strategy.scope():
    tf.keras.utils.set_random_seed(1)
    mirrored = TrainStep(DCGAN(arch, sync_bn=True), g_steps=2, ema_decay=0.0, **options)


def variables(train_step):
    gan = train_step.gan
    return {v.path: v.numpy() for v in gan.generator.variables + gan.discriminator.variables}


before = variables(single)
initial = max(float(np.abs(before[k] - v).max()) for k, v in variables(mirrored).items())
for _ in range(2 if regularised else 1):
    out_single = single(images, z)
    out_mirrored = mirrored(images, z)
after_single, after_mirrored = variables(single), variables(mirrored)
print(json.dumps({
    "replicas": mirrored.replicas,
    "initial_weight_diff": initial,
    "loss_diff": {k: abs(float(out_single[k]) - float(out_mirrored[k]))
                  for k in ("d_loss", "d_loss_real", "d_loss_fake", "g_loss")},
    "d_real_diff": float(np.abs(out_single["d_real"].numpy()
                                - out_mirrored["d_real"].numpy()).max()),
    # per variable: (largest difference between the two runs, largest update of the step)
    "weights": {k: (float(np.abs(after_single[k] - after_mirrored[k]).max()),
                    float(np.abs(after_single[k] - before[k]).max())) for k in before},
}))
