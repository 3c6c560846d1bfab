#!/usr/bin/env python3
"""Where the time of a training step goes: each convolution of the default model, forward
and both backward ops (input and filter gradients), timed in isolation.

    python bench/profile_layers.py --precision float32

Prints one JSON line per (layer, op) with median ms and GFLOP/s, and a total. The
generator's transposed convolutions run as Conv2DBackpropInput forward and as Conv2D +
Conv2DBackpropFilter backward; the discriminator's convolutions the other way round.
"""
import argparse

import common


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args(argv)
    import tensorflow as tf

    dtype = tf.float32 if args.precision == "float32" else tf.bfloat16
    batch = args.batch_size
    # (name, input spatial size H of the stride-2 conv, channels at H, channels at H/2)
    layers = [("d_h0_conv / g_h4", 64, 3, 64), ("d_h1_conv / g_h3", 32, 64, 128),
              ("d_h2_conv / g_h2", 16, 128, 256), ("d_h3_conv / g_h1", 8, 256, 512)]
    total = all_flops = 0.0
    for name, size, wide, narrow in layers:
        big = tf.cast(tf.random.uniform([batch, size, size, wide]), dtype)
        small = tf.cast(tf.random.uniform([batch, size // 2, size // 2, narrow]), dtype)
        kernel = tf.cast(tf.random.uniform([5, 5, wide, narrow]), dtype)
        flops = 2 * batch * (size // 2) ** 2 * wide * narrow * 25
        ops = {
            "Conv2D (D forward, G input-gradient)":
                tf.function(lambda: tf.nn.conv2d(big, kernel, 2, "SAME")),
            "Conv2DBackpropInput (G forward, D input-gradient)":
                tf.function(lambda: tf.nn.conv2d_transpose(small, kernel, big.shape, 2, "SAME")),
            "Conv2DBackpropFilter (weight gradient)":
                tf.function(lambda: tf.compat.v1.nn.conv2d_backprop_filter(
                    big, [5, 5, wide, narrow], small, [1, 2, 2, 1], "SAME")),
        }
        for op, function in ops.items():
            stats = common.summary(common.timed(lambda: function().numpy(), args.repetitions, 2))
            total += stats["median_s"]
            all_flops += flops
            common.emit({"bench": "layer_op", "precision": args.precision, "layer": name,
                         "op": op, "median_ms": 1000 * stats["median_s"],
                         "gflop_per_s": flops / stats["median_s"] / 1e9})
    common.emit({"bench": "layer_op_total", "precision": args.precision,
                 "seconds_all_ops_once": total,
                 **common.peak_fields(args.precision, all_flops / total / 1e9)})


if __name__ == "__main__":
    main()
