#!/usr/bin/env python3
"""Choose early stopping's tolerance (--stopTol) and caps on held-out faces: quality against
iterations, for many tolerances from one search.

    python bench/sweep_stopping.py /work/runs/tune64 --limit 64 --tols 0.25,0.5,1,2,4 --out s.json

An image that stops at iteration t keeps the z that a search without stopping has at t
(tests/test_early_stopping.py checks that), so ONE z search without stopping (``--nIter``
iterations, a snapshot every ``--window``) gives every tolerance's stopping point and
completion: the first check where the hole changed by less than the tolerance since the
last one. Each tolerance's feature search (``--featureIter`` at most, with the same
stopping) then runs from its own stopping points. Prints and writes, per tolerance, the mean
iterations of each phase and the quality (PSNR and SSIM of the whole image and the hole,
identity distance; weighted loss and Poisson blending, complete.py's defaults) after the z
search alone and after both phases, each face's figures for pairing, and the modelled
search time: iterations times this run's measured seconds per image-iteration (at
``--batchSize``). Tune on faces that are not the ones you report.
"""
from __future__ import annotations

import argparse
import json
import time

import common  # (bench/common.py: the project on sys.path, the shared flags)
import numpy as np


def stop_points(generated: np.ndarray, hole: np.ndarray, tol: float, window: int) -> np.ndarray:
    """(B,) each image's stopping iteration: ``generated`` (K + 1, B, S, S, C) holds G at
    iterations 0, window, ..., K * window; the first check k (0 < k < K) whose mean absolute
    change over the hole since check k - 1 is below ``tol`` grey levels, or the last (cap)."""
    hole = np.broadcast_to(hole, generated.shape[1:]).astype(bool)
    checks = len(generated) - 1
    stops = np.full(generated.shape[1], checks * window)
    for image in range(generated.shape[1]):
        for k in range(1, checks):
            change = 127.5 * np.abs(generated[k, image] - generated[k - 1, image])[hole[image]]
            if change.mean() < tol:
                stops[image] = k * window
                break
    return stops


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common.add_face_arguments(parser, limit=64)
    parser.add_argument("--tols", default="0.25,0.5,1,2,4", help="Tolerances (grey levels)")
    parser.add_argument("--windows", default="10",
                        help="--stopWindow values (each a multiple of the first)")
    parser.add_argument("--nIter", type=int, default=400, help="Cap of the z search")
    parser.add_argument("--featureIter", type=int, default=200,
                        help="Cap of the feature search (0: none)")
    parser.add_argument("--batchSize", type=int, default=64)
    parser.add_argument("--maskType", default="center")
    args = parser.parse_args(argv)

    from completion.search import CompletionConfig, SearchRandom, complete, networks

    model, prefix, paths, images = common.load_faces(parser, args)
    generator, discriminator = networks(model)
    faces = common.MaskedFaces(images, args.maskType, args.seed)
    face_masks, loss_masks, low = faces.face_masks, faces.loss_masks, faces.low
    tols = [float(t) for t in args.tols.split(",")]
    windows = [int(w) for w in args.windows.split(",")]
    every = windows[0]
    if any(w % every for w in windows) or args.nIter % max(windows):
        parser.error("--windows must be multiples of the first, and divide --nIter")

    def batches():
        for start in range(0, len(images), args.batchSize):
            yield slice(start, start + args.batchSize)

    # The z search without stopping: G and z every --window iterations.
    random = SearchRandom(args.seed)
    config = CompletionConfig(n_iter=args.nIter, out_interval=every, feature_iter=0,
                              stop_tol=0.0)
    trajectory, zs = [], []
    started = time.perf_counter()
    for rows in batches():
        snapshots = list(complete(generator, discriminator, images[rows], loss_masks[rows],
                                  low[None], config=config, seed=random))
        trajectory.append(np.stack([s.generated for s in snapshots]))
        zs.append(np.stack([s.z for s in snapshots]))
    z_seconds = time.perf_counter() - started
    trajectory, zs = np.concatenate(trajectory, axis=1), np.concatenate(zs, axis=1)
    per_image_iteration = z_seconds / (args.nIter * len(images))

    def score(generated):
        result, rows = faces.score(generated)
        result["per_face"] = {key: [row[key] for row in rows] for key in rows[0]}
        return result

    results = []
    for window, tol in [(window, tol) for window in windows for tol in tols]:
        step = window // every
        stops = stop_points(trajectory[::step], 1.0 - face_masks, tol, window)
        index = stops // every
        z_stop = zs[index, np.arange(len(images))]
        generated = trajectory[index, np.arange(len(images))]
        entry = {"tol": tol, "window": window, "z_iterations_mean": float(stops.mean()),
                 "z_iterations_median": float(np.median(stops)),
                 "z_iterations": stops.tolist(), "z_only": score(generated)}
        feature_steps = np.zeros(len(images), int)
        feature_seconds = 0.0
        if args.featureIter:
            features = CompletionConfig(n_iter=0, feature_iter=args.featureIter,
                                        out_interval=50, stop_tol=tol, stop_window=window)
            finals = []
            started = time.perf_counter()
            for rows in batches():
                *_, last = complete(generator, discriminator, images[rows], loss_masks[rows],
                                    low[None], config=features, z=z_stop[rows],
                                    hole=1.0 - face_masks[rows])
                finals.append(last.generated)
                feature_steps[rows] = last.steps
            feature_seconds = time.perf_counter() - started
            entry["both"] = score(np.concatenate(finals))
        entry.update(feature_iterations_mean=float(feature_steps.mean()),
                     feature_iterations=feature_steps.tolist(),
                     feature_seconds=feature_seconds,
                     modelled_z_seconds=float(stops.sum() * per_image_iteration))
        results.append(entry)
        best = entry.get("both", entry["z_only"])
        print(f"window {window:3d} tol {tol:5g}: z {stops.mean():6.1f} it (median {np.median(stops):g}), features "
              f"{feature_steps.mean():5.1f} it | z only: {entry['z_only']['psnr_whole']:.2f} dB "
              f"id {entry['z_only']['identity']:.3f} | both: {best['psnr_whole']:.2f} dB, hole "
              f"{best['psnr_hole']:.2f} dB, SSIM hole {best['ssim_hole']:.4f}, id "
              f"{best['identity']:.3f} | modelled z {entry['modelled_z_seconds']:.0f} s + "
              f"features {feature_seconds:.0f} s", flush=True)
    report = {"checkpoint": prefix, "faces": paths, "options": vars(args),
              "z_seconds_full": z_seconds, "seconds_per_image_iteration": per_image_iteration,
              "results": results}
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle)
    common.emit({"bench": "sweep_stopping", "faces": len(paths), "nIter": args.nIter,
                 "seconds_per_image_iteration": round(per_image_iteration, 4)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
