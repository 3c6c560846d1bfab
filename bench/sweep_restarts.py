#!/usr/bin/env python3
"""How much a completion depends on its random start, and whether combining starts helps.

    python bench/sweep_restarts.py /work/runs/tune64 --restarts 3 --nIter 300 --featureIter 100

Runs ``--restarts`` searches per face from independent random z (the default
search: weighted loss, momentum, then the feature search), all in ONE batch
(restart-major, as ``complete.py --nRestarts``; batch norm is in inference mode, so
rows do not interact), and scores, blended like ``complete.py``'s default output,
the mean PSNR (whole image), hole SSIM and identity distance of:

- each start on its own (``start K``: the spread is the figures' dependence on the seed);
- ``lowest loss``: each face's start with the lowest final loss (``--nRestarts``);
- ``mean of fills``: the average of the starts' G outputs;
- ``medoid``: each face's start whose hole is nearest (L1) to that average;
- ``mean feature map``: G's rest applied to the average of the starts' first feature
  maps (with ``--featureIter`` > 0).

Tune on faces that are not the ones you report (docs/EXPERIMENTS.md: "Choosing the search").
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import common  # (bench/common.py: the project on sys.path, the shared flags)
import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common.add_face_arguments(parser, limit=64)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--nIter", type=int, default=300)
    parser.add_argument("--featureIter", type=int, default=100)
    parser.add_argument("--featureLr", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.restarts < 2:
        parser.error("--restarts must be at least 2 (there is nothing to combine)")

    import tensorflow as tf
    from completion import masks
    from completion import outputs
    import utils
    from completion.search import CompletionConfig, SearchRandom, complete, networks

    model, _, paths, images = common.load_faces(parser, args)
    generator, discriminator = networks(model)
    size = model.arch.image_size
    count, k = len(images), args.restarts
    mask = masks.make_mask("center", size)[0]
    face_masks = np.broadcast_to(mask, (count, *mask.shape))
    weights = masks.importance_weights(face_masks, 7)
    config = CompletionConfig(stop_tol=0.0, n_iter=args.nIter, feature_iter=args.featureIter,
                              feature_lr=args.featureLr,
                              out_interval=max(args.nIter + args.featureIter, 1))
    start = time.time()
    *_, last = complete(generator, discriminator, np.concatenate([images] * k),
                        np.concatenate([weights] * k), config=config, seed=SearchRandom(args.seed))
    print(f"{k} x {count} searches: {time.time() - start:.0f} s", flush=True)
    generated = last.generated.reshape(k, count, *images.shape[1:])
    loss = last.loss.reshape(k, count)

    truths = utils.from_model(images)
    hole = mask[..., 0] < 0.5
    scorer = common.Scorer(truths, np.broadcast_to(hole, (count, *hole.shape)))
    rows = np.arange(count)

    def score(fill) -> dict:
        return scorer(utils.from_model(outputs.final_completion(images, fill, face_masks,
                                                                blend=True)))

    average = generated.mean(axis=0)
    spread = np.abs((generated - average) * hole[None, None, :, :, None]).sum(axis=(2, 3, 4))
    results = {f"start {i}": score(generated[i]) for i in range(k)}
    results["lowest loss"] = score(generated[loss.argmin(axis=0), rows])
    results["mean of fills"] = score(average)
    results["medoid"] = score(generated[spread.argmin(axis=0), rows])
    if last.features is not None:
        mean_map = last.features.reshape(k, count, *last.features.shape[1:]).mean(axis=0)
        results["mean feature map"] = score(
            generator.from_features(tf.constant(mean_map), training=False).numpy())
    print(f"{'':<18} {'PSNR whole':>10} {'SSIM hole':>10} {'identity':>9}")
    for name, figures in results.items():
        print(f"{name:<18} {figures['psnr_whole']:>10.2f} {figures['ssim_hole']:>10.3f} "
              f"{figures['identity']:>9.3f}")
    starts = [results[f"start {i}"]["identity"] for i in range(k)]
    print(f"identity over the starts: mean {np.mean(starts):.3f}, "
          f"range {min(starts):.3f}-{max(starts):.3f}")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"faces": paths, "options": vars(args), "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
