#!/usr/bin/env python3
"""Training throughput: one train step (1 D + g_steps G updates) at the default model.

    python bench/bench_train.py --precision float32 bfloat16

Prints one JSON line per precision: median seconds per step and images/s over
several timed steps after warm-up, on an in-memory batch (the model's speed,
without the input pipeline); the step's convolution and matmul FLOPs (counted by
TensorFlow's profiler from the traced graph), the achieved GFLOP/s, and that as
a percentage of the CPU's theoretical peak in that precision, beside the best
matmul measured in the same process (see common.peak_fields).
"""
import argparse

import common


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_model_arguments(parser, repetitions=10, warmup=3)
    parser.add_argument("--gf_dim", type=int, default=64)
    parser.add_argument("--df_dim", type=int, default=64)
    parser.add_argument("--g_steps", type=int, default=2)
    args = parser.parse_args(argv)

    import tensorflow as tf
    from model import Architecture, DCGAN
    from shared.precision import resolve_precision
    from training.train_step import TrainStep

    for name in args.precision:
        precision = resolve_precision(name)
        arch = Architecture(args.image_size, 100, args.gf_dim, args.df_dim, 3)
        train_step = TrainStep(DCGAN(arch, precision=precision), g_steps=args.g_steps)
        images = tf.random.uniform([args.batch_size, *arch.image_shape], -1, 1)
        z = tf.random.uniform([args.batch_size, arch.z_dim], -1, 1)
        flops = common.graph_flops(train_step.single_device_step.get_concrete_function(images, z))
        times = common.timed(lambda: float(train_step(images, z)["d_loss"]),
                             args.repetitions, args.warmup)
        stats = common.summary(times)
        gflops = flops / stats["median_s"] / 1e9
        common.emit({"bench": "train_step", "precision": precision,
                     "batch_size": args.batch_size, "image_size": args.image_size,
                     "g_steps": args.g_steps, **stats,
                     "images_per_s": args.batch_size / stats["median_s"],
                     "gflop_per_step": flops / 1e9, "gflop_per_s": gflops,
                     **common.peak_fields(precision, gflops)})


if __name__ == "__main__":
    main()
