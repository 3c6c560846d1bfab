"""Shared helpers for the benchmarks: timing, the machine's peaks (theoretical and the best
measured matmul), and one JSON line per result."""
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

from shared import speed  # noqa: E402 (after sys.path)

# The CPU kernels the drivers use on this CPU (shared/speed.py); only works before TensorFlow
# is imported, so every benchmark measures what a user runs.
speed.configure()


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
    cpuinfo = read_cpuinfo()
    result = {"commit": commit(), "machine": platform.machine(),
              "cpu": cpuinfo[0].get("model name", "unknown") if cpuinfo else "unknown",
              "cpus": os.cpu_count(), "loadavg_1min": round(os.getloadavg()[0], 2), **result}
    if "tensorflow" in sys.modules and "onednn" not in result:
        result["onednn"] = speed.onednn_enabled()      # which CPU kernels TensorFlow ran
    print(json.dumps(result), flush=True)


def add_model_arguments(parser, repetitions: int, warmup: int) -> None:
    """The flags every model benchmark shares: precision(s), batch, image size, repetitions."""
    parser.add_argument("--precision", nargs="+", default=["auto"],
                        help="auto (see shared/precision.py), float32, bfloat16 or float16; "
                             "several are run in turn")
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


def matmul_size(cores: int) -> int:
    """A square matmul big enough to keep every core busy: 2048 (17 GFLOP) up to 8 cores,
    4096 beyond."""
    return 2048 if cores <= 8 else 4096


def matmul_peak(precision: str, size: int | None = None, repetitions: int = 7,
                warmup: int = 2) -> float:
    """GFLOP/s of a square matmul in ``precision`` in this process: the best of
    ``repetitions`` timed runs after ``warmup`` (the best, not the median, because on a shared
    machine every disturbance makes a run slower, never faster; mixed precision computes in
    bfloat16/float16)."""
    import tensorflow as tf
    size = size or matmul_size(usable_cores()[0])
    dtype = {"float32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}[precision]
    a = tf.cast(tf.random.uniform([size, size]), dtype)
    b = tf.cast(tf.random.uniform([size, size]), dtype)
    multiply = tf.function(lambda: tf.matmul(a, b))
    times = timed(lambda: multiply().numpy(), repetitions, warmup)
    return 2 * size ** 3 / min(times) / 1e9


# ------------------------------------------------------------ theoretical peak
def read_cpuinfo(path: str = "/proc/cpuinfo") -> list[dict]:
    """One dict per logical CPU of /proc/cpuinfo (key -> value); [] if unreadable."""
    try:
        with open(path) as handle:
            blocks = handle.read().strip().split("\n\n")
    except OSError:
        return []
    return [dict((key.strip(), value.strip()) for key, _, value in
                 (line.partition(":") for line in block.splitlines())) for block in blocks]


def usable_cores(cpuinfo: list[dict] | None = None, allowed: set[int] | None = None
                 ) -> tuple[int, str]:
    """(physical cores this process may run on, how that was counted): logical CPUs of the
    affinity mask ``allowed`` (default: this process's), folded by (physical id, core id) so
    SMT siblings count once."""
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    if allowed is None and hasattr(os, "sched_getaffinity"):
        allowed = os.sched_getaffinity(0)
    cores = {(cpu.get("physical id"), cpu.get("core id")) for cpu in cpuinfo
             if "core id" in cpu and (allowed is None or int(cpu["processor"]) in allowed)}
    if cores:
        return len(cores), "physical cores in the affinity mask"
    return len(allowed) if allowed else os.cpu_count() or 1, "logical CPUs (no core ids)"


CPUFREQ_MAX = "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"


def clock_mhz(cpuinfo: list[dict] | None = None, cpufreq_max: str = CPUFREQ_MAX
              ) -> tuple[float | None, str]:
    """(the highest clock this CPU reports, in MHz, and where it comes from): cpufreq's
    maximum if the kernel exposes it, else the largest "cpu MHz" of /proc/cpuinfo."""
    try:
        with open(cpufreq_max) as handle:
            return int(handle.read()) / 1000, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    readings = [float(cpu["cpu MHz"]) for cpu in cpuinfo if "cpu MHz" in cpu]
    if readings:
        return max(readings), "/proc/cpuinfo 'cpu MHz' (the current clock; a turbo may exceed it)"
    return None, "unknown"


FMA_UNITS = 2   # vector FMA pipes per core: 2 on Zen 2-4 and on Xeon Gold/Platinum (an upper
                # bound: Zen 1 splits 256-bit FMAs in two halves, some Xeons have one 512-bit unit)
AMX_BF16_FLOPS_PER_CYCLE = 2048   # per core: 1024 bfloat16 multiply-adds (Sapphire Rapids TMUL)


def theoretical_peak(precision: str, cpuinfo: list[dict] | None = None,
                     allowed: set[int] | None = None, cpufreq_max: str = CPUFREQ_MAX
                     ) -> tuple[float | None, str]:
    """(GFLOP/s no code can beat on this CPU in ``precision``, the assumptions behind it):
    cores x float32 lanes per vector x 2 (an FMA is a multiply and an add) x FMA units x clock,
    doubled for bfloat16/float16 with AVX512-BF16/AVX512-FP16 (two 16-bit products per
    float32 lane), and AMX's tile rate for bfloat16 with AMX. Without native 16-bit
    instructions, bfloat16 and float16 are converted to float32 and peak as float32.
    None without /proc/cpuinfo flags or a clock. ``cpuinfo``, ``allowed`` (the affinity
    mask) and ``cpufreq_max`` default to this machine's."""
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    if not cpuinfo or "flags" not in cpuinfo[0]:
        return None, "no /proc/cpuinfo flags"
    flags = set(cpuinfo[0]["flags"].split())
    cores, counted = usable_cores(cpuinfo, allowed)
    mhz, clock_source = clock_mhz(cpuinfo, cpufreq_max)
    if mhz is None:
        return None, "clock unknown"
    if "avx512f" in flags:
        lanes, isa = 16, "AVX-512"
    elif "avx2" in flags or "avx" in flags:
        lanes, isa = 8, "AVX2" if "avx2" in flags else "AVX"
    else:
        lanes, isa = 4, "SSE"
    per_cycle = lanes * 2 * FMA_UNITS                      # float32 FLOPs per core per cycle
    how = (f"{cores} {counted} x {lanes} float32 lanes ({isa}) x 2 (FMA) x {FMA_UNITS} FMA "
           f"units x {mhz:.0f} MHz from {clock_source}")
    if precision == "bfloat16" and "amx_bf16" in flags:
        per_cycle, how = AMX_BF16_FLOPS_PER_CYCLE, (
            f"{cores} {counted} x {AMX_BF16_FLOPS_PER_CYCLE} bfloat16 FLOPs/cycle (AMX) x "
            f"{mhz:.0f} MHz from {clock_source}")
    elif (precision == "bfloat16" and "avx512_bf16" in flags) or (
            precision == "float16" and "avx512_fp16" in flags):
        per_cycle, how = 2 * per_cycle, how + f", x 2 for native {precision} dot products"
    elif precision != "float32":
        how += f", {precision} computed through float32"
    return cores * per_cycle * mhz / 1e3, how


def peak_fields(precision: str, gflop_per_s: float) -> dict:
    """The JSON fields that put a benchmark's GFLOP/s beside this machine's peaks.

    ``percent_of_peak`` is against the theoretical peak, which no code can exceed; the
    matmul measured in this process is shown beside it (also as a percentage of the
    theoretical peak), as what TensorFlow reaches on its best kernel. Without a
    theoretical figure (a GPU, an unknown CPU) the peak is the larger of the matmul and the
    benchmark itself, and says so.
    """
    import tensorflow as tf
    measured = matmul_peak(precision)
    theoretical, how = (None, "GPU: no theoretical figure here") if tf.config.list_physical_devices(
        "GPU") else theoretical_peak(precision)
    fields = {"matmul_peak_gflop_per_s": round(measured, 1)}
    if theoretical is None:
        peak = max(measured, gflop_per_s)
        fields |= {"peak_gflop_per_s": round(peak, 1),
                   "peak_kind": f"measured: best of matmul and this benchmark ({how})"}
    else:
        peak = theoretical
        fields |= {"peak_gflop_per_s": round(peak, 1), "peak_kind": f"theoretical: {how}",
                   "matmul_percent_of_peak": round(100 * measured / peak, 1)}
        if max(measured, gflop_per_s) > peak:
            print(f"warning: measured {max(measured, gflop_per_s):.1f} GFLOP/s beats the "
                  f"theoretical peak {peak:.1f}: an assumption in '{how}' is wrong for this CPU "
                  "(a turbo clock above the one read?)", file=sys.stderr, flush=True)
    fields["percent_of_peak"] = round(100 * gflop_per_s / peak, 1)
    return fields


def add_face_arguments(parser, limit: int) -> None:
    """The flags of the quality sweeps: which held-out faces, which model, the seed, the JSON."""
    parser.add_argument("faces", help="Folder of aligned ground-truth faces")
    parser.add_argument("--limit", type=int, default=limit, help="Use the first this many faces")
    parser.add_argument("--checkpointDir", default="checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="Write the results as JSON here")


def load_faces(parser, args):
    """The model of ``--checkpointDir`` and the first ``--limit`` faces of ``faces``, read at
    its size: ``(model, checkpoint prefix, paths, images in the model's [-1, 1] range)``."""
    from training import checkpoints
    from completion import faces
    import utils

    paths = utils.expand_image_args([args.faces])[:args.limit]
    if not paths:
        parser.error(f"no faces in {args.faces}")
    model, prefix = checkpoints.load_for_completion(args.checkpointDir)
    images = faces.read_faces(paths, model.arch.image_size, model.arch.c_dim)
    return model, prefix, paths, images


class MaskedFaces:
    """The faces of a quality sweep under one ``--maskType`` mask, searched as complete.py's
    defaults search them (importance weights, window 7) and scored as its defaults make the
    result (Poisson blend): the masks, the holes, the true faces and their scorer."""

    def __init__(self, images, mask_type: str, seed: int):
        from completion import masks
        import numpy as np
        import utils

        self.images = images
        mask, self.low = masks.make_mask(mask_type, images.shape[1],
                                         rng=np.random.default_rng(seed))
        self.face_masks = np.broadcast_to(mask, (len(images), *mask.shape)).astype(np.float32)
        self.loss_masks = masks.importance_weights(self.face_masks, 7)
        self.holes = self.face_masks[..., 0] < 0.5
        self.truths = utils.from_model(images)
        self.scorer = Scorer(self.truths, self.holes)

    def score(self, generated) -> tuple[dict, list[dict]]:
        """(the means with identity, each face's ``metrics.quality``) of blended completions."""
        from evaluation import metrics
        from completion import outputs
        import utils

        final = utils.from_model(outputs.final_completion(self.images, generated,
                                                          self.face_masks, blend=True))
        return self.scorer(final), [metrics.quality(r, t, h)
                                    for r, t, h in zip(final, self.truths, self.holes)]


class Scorer:
    """Mean quality of completions of ``truths`` (uint8) with holes ``holes`` (True = missing):
    PSNR and SSIM from ``metrics.quality`` and the dlib identity distance to the true face,
    as ``evaluate.py`` scores them (its descriptors, so gray faces work too)."""

    def __init__(self, truths, holes):
        from evaluation import identity
        from evaluate import face_descriptors

        self.truths, self.holes = truths, holes
        self.network = identity.IdentityModel()
        self.truth_descriptors = face_descriptors(self.network, truths)

    def __call__(self, results) -> dict:
        from evaluation import identity
        from evaluation import metrics
        import numpy as np
        from evaluate import face_descriptors

        rows = [metrics.quality(r, t, h) for r, t, h in zip(results, self.truths, self.holes)]
        means = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
        distances = identity.distances(face_descriptors(self.network, results),
                                       self.truth_descriptors)
        means["identity"] = float(np.mean(distances))
        means["identity_per_face"] = [float(d) for d in distances]
        return means
