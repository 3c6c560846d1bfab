"""How TensorFlow computes on this CPU: whether its oneDNN kernels are on, chosen per CPU by
measurement, the way :mod:`shared.precision` chooses a precision.

TensorFlow 2.21's x86 build carries two sets of CPU kernels for convolutions, matmuls and
batch norm: Eigen's, and oneDNN's. It turns oneDNN on by itself only on CPUs with the
newer neural-network instructions (AVX512-VNNI, AVX512-BF16, AVX-VNNI or AMX, per
TensorFlow's RFC 400); on an AVX2-only CPU such as the AMD EPYC these machines often are,
it runs Eigen's. There, Eigen's transposed convolution (``Conv2DBackpropInput``: every
layer of G forward, every layer of D backward) is the bottleneck: 546 against 39 ms for the
8x8 layer at batch 64, and the whole DCGAN step ran at a third to a half of PyTorch's speed.
With oneDNN on it is faster than PyTorch (docs/CPU_SPEED.md has the figures and the
commands).

The rule (:func:`choose`):

* ``TF_ENABLE_ONEDNN_OPTS`` set by the user: honoured, whatever the CPU;
* a CPU on which TensorFlow turns oneDNN on by itself: left as it is (nothing to change);
* an x86 CPU with AVX2 but no AVX-512: oneDNN on (measured: see above);
* any other CPU (AVX-512 without VNNI, not x86, unreadable flags): TensorFlow's default,
  since it has not been measured there.

The choice only works before TensorFlow is imported: :func:`configure` sets the variable
then, and :func:`report` says what TensorFlow actually runs with (it reads TensorFlow's own
answer), for the logs and ``options.json``. Importing this module does not import
TensorFlow.
"""
from __future__ import annotations

import os
import sys
from typing import Iterable

from shared.precision import read_cpu_flags

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# The CPU flags with which TensorFlow turns oneDNN on by itself (RFC 400: "CPUs with
# neural-network instructions").
TENSORFLOW_ONEDNN_FLAGS = frozenset({"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16",
                                     "amx_int8", "amx_tile"})


def choose(cpu_flags: Iterable[str] | None = None,
           environ: dict | None = None) -> tuple[str | None, str]:
    """(value for ``TF_ENABLE_ONEDNN_OPTS`` or None to leave it alone, reason).

    ``cpu_flags``: the words of /proc/cpuinfo's flags line (default: this machine's);
    ``environ``: the environment (default: ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    if VARIABLE in environ:
        return None, f"{VARIABLE}={environ[VARIABLE]} as set by the user"
    flags = read_cpu_flags() if cpu_flags is None else frozenset(cpu_flags)
    if flags & TENSORFLOW_ONEDNN_FLAGS:
        return None, "on by TensorFlow's own default on this CPU (neural-network instructions)"
    if "avx2" in flags and "avx512f" not in flags:
        return "1", "AVX2 CPU without AVX-512: oneDNN measured faster than TensorFlow's default"
    return None, "TensorFlow's default (oneDNN not measured on this kind of CPU)"


_configured: dict | None = None     # what configure() chose in this process


def configure(cpu_flags: Iterable[str] | None = None) -> dict:
    """Apply :func:`choose` to ``os.environ`` if TensorFlow is not imported yet; returns
    ``{"onednn_choice": reason}`` for :func:`report`. The first call decides; later calls
    return its answer."""
    global _configured
    if _configured is not None:
        return dict(_configured)
    value, reason = choose(cpu_flags)
    if "tensorflow" in sys.modules:
        if value is not None and os.environ.get(VARIABLE) != value:
            reason = f"too late to choose (TensorFlow was imported first); {reason}"
    elif value is not None:
        os.environ[VARIABLE] = value
    _configured = {"onednn_choice": reason}
    return dict(_configured)


def onednn_enabled() -> bool | None:
    """Whether this process's TensorFlow runs oneDNN's kernels (imports TensorFlow); None if
    this build of TensorFlow cannot say."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def report(configured: dict | None = None) -> dict:
    """What TensorFlow computes with, for the logs and options.json: oneDNN on or off, why,
    and its thread pools (imports TensorFlow)."""
    import tensorflow as tf
    configured = configured or configure()
    return {"onednn": onednn_enabled(), **configured,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}
