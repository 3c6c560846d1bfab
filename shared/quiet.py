"""Quiet start-up: the toolkit prints its own lines, not TensorFlow's start-up notes.

Importing TensorFlow 2.21 prints, on every run, lines like

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:... port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:... cudart_stub.cc:31] Could not find cuda drivers on your machine, ...
    E0000 00:00:... cuda_platform.cc:52] failed call to cuInit: ...

Most come from C++ before TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` (absl writes
everything to stderr until it is initialised), so that variable alone does not
remove them. :func:`quiet_tensorflow` therefore imports TensorFlow (and lets it
probe its devices) with the process's stderr (file descriptor 2) sent to a
temporary file, then writes back every line that is not such a note: errors of
other kinds, Python warnings and tracebacks still show. After start-up,
``TF_CPP_MIN_LOG_LEVEL=2`` keeps TensorFlow's C++ INFO and WARNING lines out.

A user who sets ``TF_CPP_MIN_LOG_LEVEL`` (any value), or passes ``--verbose``,
sees everything TensorFlow prints.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile

from shared import speed

# An absl/glog line: severity, date, time, thread, file:line]; e.g. "I0000 00:00:17.5  42 port.cc:153] ..."
_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ ([\w.]+):\d+\] ")
# Errors that are only start-up notes: no GPU driver on a CPU machine.
_NOISE_ERRORS = re.compile(r"cuInit|cuda|CUDA|TensorRT|cuDNN|cuFFT|cuBLAS")
_NOISE_LINES = ("WARNING: All log messages before absl::InitializeLog() is called",
                "To enable the following instructions:")


def is_noise(line: str) -> bool:
    """True for a TensorFlow start-up note: absl's pre-initialisation warning, a C++ INFO or
    WARNING line, a CUDA error of a machine without GPU driver, and the CPU-instructions note."""
    if line.startswith(_NOISE_LINES):
        return True
    match = _LOG_LINE.match(line)
    if not match:
        return False
    severity = match.group(1)
    return severity in "IW" or (severity == "E" and bool(_NOISE_ERRORS.search(line)))


@contextlib.contextmanager
def _filtered_stderr():
    """Send file descriptor 2 to a temporary file inside; afterwards write its lines that are
    not :func:`is_noise` to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def quiet_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow without its start-up notes (see the module docstring); call it
    before anything imports TensorFlow. Does nothing with ``verbose`` or when the user set
    ``TF_CPP_MIN_LOG_LEVEL`` (or if TensorFlow is imported already). Either way it first
    picks TensorFlow's CPU kernels for this CPU (:func:`shared.speed.configure`), which
    only works before TensorFlow is imported."""
    speed.configure()
    if verbose or "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    with _filtered_stderr():
        import tensorflow as tf
        tf.config.list_physical_devices()   # the CUDA probe prints when it first runs
    tf.get_logger().setLevel(logging.ERROR)  # Python-side notes (e.g. tf.function retracing)
