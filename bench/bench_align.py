#!/usr/bin/env python3
"""Benchmark the face aligner on real photos: throughput and where the time goes.

    python bench/bench_align.py                      # 300 UTKFace photos, --pad 0.1
    python bench/bench_align.py --dataset celeba10k --pad 0

Prints one JSON line per result:
  * ``throughput``: images per second of the whole command (read, detect,
    landmarks, warp, write PNG) with 1 and with 2 worker processes, median over
    ``--repeats`` runs into fresh output folders;
  * ``stage``: for one process, milliseconds per image and share of the time
    spent reading, detecting, landmarking, warping and writing, median over runs.

The photos are read from ``../shared/data/faces/<dataset>`` (or ``--data``); the
outputs go to a temporary folder that is deleted afterwards.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import random
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import common  # noqa: E402  (bench/common.py: the JSON line format)
import utils  # noqa: E402
from align import cli  # noqa: E402
from align.core import AlignDlib, LANDMARK_SETS  # noqa: E402

STAGES = ("read", "detect", "landmarks", "warp", "write")
_load_before = None


def _note_load() -> None:
    global _load_before
    _load_before = round(os.getloadavg()[0], 2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default="utkface", help="folder name under <data>/faces")
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"),
                        help="the shared data folder (holds faces/)")
    parser.add_argument("--count", type=int, default=300, help="how many photos (random, seed 0)")
    parser.add_argument("--pad", type=float, default=0.1, help="--pad of the aligner")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--landmarks", default="innerEyesAndBottomLip", choices=sorted(LANDMARK_SETS))
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="worker counts to time")
    parser.add_argument("--repeats", type=int, default=3)
    return parser


def emit(record: dict) -> None:
    common.emit({**record, "loadavg_1min_before": _load_before})


def time_command(inputs_dir: str, output_dir: str, args, jobs: int) -> tuple[float, dict]:
    argv = [inputs_dir, "align", args.landmarks, output_dir, "--size", str(args.size),
            "--pad", str(args.pad), "-j", str(jobs), "--quiet"]
    options = cli.build_parser().parse_args(argv)
    cli._validate(options)  # loads the model: not part of the timed work
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        summary = cli.run(options)
    return time.perf_counter() - start, summary


def profile_stages(paths: list[str], output_dir: str, args) -> dict:
    """Seconds per stage summed over the photos, in this process."""
    aligner = AlignDlib()
    totals = dict.fromkeys(STAGES, 0.0)
    indices = LANDMARK_SETS[args.landmarks]
    for index, path in enumerate(paths):
        start = time.perf_counter()
        rgb = utils.load_rgb(path)
        totals["read"] += time.perf_counter() - start
        result = aligner.process(rgb, args.size, indices, pad=args.pad)
        for stage, seconds in result.seconds.items():
            totals[stage] += seconds
        if result.thumbnail is not None:
            start = time.perf_counter()
            utils.save_rgb(result.thumbnail, os.path.join(output_dir, f"{index}.png"))
            totals["write"] += time.perf_counter() - start
    return totals


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    folder = os.path.join(args.data, "faces", args.dataset)
    if not os.path.isdir(folder):
        print(f"bench_align.py: error: no photos at {folder}; pass --data", file=sys.stderr)
        return 1
    paths = utils.list_images(folder)
    random.Random(0).shuffle(paths)
    paths = sorted(paths[:args.count])
    common = dict(dataset=args.dataset, images=len(paths), pad=args.pad, size=args.size,
                  cpus=os.cpu_count(), machine=platform.processor() or platform.machine())
    # Other work on the machine distorts the figures (2 workers cannot beat 1 on
    # a busy 2-core machine): each record carries the 1-minute load before it.

    with tempfile.TemporaryDirectory(prefix="bench_align_") as scratch:
        inputs_dir = os.path.join(scratch, "in", args.dataset)
        os.makedirs(inputs_dir)
        for path in paths:  # links, not copies, of the shared photos
            os.symlink(os.path.abspath(path), os.path.join(inputs_dir, os.path.basename(path)))

        for jobs in args.jobs:
            _note_load()
            rates, aligned = [], None
            for repeat in range(args.repeats):
                seconds, summary = time_command(os.path.dirname(inputs_dir),
                                                os.path.join(scratch, f"out-{jobs}-{repeat}"), args, jobs)
                rates.append(len(paths) / seconds)
                aligned = summary["aligned"]
            emit(dict(common, metric="throughput", jobs=jobs, repeats=args.repeats,
                      images_per_second=round(statistics.median(rates), 2),
                      all_runs=[round(rate, 2) for rate in rates], aligned=aligned))

        _note_load()
        runs = [profile_stages(paths, os.path.join(scratch, f"profile-{repeat}"), args)
                for repeat in range(args.repeats)]
        for stage in STAGES:
            per_image = statistics.median(run[stage] for run in runs) / len(paths)
            share = statistics.median(run[stage] / sum(run.values()) for run in runs)
            emit(dict(common, metric="stage", stage=stage, jobs=1, repeats=args.repeats,
                      ms_per_image=round(1000 * per_image, 3), share=round(share, 4)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
