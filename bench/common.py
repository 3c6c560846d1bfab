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
    result = {"commit": commit(), "machine": platform.machine(), "cpus": os.cpu_count(), **result}
    print(json.dumps(result), flush=True)
