"""shared/speed.py: which CPU kernels TensorFlow gets on each kind of CPU, that the choice is
applied (and reported truthfully), and that the faster kernels compute what the reference
kernels compute, within float tolerance, on a tiny model."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from shared import speed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPYC = {"fpu", "sse4_2", "avx", "avx2", "fma", "f16c"}                 # AMD EPYC: AVX2 only
SKYLAKE = EPYC | {"avx512f", "avx512bw", "avx512dq", "avx512vl"}       # AVX-512 without VNNI
CASCADE_LAKE = SKYLAKE | {"avx512_vnni"}
SAPPHIRE_RAPIDS = CASCADE_LAKE | {"avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"}


@pytest.mark.parametrize("cpu, value, reason", [
    (EPYC, "1", "AVX2 CPU without AVX-512"),
    (CASCADE_LAKE, None, "on by TensorFlow's own default"),
    (SAPPHIRE_RAPIDS, None, "on by TensorFlow's own default"),
    (EPYC | {"avx_vnni"}, None, "on by TensorFlow's own default"),
    (SKYLAKE, None, "not measured"),
    (set(), None, "not measured"),
])
def test_onednn_is_turned_on_only_where_it_was_measured_faster(cpu, value, reason):
    chosen, why = speed.choose(cpu, environ={})
    assert chosen == value
    assert reason in why


def test_the_users_variable_wins_on_every_cpu():
    for cpu in (EPYC, SKYLAKE, SAPPHIRE_RAPIDS):
        chosen, why = speed.choose(cpu, environ={"TF_ENABLE_ONEDNN_OPTS": "0"})
        assert chosen is None and why == "TF_ENABLE_ONEDNN_OPTS=0 as set by the user"


def _python(code: str, **env) -> str:
    environ = {key: value for key, value in os.environ.items() if key != speed.VARIABLE}
    environ.update(env, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environ, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_configure_before_tensorflow_turns_onednn_on_and_reports_it():
    """On an AVX2 CPU (flags passed in, so this holds on any x86 machine) configure() turns
    oneDNN on, and report() reads it back from TensorFlow itself."""
    out = json.loads(_python(
        "import json; from shared import speed; speed.configure(cpu_flags={'avx2'}); "
        "print(json.dumps(speed.report()))"))
    assert out["onednn"] is True
    assert out["onednn_choice"].startswith("AVX2 CPU")


def test_configure_after_tensorflow_says_it_is_too_late():
    out = json.loads(_python(
        "import json, tensorflow; from shared import speed; "
        "print(json.dumps(speed.configure(cpu_flags={'avx2'})))"))
    assert out["onednn_choice"].startswith("too late to choose")


STEPS = r"""
import json, sys
import numpy as np
import ops, tensorflow as tf
from model import (Architecture, DCGAN, discriminator_losses, generator_loss,
                   loss_and_gradient)
from shared import speed
from training.train_step import TrainStep
tf.keras.utils.set_random_seed(0)
arch = Architecture(image_size=16, z_dim=8, gf_dim=8, df_dim=8)
gan = DCGAN(arch)
rng = np.random.default_rng(1)
images = tf.constant(rng.uniform(-1, 1, (8, 16, 16, 3)), tf.float32)
z = tf.constant(rng.uniform(-1, 1, (8, 8)), tf.float32)
mask = tf.constant((rng.uniform(size=(8, 16, 16, 1)) > 0.3), tf.float32)
loss, grad, generated = loss_and_gradient(gan.generator, gan.discriminator, z, images, mask,
                                          None, tf.constant(0.1))
with tf.GradientTape(persistent=True) as tape:       # the train step's gradients
    fake = gan.generator(z, training=True)
    d_loss = discriminator_losses(gan.discriminator(images, training=True),
                                  gan.discriminator(fake, training=True))[0]
    g_loss = generator_loss(gan.discriminator(fake, training=True))
grads = (tape.gradient(d_loss, gan.discriminator.trainable_variables)
         + tape.gradient(g_loss, gan.generator.trainable_variables))
step = TrainStep(gan, g_steps=1, ema_decay=0.9)
for _ in range(3):
    losses = step(images, z)
np.savez(sys.argv[1], loss=loss, grad=grad, generated=generated, d_loss=d_loss, g_loss=g_loss,
         after_steps_sample=step.sample(z), after_steps_d_loss=losses["d_loss"],
         **{f"gradient{i}": g.numpy() for i, g in enumerate(grads)})
print(json.dumps({"onednn": speed.onednn_enabled()}))
"""


def test_onednn_kernels_compute_what_the_reference_kernels_compute(tmp_path):
    """A tiny model's completion loss and its gradient in z, the GAN losses and their
    gradients in every weight of D and G, once with TensorFlow's reference (Eigen) kernels and
    once with oneDNN's, from the same seed: equal within float32 round-off (1e-5 of each
    tensor's largest value; measured: below 3e-6). After three train steps the two still agree within 1e-3:
    Adam divides each gradient by its running size, which magnifies round-off in weights
    whose gradients are near zero."""
    results = {}
    for value in ("0", "1"):
        script = tmp_path / "steps.py"
        script.write_text(STEPS)
        path = tmp_path / f"onednn{value}.npz"
        out = _python(f"import sys; sys.argv = ['', {str(path)!r}]; "
                      f"exec(open({str(script)!r}).read())", TF_ENABLE_ONEDNN_OPTS=value)
        assert json.loads(out)["onednn"] is (value == "1")       # each path ran as asked
        results[value] = dict(np.load(path))
    reference, fast = results["0"], results["1"]
    assert reference.keys() == fast.keys()
    # A gradient is compared at the scale of the largest gradient: the bias of a convolution
    # followed by batch norm has a zero gradient in exact arithmetic, so only round-off.
    gradient_scale = max(np.abs(v).max() for k, v in reference.items() if k.startswith("gradient"))
    for key in reference:
        scale = gradient_scale if key.startswith("gradient") else np.abs(reference[key]).max()
        error = np.abs(reference[key] - fast[key]).max() / scale
        assert error < (1e-3 if key.startswith("after_steps") else 1e-5), \
            f"{key}: relative error {error:.2e}"
    assert len(reference) == 7 + 8 + 10     # every trainable weight of D (8) and G (10)
    assert min(np.abs(value).max() for value in reference.values()) > 0   # none all zeros
