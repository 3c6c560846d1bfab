#!/usr/bin/env python3
"""Is the input pipeline what limits training? Steps from a folder of real JPEG faces
versus steps from an in-memory tensor of the same size.

    python bench/bench_pipeline.py --dataset ../shared/data/faces/celeba10k

Prints one JSON line per source (median seconds per step over --repetitions steps
after --warmup, same model, batch and precision) and one with the ratio.
"""
import argparse
import os

import common


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=os.path.join(common.ROOT, "..", "shared", "data",
                                                          "faces", "celeba10k"))
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--repetitions", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args(argv)

    import tensorflow as tf
    from training import pipeline
    import utils
    from model import Architecture, DCGAN
    from shared.precision import resolve_precision
    from training.train_step import TrainStep

    paths = utils.list_images(args.dataset)
    steps = len(paths) // args.batch_size
    arch = Architecture(args.image_size)
    precision = resolve_precision(args.precision)
    train_step = TrainStep(DCGAN(arch, precision=precision))
    z = tf.random.uniform([args.batch_size, arch.z_dim], -1, 1)

    batches = iter(pipeline.make_dataset(paths, args.image_size, args.batch_size, seed=0,
                                         steps=steps))
    from_folder = common.summary(common.timed(
        lambda: float(train_step(next(batches), z)["d_loss"]), args.repetitions,
        args.warmup))
    in_memory = tf.random.uniform([args.batch_size, *arch.image_shape], -1, 1)
    from_memory = common.summary(common.timed(
        lambda: float(train_step(in_memory, z)["d_loss"]), args.repetitions, args.warmup))
    base = {"bench": "pipeline", "precision": precision, "batch_size": args.batch_size,
            "dataset": os.path.abspath(args.dataset), "images": len(paths)}
    common.emit({**base, "source": "folder", **from_folder})
    common.emit({**base, "source": "memory", **from_memory})
    common.emit({**base, "source": "ratio",
                 "folder_over_memory": from_folder["median_s"] / from_memory["median_s"]})


if __name__ == "__main__":
    main()
