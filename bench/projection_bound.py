#!/usr/bin/env python3
"""How far the generator itself is from the faces: the best any search of z could do.

    python bench/projection_bound.py /work/runs/tune64 --limit 64 --checkpointDir checkpoint

For each true face, z is fitted to the *whole* face, the hidden pixels included (Adam on
the mean absolute error, from the encoder's start on the unmasked face if the model has
an encoder, else from noise), and G(z) fills the hole as complete.py's defaults make the
result (Poisson blend). A search sees only the known pixels, so its completions cannot
beat this on average: the gap between this bound and ``evaluate.py``'s figures is what a
better search or encoder could still gain, and the bound itself is what needs a better
generator. Also printed: the identity distance of G(z) as a whole (how well G draws the
person at all), at each of ``--report`` iterations. One JSON line per report.
"""
from __future__ import annotations

import argparse

import common  # (bench/common.py: the project on sys.path)
import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_face_arguments(parser, limit=64)
    parser.add_argument("--maskType", default="center", help="The hole the fill is scored in")
    parser.add_argument("--iterations", type=int, default=300, help="Adam steps on z")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's learning rate")
    parser.add_argument("--report", default="0,50,300",
                        help="Comma-separated iterations at which to score")
    parser.add_argument("--batchSize", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        reports = sorted({int(value) for value in args.report.split(",")})
    except ValueError:
        parser.error(f"--report must be comma-separated iterations, not {args.report!r}")
    if args.iterations < 1 or not reports or reports[0] < 0 or reports[-1] > args.iterations:
        parser.error("--iterations must be at least 1 and --report within 0..--iterations")

    import tensorflow as tf

    from completion import encoder as enc
    from evaluation import identity

    model, prefix, paths, images = common.load_faces(parser, args)
    generator = model.generator
    masked = common.MaskedFaces(images, args.maskType, args.seed)
    encoder = enc.load_matching(args.checkpointDir, model.arch, warn=lambda text: None)
    rng = np.random.default_rng(args.seed)
    fitted = {report: [] for report in reports}
    for first in range(0, len(images), args.batchSize):
        batch = tf.constant(images[first:first + args.batchSize])
        count = int(batch.shape[0])
        if encoder is not None:
            start = enc.start(encoder, batch.numpy(), np.ones((count, *batch.shape[1:3], 1)))
        else:
            start = rng.uniform(-1, 1, (count, model.arch.z_dim)).astype(np.float32)
        z = tf.Variable(start)
        optimizer = tf.keras.optimizers.Adam(args.lr)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                # a sum over faces of each face's mean error: each face's step is its own
                loss = tf.reduce_sum(tf.reduce_mean(
                    tf.abs(generator(z, training=False) - batch), axis=[1, 2, 3]))
            optimizer.apply_gradients([(tape.gradient(loss, z), z)])
            z.assign(tf.clip_by_value(z, -1.0, 1.0))

        for iteration in range(args.iterations + 1):
            if iteration in fitted:
                fitted[iteration].append(generator(z, training=False).numpy())
            if iteration < args.iterations:
                step()

    import utils
    from evaluate import face_descriptors

    scorer = masked.scorer          # its dlib network and the true faces' descriptors
    for iteration in reports:
        generated = np.concatenate(fitted[iteration])
        means, _ = masked.score(generated)
        whole = identity.distances(face_descriptors(scorer.network, utils.from_model(generated)),
                                   scorer.truth_descriptors)
        common.emit({"bench": "projection_bound", "checkpoint": prefix, "faces": len(paths),
                     "mask": args.maskType, "start": "encoder" if encoder else "noise",
                     "iterations": iteration, "psnr_whole": round(means["psnr_whole"], 3),
                     "ssim_hole": round(means["ssim_hole"], 4),
                     "identity": round(means["identity"], 4),
                     "identity_of_g_whole": round(float(whole.mean()), 4)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
