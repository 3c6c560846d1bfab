#!/usr/bin/env python3
"""Whole runs, start-up included, against the PyTorch yardstick (bench/torch_dcgan.py):
what a user waits for.

    pip install torch          # optional: not in requirements.txt
    python bench/bench_whole_process.py --train_images DIR --faces DIR --rounds 3

* train: ``train_dcgan.py`` for 20 steps of batch 64 on the first 1,280 images of
  ``--train_images`` (JPEG or PNG; a checkpoint, samples and TensorBoard logs at its default
  intervals and at the end) against ``torch_dcgan.py train`` (a DataLoader with 2 workers,
  the same step, a checkpoint and a sample grid at the end);
* complete: ``complete.py --start noise --nIter N --featureIter 0 --stopTol 0`` on the 64x64
  faces of ``--faces`` (centre hole; its default outputs: grids, logs, the GIF, blending)
  against ``torch_dcgan.py complete`` (N momentum steps per batch of 64, each face written).

The runs alternate (toolkit, PyTorch, toolkit, ...), each in a fresh process and output
folder. Prints one JSON line per run (wall seconds) and a summary per job: medians and the
median of the per-round ratio PyTorch/toolkit (above 1: the toolkit is faster). A third
command times ``python -c "import tensorflow"`` the same way, the part of the toolkit's wall
time spent importing TensorFlow.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import common

HERE = os.path.dirname(os.path.abspath(__file__))


def commands(job: str, args, out: str) -> dict:
    python = sys.executable
    yardstick = [python, os.path.join(HERE, "torch_dcgan.py")]
    if job == "train":
        return {
            "toolkit": [python, os.path.join(common.ROOT, "train_dcgan.py"), "--dataset",
                        args.train_images, "--train_size", str(20 * 64), "--epoch", "1",
                        "--batch_size", "64", "--checkpoint_dir", f"{out}/checkpoint",
                        "--sample_dir", f"{out}/samples", "--log_dir", f"{out}/logs",
                        "--seed", "1"],
            "torch": yardstick + ["train", "--dataset", args.train_images, "--out", out,
                                  "--steps", "20"]}
    return {
        "toolkit": [python, os.path.join(common.ROOT, "complete.py"), "--start", "noise",
                    "--nIter", str(args.iterations), "--featureIter", "0", "--stopTol", "0",
                    "--checkpointDir", os.path.join(common.ROOT, "checkpoint"),
                    "--outDir", out, "--seed", "1", args.faces],
        "torch": yardstick + ["complete", "--dataset", args.faces, "--out", out,
                              "--iterations", str(args.iterations)],
        "import_tensorflow": [python, "-c", "import tensorflow"]}


def run(command: list, cwd: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--what", nargs="+", default=["train", "complete"],
                        choices=("train", "complete"))
    parser.add_argument("--train_images", help="folder of at least 1,280 training images")
    parser.add_argument("--faces", help="folder of 64x64 faces to complete (64 of them)")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    for job, folder in (("train", args.train_images), ("complete", args.faces)):
        if job in args.what and not (folder and os.path.isdir(folder)):
            parser.error(f"{job} needs --{'train_images' if job == 'train' else 'faces'} DIR")
    work = tempfile.mkdtemp(prefix="whole_process_")
    try:
        for job in args.what:
            times = {}
            for round_ in range(args.rounds):
                out = os.path.join(work, f"{job}_{round_}")
                for side, command in commands(job, args, out).items():
                    os.makedirs(out)
                    seconds = run(command, out)
                    times.setdefault(side, []).append(seconds)
                    common.emit({"bench": f"whole_{job}", "side": side, "round": round_,
                                 "seconds": seconds})
                    shutil.rmtree(out, ignore_errors=True)
            ratios = [t / o for t, o in zip(times["torch"], times["toolkit"])]
            common.emit({"bench": f"whole_{job}_summary", "rounds": args.rounds,
                         **{f"{side}_seconds_median": statistics.median(values)
                            for side, values in times.items()},
                         "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
                         "ratio_max": max(ratios)})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
