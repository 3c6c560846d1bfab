"""Shared helpers for the benchmarks: timing medians and one JSON line per result."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def timed(function, repetitions: int, warmup: int) -> list[float]:
    """Seconds of each of ``repetitions`` calls of ``function`` after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "repetitions": len(times)}


def commit() -> str:
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "unknown"


def emit(result: dict) -> None:
    """Print one result as a JSON line, with the commit, the machine and its current load
    (the machines are shared: a high load average says the figure is noisy)."""
    result = {"commit": commit(), "machine": platform.machine(), "cpus": os.cpu_count(),
              "loadavg_1min": round(os.getloadavg()[0], 2), **result}
    print(json.dumps(result), flush=True)


def add_model_arguments(parser, repetitions: int, warmup: int) -> None:
    """The flags every model benchmark shares: precision(s), batch, image size, repetitions."""
    parser.add_argument("--precision", nargs="+", default=["auto"],
                        help="auto, float32, bfloat16 or float16; several are run in turn")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--repetitions", type=int, default=repetitions)
    parser.add_argument("--warmup", type=int, default=warmup)


MATMUL_OPS = ["Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul",
              "BatchMatMulV2", "BatchMatMulV3", "_FusedConv2D", "_FusedMatMul"]


def graph_flops(concrete_function) -> float:
    """Convolution and matmul FLOPs (2 per multiply-add) of one call of a traced function,
    counted by TensorFlow's profiler from the graph's ops and their static shapes (forward and
    backward ops alike; batch norm and element-wise ops are not counted)."""
    from tensorflow.python.profiler import model_analyzer, option_builder
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    options["account_type_regexes"] = [f"^{name}$" for name in MATMUL_OPS]
    return float(model_analyzer.profile(concrete_function.graph, options=options).total_float_ops)


def matmul_peak(precision: str, size: int = 2048, repetitions: int = 10) -> float:
    """Measured GFLOP/s of a square matmul in ``precision`` in this process: the peak the
    benchmarks compare against (mixed precision computes in bfloat16/float16)."""
    import tensorflow as tf
    dtype = {"float32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}[precision]
    a = tf.cast(tf.random.uniform([size, size]), dtype)
    b = tf.cast(tf.random.uniform([size, size]), dtype)
    multiply = tf.function(lambda: tf.matmul(a, b))
    times = timed(lambda: multiply().numpy(), repetitions, warmup=3)
    return 2 * size ** 3 / statistics.median(times) / 1e9
