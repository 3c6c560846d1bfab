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
    from completion import (CompiledSearch, CompletionConfig, SearchRandom, gradient_scale,
                            update_rule)
    from model import Architecture, DCGAN, loss_and_gradient

    for precision in args.precision:
        arch = Architecture(args.image_size)
        dcgan = DCGAN(arch, precision=precision)
        generator, discriminator = dcgan.generator, dcgan.discriminator
        images = tf.random.uniform([args.batch_size, *arch.image_shape], -1, 1)
        mask, low = masks.make_mask("center", args.image_size)
        mask = tf.constant(np.broadcast_to(mask, (args.batch_size, *mask.shape)))
        low = tf.constant(np.broadcast_to(low, (args.batch_size, *low.shape)))
        random = SearchRandom(0)
        z = tf.constant(random.initial_z(args.batch_size, arch.z_dim))
        config = CompletionConfig()
        scale = tf.constant(gradient_scale(mask, low, arch.c_dim))
        rule = update_rule(config, random.tensorflow)
        search = CompiledSearch(generator, discriminator, rule, config.lam)
        state = rule.initial_state(z)

        def run():
            out = search.run(z, state, images, mask, low, scale, tf.constant(0),
                             tf.constant(args.chunk))
            out[0].numpy()

        step = tf.function(lambda z: loss_and_gradient(generator, discriminator, z, images, mask,
                                                       low, tf.constant(config.lam)))
        flops = common.graph_flops(step.get_concrete_function(z))
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
