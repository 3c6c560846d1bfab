#!/usr/bin/env python3
"""Completion throughput: iterations of the momentum search on a batch, at the default model.

    python bench/bench_complete.py --precision float32 bfloat16

Prints one JSON line per precision: median seconds per iteration (forward and
backward through G and D for the whole batch, plus the update) and
image-iterations/s, timing chunks of --chunk iterations run in one compiled call;
the FLOPs of one iteration (convolutions and matmuls, counted by TensorFlow's
profiler on the single-iteration step), GFLOP/s and the percentage of the CPU's
theoretical peak in that precision, beside the best matmul measured in the same
process (see common.peak_fields). A second line per precision times the feature search
(``--featureIter``: the momentum step on G's first feature map, through the rest of G)
the same way, with its ratio to the z iteration measured in the same process (its
repetitions alternate with the z search's, so both see the same machine load).
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
    from completion import masks
    from completion.search import (CompiledSearch, CompletionConfig, Momentum, SearchRandom,
                                   Stopping, gradient_scale, update_rule)
    from model import Architecture, DCGAN, loss_and_gradient
    from shared.precision import resolve_precision

    for name in args.precision:
        precision = resolve_precision(name)
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

        feature_rule = Momentum(config.feature_lr, config.momentum, low=0.0, high=None)
        feature_search = CompiledSearch(generator.from_features, discriminator, feature_rule,
                                        config.lam, record=False)
        h = tf.cast(generator.features(z, training=False), tf.float32)
        feature_state = feature_rule.initial_state(h)

        def run(search, variable, state):
            stopping = Stopping(tf.ones([args.batch_size], tf.bool), tf.zeros_like(images))
            out = search.run(variable, state, stopping, images, mask, low, 1.0 - mask, scale,
                             tf.constant(0), tf.constant(args.chunk))
            out[0].numpy()

        z_times, feature_times = [], []
        for _ in range(args.warmup):
            run(search, z, state)
            run(feature_search, h, feature_state)
        for _ in range(args.repetitions):     # alternate, so both see the same load
            z_times += common.timed(lambda: run(search, z, state), 1, 0)
            feature_times += common.timed(lambda: run(feature_search, h, feature_state), 1, 0)

        step = tf.function(lambda z: loss_and_gradient(generator, discriminator, z, images, mask,
                                                       low, tf.constant(config.lam)))
        flops = common.graph_flops(step.get_concrete_function(z))
        stats = common.summary(z_times)
        per_iteration = stats["median_s"] / args.chunk
        gflops = flops / per_iteration / 1e9
        common.emit({"bench": "complete_iteration", "precision": dcgan.precision,
                     "batch_size": args.batch_size, "image_size": args.image_size, **stats,
                     "chunk": args.chunk, "seconds_per_iteration": per_iteration,
                     "image_iterations_per_s": args.batch_size / per_iteration,
                     "gflop_per_iteration": flops / 1e9, "gflop_per_s": gflops,
                     **common.peak_fields(dcgan.precision, gflops)})
        feature_stats = common.summary(feature_times)
        feature_per_iteration = feature_stats["median_s"] / args.chunk
        common.emit({"bench": "complete_feature_iteration", "precision": dcgan.precision,
                     "batch_size": args.batch_size, "image_size": args.image_size,
                     **feature_stats, "chunk": args.chunk,
                     "seconds_per_iteration": feature_per_iteration,
                     "image_iterations_per_s": args.batch_size / feature_per_iteration,
                     "ratio_to_z_iteration": float(np.median(
                         np.array(feature_times) / np.array(z_times)))})


if __name__ == "__main__":
    main()
