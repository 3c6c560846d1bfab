"""shared/quiet.py: a plain run prints the toolkit's lines only; --verbose or TF_CPP_MIN_LOG_LEVEL
brings TensorFlow's start-up notes back."""
import os
import re
import subprocess
import sys

import pytest

from shared import quiet
from conftest import ROOT

# As TensorFlow 2.21 prints them on a CPU machine (timestamps and thread ids vary).
NOTES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796082989.088216    4037 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796082989.088576    4037 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1796082992.242898    4037 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "W0000 00:00:1796082992.242898    4037 local_rendezvous.cc:404] Local rendezvous is aborting",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild ...",
]
KEPT = [
    "E0000 00:00:1796082992.242898    4037 checkpoint_reader.cc:12] a real error",
    "F0000 00:00:1796082992.242898    4037 something.cc:1] a fatal error",
    "Traceback (most recent call last):",
    "<string>:1: UserWarning: a Python warning",
    "train_dcgan.py: error: dataset folder 'x' does not exist",
]
NOISE_IN = re.compile(r"oneDNN|cuda|cuInit|absl|^[IWEF]\d{4} ", re.M | re.I)


def test_notes_are_told_from_other_lines():
    assert all(quiet.is_noise(line) for line in NOTES)
    assert not any(quiet.is_noise(line) for line in KEPT)


def _import_tensorflow(*, verbose=False, env=None):
    code = ("from shared import quiet; quiet.quiet_tensorflow(%r); import tensorflow as tf; "
            "tf.config.list_physical_devices(); import warnings; warnings.warn('kept')" % verbose)
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=environment | (env or {}))
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.mark.slow
def test_verbose_or_the_users_log_level_shows_tensorflows_notes_and_plain_does_not():
    plain = _import_tensorflow()
    assert not NOISE_IN.search(plain), plain
    assert "UserWarning: kept" in plain                     # other lines still come through
    verbose = _import_tensorflow(verbose=True)
    if not any(quiet.is_noise(line) for line in verbose.splitlines()):
        pytest.skip("this TensorFlow build prints no start-up notes")
    assert "UserWarning: kept" in verbose
    assert any(quiet.is_noise(line)
               for line in _import_tensorflow(env={"TF_CPP_MIN_LOG_LEVEL": "0"}).splitlines())


@pytest.mark.slow
def test_a_plain_training_run_prints_no_tensorflow_noise_and_shows_progress(tiny_faces,
                                                                            tmp_path):
    """train_dcgan.py as a user starts it: its own lines on stdout; on stderr only the
    progress bar, with the rate and the time left."""
    from test_training import _tiny_flags

    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, str(ROOT / "train_dcgan.py"),
                           *_tiny_flags(tiny_faces, tmp_path, epochs=1)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=environment)
    assert done.returncode == 0, done.stderr
    assert not NOISE_IN.search(done.stdout) and not NOISE_IN.search(done.stderr), done.stderr
    assert "Epoch: [ 0] [   4/   4] step: 4 time: " in done.stdout
    assert re.search(r"Training: 100%.*4/4 \[\d\d:\d\d<00:00, +[\d.]+(step/s|s/step)\]", done.stderr)
    bar_free = re.sub(r"Training:[^\r\n]*", "", done.stderr)
    assert not bar_free.strip(), done.stderr                # nothing else on stderr
