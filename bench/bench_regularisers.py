#!/usr/bin/env python3
"""The cost per training step of each regulariser (docs/TRAINING_RECIPES.md).

    python bench/bench_regularisers.py --precision float32

One JSON line per recipe: mean and median seconds per step over ``--repetitions``
steps after warm-up (16, one lazy-R1 period: the mean includes the one penalised step
of 16) at the default model (64x64, batch 64, g_steps 1, the moving average of G), on
an in-memory batch, and the ratio of the mean to the plain step's, measured first
and again last (the machine is shared: two plain figures apart say how noisy it is).
"""
import argparse
import statistics

import common

RECIPES = {
    "plain": {},
    "hinge": {"loss": "hinge"},
    "spectral_norm": {"d_spectral_norm": True},
    "r1_lazy16": {"r1_gamma": 10.0, "r1_interval": 16},
    "r1_every_step": {"r1_gamma": 10.0, "r1_interval": 1},
    "diffaug_color": {"diffaug": ("color",)},
    "diffaug_translation": {"diffaug": ("translation",)},
    "diffaug_cutout": {"diffaug": ("cutout",)},
    "diffaug_all": {"diffaug": ("color", "translation", "cutout")},
    "lr_decay_cosine": {"lr_decay": "cosine"},
    "all": {"loss": "hinge", "d_spectral_norm": True, "r1_gamma": 10.0, "r1_interval": 16,
            "diffaug": ("color", "translation", "cutout"), "lr_decay": "cosine"},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_model_arguments(parser, repetitions=16, warmup=2)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES) + ["plain"],
                        choices=list(RECIPES))
    args = parser.parse_args(argv)

    import tensorflow as tf
    from model import Architecture, DCGAN
    from shared.precision import resolve_precision
    from training.train_step import TrainStep

    precision = resolve_precision(args.precision[0])
    plain = None
    for name in args.recipes:
        recipe = dict(RECIPES[name])
        arch = Architecture(args.image_size, d_spectral_norm=recipe.pop("d_spectral_norm", False),
                            loss=recipe.pop("loss", "bce"))
        tf.keras.utils.set_random_seed(0)
        train_step = TrainStep(DCGAN(arch, precision=precision), total_steps=10_000, **recipe)
        images = tf.random.uniform([args.batch_size, *arch.image_shape], -1, 1)
        z = tf.random.uniform([args.batch_size, arch.z_dim], -1, 1)
        times = common.timed(lambda: float(train_step(images, z)["d_loss"]),
                             args.repetitions, args.warmup)
        mean = statistics.mean(times)
        if name == "plain" and plain is None:
            plain = mean
        common.emit({"bench": "regulariser_step", "recipe": name, "precision": precision,
                     "batch_size": args.batch_size, "image_size": args.image_size,
                     "mean_s": mean, **common.summary(times),
                     "vs_plain": mean / plain if plain else None})


if __name__ == "__main__":
    main()
