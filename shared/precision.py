"""Which compute precision to use: ``--precision auto``, the names it resolves to, and the
Keras dtype policy of each.

The rule behind ``auto``, measured with bench/ (train step and completion):

* a CUDA GPU, one or several: ``float16`` (mixed precision; tensor cores);
* a CPU with AMX (``amx_bf16`` in its flags): ``bfloat16`` (mixed precision;
  AMX multiplies bfloat16 tiles natively);
* any other CPU: ``float32``. That includes CPUs with AVX512-BF16 but no AMX:
  on a Xeon of that kind TensorFlow's bfloat16 path was 1.4 to 1.5 times
  slower than float32 (train step 25.4 against 35.4 images/s, completion 106
  against 160 image-iterations/s). Without any bfloat16 instructions (AVX2
  only) bfloat16 is emulated and slower still.

The functions here are pure: the CPU flags and the GPU list can be passed in
(tests describe every kind of machine that way); only when they are not given
are they read from ``/proc/cpuinfo`` and ``tf.config``. Importing this module
does not import TensorFlow.
"""
from __future__ import annotations

from typing import Iterable, Sequence

PRECISIONS = ("float32", "bfloat16", "float16")
CHOICES = ("auto",) + PRECISIONS
CPUINFO = "/proc/cpuinfo"

AUTO_HELP = ("auto picks float16 on a CUDA GPU, bfloat16 on a CPU with AMX, float32 on any "
             "other CPU (including AVX512-BF16 without AMX, where bfloat16 measured slower)")


def dtype_policy(precision: str) -> str:
    """Keras dtype policy for a precision name: variables stay float32 in mixed precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return "float32" if precision == "float32" else f"mixed_{precision}"


def read_cpu_flags(cpuinfo_path: str = CPUINFO) -> frozenset[str]:
    """The ``flags`` of the first processor in ``cpuinfo_path``; empty if it cannot be read
    (not Linux, or no flags line): then ``auto`` assumes a plain CPU and picks float32."""
    try:
        with open(cpuinfo_path) as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def list_gpus() -> list:
    """The GPUs TensorFlow sees (imports TensorFlow)."""
    import tensorflow as tf  # here: the drivers import this module for --help, without TensorFlow
    return tf.config.list_physical_devices("GPU")


def auto_precision(cpu_flags: Iterable[str] | None = None,
                   gpus: Sequence | None = None) -> tuple[str, str]:
    """(precision, reason) that ``auto`` picks on a machine with these CPU flags and GPUs.

    ``cpu_flags``: the words of /proc/cpuinfo's ``flags`` line (default: this machine's);
    ``gpus``: the GPU devices (default: ``tf.config.list_physical_devices("GPU")``).
    """
    gpus = list_gpus() if gpus is None else list(gpus)
    if gpus:
        return "float16", f"{len(gpus)} GPU(s)"
    flags = read_cpu_flags() if cpu_flags is None else frozenset(cpu_flags)
    if "amx_bf16" in flags:
        return "bfloat16", "CPU with AMX"
    if "avx512_bf16" in flags:
        return "float32", "CPU with AVX512-BF16 but no AMX, where bfloat16 is slower"
    return "float32", "CPU without AMX or AVX512-BF16"


def resolve_precision(name: str, cpu_flags: Iterable[str] | None = None,
                      gpus: Sequence | None = None) -> str:
    """The precision to compute in: ``auto`` resolved by :func:`auto_precision`, any other
    name checked and returned as it is (an explicit choice is honoured on any machine)."""
    if name == "auto":
        return auto_precision(cpu_flags, gpus)[0]
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {CHOICES}, got {name!r}")
    return name


def choose(name: str, cpu_flags: Iterable[str] | None = None,
           gpus: Sequence | None = None) -> tuple[str, str]:
    """(precision, why) for the logs: why is ``auto: <reason>`` or ``as asked``."""
    if name == "auto":
        chosen, reason = auto_precision(cpu_flags, gpus)
        return chosen, f"auto: {reason}"
    return resolve_precision(name), "as asked"
