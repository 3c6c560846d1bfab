#!/usr/bin/env python3
"""Completion throughput: iterations of the momentum search on a batch, at the default model.

    python bench/bench_complete.py --precision float32 bfloat16

Prints one JSON line per precision: median seconds per iteration (forward and
backward through G and D for the whole batch, plus the update) and
image-iterations/s, timing chunks of --chunk iterations run in one compiled call;
the FLOPs of one iteration (convolutions and matmuls, counted by TensorFlow's
profiler on the single-iteration step), GFLOP/s and the percentage of the CPU's
theoretical peak in that precision, beside the best matmul measured in the same
process (see common.peak_fields).
"""
import argparse

import common


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_model_arguments(parser, repetitions=5, warmup=1)
    parser.add_argument("--chunk", type=int, default=10, help="iterations per timed call")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    import masks
    from completion import CompletionConfig, Completer
    from model import Architecture, DCGAN

    for precision in args.precision:
        arch = Architecture(args.image_size)
        dcgan = DCGAN(arch, precision=precision)
        completer = Completer(dcgan, CompletionConfig(), seed=0)
        images = tf.random.uniform([args.batch_size, *arch.image_shape], -1, 1)
        mask, low = masks.make_mask("center", args.image_size)
        mask = tf.constant(np.broadcast_to(mask, (args.batch_size, *mask.shape)))
        low = tf.constant(np.broadcast_to(low, (args.batch_size, *low.shape)))
        z = tf.constant(completer.initial_z(args.batch_size))
        zeros = tf.zeros_like(z)

        def run():
            out = completer._run(z, zeros, zeros, images, mask, low, tf.constant(0),
                                 tf.constant(args.chunk))
            out[0].numpy()

        flops = common.graph_flops(dcgan._complete_step.get_concrete_function(
            z, images, mask, low, tf.constant(0.1)))
        stats = common.summary(common.timed(run, args.repetitions, args.warmup))
        per_iteration = stats["median_s"] / args.chunk
        gflops = flops / per_iteration / 1e9
        common.emit({"bench": "complete_iteration", "precision": dcgan.precision,
                     "batch_size": args.batch_size, "image_size": args.image_size, **stats,
                     "chunk": args.chunk, "seconds_per_iteration": per_iteration,
                     "image_iterations_per_s": args.batch_size / per_iteration,
                     "gflop_per_iteration": flops / 1e9, "gflop_per_s": gflops,
                     **common.peak_fields(dcgan.precision, gflops)})


if __name__ == "__main__":
    main()
