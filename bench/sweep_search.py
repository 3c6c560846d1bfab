#!/usr/bin/env python3
"""Choose the completion search's defaults on held-out faces: momentum step sizes, the
weighted loss, blending.

    python bench/sweep_search.py /work/runs/tune --lrs 0.3,1,3 --nIter 1000 --out sweep.json

Every (loss, lr) pair completes the same faces from the same starting z in ONE
batch (batch norm runs in inference mode, so rows do not interact; the lr is
per row through ``completion.search.complete(lr_scale=...)``), so a sweep costs one
search of ``faces x lrs x 2`` rows. Prints and writes, per (loss, lr) and plain
or blended, the mean PSNR/SSIM (whole image and hole) and identity distance,
beside OpenCV's Telea and Navier-Stokes and the harmonic fill on the same faces.
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
    common.add_face_arguments(parser, limit=16)
    parser.add_argument("--lrs", default="0.3,1,3", help="Momentum step sizes to try")
    parser.add_argument("--weightedLrs", default=None,
                        help="Step sizes for the weighted loss (default: --lrs)")
    parser.add_argument("--every", type=int, default=250,
                        help="Also score the completions every this many iterations")
    parser.add_argument("--nIter", type=int, default=1000)
    parser.add_argument("--lam", type=float, default=0.1)
    parser.add_argument("--maskType", default="center")
    parser.add_argument("--fractionMasked", type=float, default=0.8)
    parser.add_argument("--noWeighted", action="store_true", help="Plain loss only")
    args = parser.parse_args(argv)

    import evaluate
    from completion import masks
    from completion import outputs
    import utils
    from completion.search import CompletionConfig, SearchRandom, complete, networks

    lrs = [float(value) for value in args.lrs.split(",")]
    model, prefix, paths, images = common.load_faces(parser, args)
    size = model.arch.image_size
    count = len(images)
    options = argparse.Namespace(seed=args.seed, maskType=args.maskType, centerScale=0.25,
                                 fractionMasked=args.fractionMasked, halfSide="left",
                                 patternFraction=0.25)
    face_masks = evaluate.make_masks(options, count, size)
    weighted_lrs = lrs if args.weightedLrs is None else [float(v) for v in
                                                         args.weightedLrs.split(",")]
    loss_masks = {"plain": face_masks, "weighted": masks.importance_weights(face_masks, 7)}
    groups = [("plain", lr) for lr in lrs]
    if not args.noWeighted:
        groups += [("weighted", lr) for lr in weighted_lrs]
    batch = np.concatenate([images] * len(groups))
    batch_masks = np.concatenate([loss_masks[loss] for loss, _ in groups])
    scale = np.concatenate([np.full(count, lr, np.float32) for _, lr in groups])
    config = CompletionConfig(feature_iter=0, stop_tol=0.0, lr=1.0, lam=args.lam, n_iter=args.nIter,
                              out_interval=max(args.every, 1))
    z0 = SearchRandom(args.seed).initial_z(count, model.arch.z_dim)
    z = np.concatenate([z0] * len(groups))                            # same start for every row
    started = time.time()
    kept = {}
    for snapshot in complete(*networks(model), batch, batch_masks, config=config, z=z,
                             lr_scale=scale):
        print(f"iteration {snapshot.iteration} ({time.time() - started:.0f} s): mean loss per "
              "group " + " ".join(f"{snapshot.loss[i * count:(i + 1) * count].mean():.0f}"
                                  for i in range(len(groups))), flush=True)
        if snapshot.iteration > 0:
            kept[snapshot.iteration] = snapshot.generated
    truths = utils.from_model(images)
    score = common.Scorer(truths, face_masks[..., 0] < 0.5)

    table = {}
    for iteration, generated in kept.items():
        for index, (loss, lr) in enumerate(groups):
            rows = slice(index * count, (index + 1) * count)
            for blend in (False, True):
                final = outputs.final_completion(images, generated[rows], face_masks, blend=blend)
                table[f"{loss} lr {lr:g} @{iteration}{' blended' if blend else ''}"] = \
                    score(utils.from_model(final))
    for method, flag in evaluate.BASELINES.items():
        table[method] = score(np.stack([evaluate.inpaint_baseline(t, m, flag, 3.0)
                                        for t, m in zip(truths, face_masks)]))
    table["harmonic"] = score(np.stack([evaluate.simple_fill(t, m, "harmonic")
                                        for t, m in zip(truths, face_masks)]))
    print(f"{count} faces, {args.maskType}, {args.nIter} iterations, lam {args.lam}, {prefix}, "
          f"{time.time() - started:.0f} s")
    print(f"{'search':<28} {'PSNR whole':>10} {'PSNR hole':>9} {'SSIM hole':>9} {'identity':>8}")
    for name, means in table.items():
        print(f"{name:<28} {means['psnr_whole']:>10.2f} {means['psnr_hole']:>9.2f} "
              f"{means['ssim_hole']:>9.3f} {means['identity']:>8.3f}")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"options": vars(args), "checkpoint": prefix, "faces": paths,
                       "results": table}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
