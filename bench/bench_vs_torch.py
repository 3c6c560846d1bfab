#!/usr/bin/env python3
"""The toolkit against a PyTorch yardstick of the same DCGAN (bench/torch_dcgan.py),
alternating: each round times the toolkit's train step (or completion chunk), then
PyTorch's, so both see the same machine load. Each library runs in a worker process of its
own, which waits idle while the other one runs (in one process, the thread pools of the two
libraries slow each other down: PyTorch measured up to 3x slower beside TensorFlow).

    pip install torch          # optional: not in requirements.txt
    python bench/bench_vs_torch.py --what train complete --rounds 7

Prints one JSON line per (what, round) and a summary line per ``what``: the median
images/s (train) or image-iterations/s (complete) of each, and the median over rounds of
the per-round ratio toolkit/PyTorch (above 1: the toolkit is faster). float32, batch 64,
64x64; the train step is 1 D + ``--g_steps`` G updates and the moving average of G (the
training defaults); completion is the momentum search on z from noise (no early stop),
``--chunk`` iterations per timed call. Both libraries use this process's usable cores.
The toolkit runs with the kernels ``speed.py`` picks for this CPU (``--kernels`` to force).
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import common
from shared import defaults


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--what", nargs="+", default=["train", "complete"],
                        choices=("train", "complete"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=3, help="train steps per timed round")
    parser.add_argument("--chunk", type=int, default=20, help="completion iterations per round")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--g_steps", type=int, default=None,
                        help="G updates per D update (default: train_dcgan.py's)")
    parser.add_argument("--worker", choices=("toolkit", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)
    if importlib.util.find_spec("torch") is None:
        parser.exit(2, "bench_vs_torch.py needs PyTorch, which the toolkit does not install: "
                       "pip install torch\n")
    for what in args.what:
        workers = {side: _Worker(side, what, argv or sys.argv[1:]) for side in SIDES}
        info = {side: worker.info for side, worker in workers.items()}
        unit = info["toolkit"]["unit"]
        fields = {"batch_size": args.batch_size, "precision": "float32",
                  **{key: value for side in SIDES for key, value in info[side].items()
                     if key not in ("work", "unit")}}
        times = {side: [] for side in SIDES}
        for round_ in range(args.rounds):
            for side in SIDES:
                times[side].append(workers[side].run())
            ours, theirs = times["toolkit"][-1], times["torch"][-1]
            common.emit({"bench": f"vs_torch_{what}", "round": round_, **fields,
                         f"toolkit_{unit}": info["toolkit"]["work"] / ours,
                         f"torch_{unit}": info["torch"]["work"] / theirs, "ratio": theirs / ours})
        for worker in workers.values():
            worker.close()
        ratios = [t / o for t, o in zip(times["torch"], times["toolkit"])]
        common.emit({"bench": f"vs_torch_{what}_summary", **fields, "rounds": args.rounds,
                     f"toolkit_{unit}_median":
                         info["toolkit"]["work"] / statistics.median(times["toolkit"]),
                     f"torch_{unit}_median":
                         info["torch"]["work"] / statistics.median(times["torch"]),
                     "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
                     "ratio_max": max(ratios)})


SIDES = ("toolkit", "torch")


class _Worker:
    """One side in a process of its own: it builds and warms up, then times one round each
    time it is asked (a line on its stdin), answering with the seconds."""

    def __init__(self, side: str, what: str, argv: list):
        argv = list(argv)
        if "--what" in argv:           # this worker does one thing only
            i = argv.index("--what")
            j = i + 1
            while j < len(argv) and not argv[j].startswith("--"):
                j += 1
            del argv[i:j]
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), *argv, "--what", what,
             "--worker", side], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self._read())

    def _read(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the benchmark's worker stopped (exit {self.process.wait()})")
        return line

    def run(self) -> float:
        time.sleep(0.5)          # let the other side's threads stop spinning
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return float(self._read())

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def _worker(args):
    """The worker's side of :class:`_Worker`: one JSON line of facts, then seconds per round."""
    if args.worker == "torch":
        import torch
        torch.set_num_threads(common.usable_cores()[0])
        info = {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    else:
        from shared import speed
        info = speed.configure()       # as the drivers do, before TensorFlow is imported
        import tensorflow as tf
        info = {"tensorflow": tf.__version__, **speed.report(info)}
    g_steps = defaults.DEFAULT_G_STEPS if args.g_steps is None else args.g_steps
    make = _train if args.what == ["train"] else _complete
    function, work, unit = make(args, g_steps, args.worker)
    function()
    function()                                   # warm-up: tracing, allocators
    print(json.dumps({**info, "work": work, "unit": unit}), flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        function()
        print(time.perf_counter() - start, flush=True)


def _inputs(batch: int):
    import numpy as np
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (batch, 64, 64, 3)).astype(np.float32)
    z = rng.uniform(-1, 1, (batch, 100)).astype(np.float32)
    return images, z


def _train(args, g_steps, side):
    """One round of ``--steps`` train steps on a fixed batch, in the toolkit or in PyTorch."""
    images, z = _inputs(args.batch_size)
    work = args.steps * args.batch_size
    if side == "torch":
        import torch
        import torch_dcgan
        step = torch_dcgan.TrainStep(g_steps=g_steps, ema_decay=defaults.DEFAULT_EMA_DECAY)
        images, z = torch.from_numpy(images.transpose(0, 3, 1, 2).copy()), torch.from_numpy(z)

        def yardstick():
            for _ in range(args.steps):
                step(images, z)
        return yardstick, work, "images_per_s"

    import tensorflow as tf
    from model import DCGAN
    from training.train_step import TrainStep
    step = TrainStep(DCGAN(), g_steps=g_steps)
    images, z = tf.constant(images), tf.constant(z)

    def toolkit():
        for _ in range(args.steps):
            outputs = step(images, z)
        float(outputs["d_loss"])
    return toolkit, work, "images_per_s"


def _complete(args, g_steps, side):
    """One round of ``--chunk`` momentum iterations of the z search from noise, centre hole."""
    import numpy as np
    from completion import masks
    from completion.config import CompletionConfig
    images, z = _inputs(args.batch_size)
    batch, config = args.batch_size, CompletionConfig()
    mask, low = masks.make_mask("center", 64)
    work = args.chunk * batch
    if side == "torch":
        import torch
        import torch_dcgan
        search = torch_dcgan.CompletionStep(
            torch.from_numpy(images.transpose(0, 3, 1, 2).copy()),
            torch.from_numpy(mask.transpose(2, 0, 1).copy())[None],
            torch.from_numpy(low.transpose(2, 0, 1).copy())[None], lam=config.lam,
            lr=config.lr, momentum=config.momentum)
        z = torch.from_numpy(z)
        velocity = torch.zeros_like(z)
        return lambda: search.run(z, velocity, args.chunk), work, "image_iterations_per_s"

    import tensorflow as tf
    from completion.search import CompiledSearch, Momentum, Stopping, gradient_scale
    from model import DCGAN
    dcgan = DCGAN()
    images, z = tf.constant(images), tf.constant(z)
    mask_b = tf.constant(np.broadcast_to(mask, (batch, *mask.shape)))
    low_b = tf.constant(np.broadcast_to(low, (batch, *low.shape)))
    scale = tf.constant(gradient_scale(mask_b, low_b, 3))
    rule = Momentum(config.lr, config.momentum)
    search = CompiledSearch(dcgan.generator, dcgan.discriminator, rule, config.lam)
    state = rule.initial_state(z)
    stopping = Stopping(tf.ones([batch], tf.bool), tf.zeros_like(images))

    def toolkit():
        out = search.run(z, state, stopping, images, mask_b, low_b, 1.0 - mask_b, scale,
                         tf.constant(0), tf.constant(args.chunk))
        out[1].numpy()
    return toolkit, work, "image_iterations_per_s"


if __name__ == "__main__":
    main()
