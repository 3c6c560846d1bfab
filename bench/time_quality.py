#!/usr/bin/env python3
"""Time against quality: held-out quality for every budget of z and feature iterations, from
noise and from a learned start (completion/encoder.py).

    python bench/time_quality.py /work/runs/tune64 --zCaps 25,50,100,200 --featureCaps 0,25,50,100 \
        --starts noise,encoder --out tq.json

For each start, ONE z search without stopping (a snapshot every ``--every`` iterations)
gives the completion at every z cap; from each z cap one feature search without stopping
gives every feature cap. Each (start, z cap, feature cap) is scored as complete.py's
defaults make it (weighted loss, Poisson blend): PSNR and SSIM of the whole image and the
hole, and identity distance, as means and per face (for pairing), with the search seconds it
costs: iterations times this run's measured seconds per image-iteration of each phase (at
``--batchSize``), plus the encoder's pass. Tune on faces that are not the ones you report.
"""
from __future__ import annotations

import argparse
import json
import time

import common  # (bench/common.py: the project on sys.path, the shared flags)
import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common.add_face_arguments(parser, limit=64)
    parser.add_argument("--zCaps", default="25,50,100,200")
    parser.add_argument("--featureCaps", default="0,25,50,100")
    parser.add_argument("--featureFrom", default=None,
                        help="Run feature searches only from these z caps (default: all)")
    parser.add_argument("--every", type=int, default=25, help="Snapshot interval")
    parser.add_argument("--starts", default="noise,encoder")
    parser.add_argument("--encoderDir", default=None,
                        help="Encoder checkpoint folder (default: <checkpointDir>/encoder)")
    parser.add_argument("--lr", type=float, default=None,
                        help="Momentum step size of the z search (default: complete.py's)")
    parser.add_argument("--featureLr", type=float, default=None,
                        help="Step size of the feature search (default: complete.py's)")
    parser.add_argument("--batchSize", type=int, default=64)
    parser.add_argument("--maskType", default="center")
    args = parser.parse_args(argv)

    from completion import encoder as enc
    from completion.search import CompletionConfig, SearchRandom, complete, networks

    model, prefix, paths, images = common.load_faces(parser, args)
    generator, discriminator = networks(model)
    faces = common.MaskedFaces(images, args.maskType, args.seed)
    face_masks, loss_masks, low = faces.face_masks, faces.loss_masks, faces.low
    z_caps = [int(c) for c in args.zCaps.split(",")]
    feature_caps = [int(c) for c in args.featureCaps.split(",")]
    feature_from = ([int(c) for c in args.featureFrom.split(",")] if args.featureFrom
                    else z_caps)
    if any(c % args.every for c in z_caps + feature_caps):
        parser.error("every cap must be a multiple of --every")

    def batches():
        for start in range(0, len(images), args.batchSize):
            yield slice(start, start + args.batchSize)

    def score(generated):
        result, rows = faces.score(generated)
        for key in rows[0]:
            result[f"{key}_per_face"] = [float(row[key]) for row in rows]
        return result

    results, timing = [], {}
    for start_kind in args.starts.split(","):
        random = SearchRandom(args.seed)
        encoder_seconds = 0.0
        if start_kind == "encoder":
            prefix_e = enc.find(args.encoderDir or args.checkpointDir)
            if prefix_e is None:
                parser.error("no encoder found; train one with train_encoder.py")
            encoder, _ = enc.load(prefix_e)
            enc.start(encoder, images[:1], face_masks[:1])   # build, trace
            started = time.perf_counter()
            z0 = enc.start(encoder, images, face_masks)
            encoder_seconds = time.perf_counter() - started
        else:
            z0 = random.initial_z(len(images), model.arch.z_dim)
        config = CompletionConfig(n_iter=max(z_caps), out_interval=args.every, lr=args.lr,
                                  feature_iter=0, stop_tol=0.0)
        by_cap, started = {}, time.perf_counter()
        for rows in batches():
            for snapshot in complete(generator, discriminator, images[rows], loss_masks[rows],
                                     low[None], config=config, z=z0[rows], seed=random):
                if snapshot.iteration in z_caps or snapshot.iteration == 0:
                    by_cap.setdefault(snapshot.iteration, []).append(
                        (snapshot.z, snapshot.generated))
        z_per_iteration = ((time.perf_counter() - started) / (max(z_caps) * len(images))
                           if max(z_caps) else 0.0)
        feature_time = feature_its = 0
        for cap in [0] + z_caps:
            z_cap = np.concatenate([z for z, _ in by_cap[cap]])
            generated = np.concatenate([g for _, g in by_cap[cap]])
            finals = {0: generated}
            wanted = [f for f in feature_caps if f > 0]
            if cap in feature_from and wanted:
                features = CompletionConfig(n_iter=0, feature_iter=max(wanted), stop_tol=0.0,
                                            out_interval=args.every,
                                            **({"feature_lr": args.featureLr}
                                               if args.featureLr else {}))
                collected = {f: [] for f in wanted}
                started = time.perf_counter()
                for rows in batches():
                    for snapshot in complete(generator, discriminator, images[rows],
                                             loss_masks[rows], low[None], config=features,
                                             z=z_cap[rows]):
                        if snapshot.iteration in collected:
                            collected[snapshot.iteration].append(snapshot.generated)
                feature_time += time.perf_counter() - started
                feature_its += max(wanted) * len(images)
                finals.update({f: np.concatenate(g) for f, g in collected.items()})
            for f, generated in finals.items():
                result = score(generated)
                entry = {"start": start_kind, "z_iter": cap, "feature_iter": f, **result}
                results.append(entry)
                print(f"{start_kind:8s} z {cap:4d} + features {f:4d}: {result['psnr_whole']:.2f} dB,"
                      f" hole {result['psnr_hole']:.2f} dB, SSIM hole {result['ssim_hole']:.4f}, "
                      f"identity {result['identity']:.4f}", flush=True)
        timing[start_kind] = {"z_seconds_per_image_iteration": z_per_iteration,
                              "feature_seconds_per_image_iteration":
                                  feature_time / feature_its if feature_its else None,
                              "encoder_seconds_per_image": encoder_seconds / len(images)}
        print(start_kind, timing[start_kind], flush=True)
    for entry in results:
        t = timing[entry["start"]]
        entry["modelled_seconds_per_image"] = (
            entry["z_iter"] * t["z_seconds_per_image_iteration"]
            + entry["feature_iter"] * (t["feature_seconds_per_image_iteration"] or 0)
            + t["encoder_seconds_per_image"])
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"checkpoint": prefix, "faces": paths, "options": vars(args),
                       "timing": timing, "results": results}, handle)
    common.emit({"bench": "time_quality", "faces": len(paths), "timing": timing})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
