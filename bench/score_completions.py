#!/usr/bin/env python3
"""Score a complete.py run against the true faces, as evaluate.py scores its methods, so that
the command line's own outputs can be compared paired (bench/paired.py).

    python complete.py heldout/ --outDir runA ...
    python bench/score_completions.py runA --method A      # writes runA/per_image.csv

Reads ``outDir/completed/images/index.csv`` (input path -> its completion) and
``outDir/options.json`` (the mask), masks each input as that run did, and writes
``outDir/per_image.csv`` (evaluate.py's columns: PSNR and SSIM of the whole image and the
hole, identity distance to the input; ``iterations`` from each image's log: its number of
lines) and prints the means. The inputs must be the true faces (aligned, at the model's size).
"""
from __future__ import annotations

import argparse
import csv
import json
import os

import common  # (bench/common.py: the project on sys.path)
import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="A complete.py --outDir (one batch, no --align)")
    parser.add_argument("--method", default="ours_weighted_blend",
                        help="The method name written in per_image.csv")
    args = parser.parse_args(argv)

    import evaluate
    from completion import faces
    from evaluation import identity
    from completion import masks
    from evaluation import metrics
    import utils

    with open(os.path.join(args.out_dir, "options.json")) as handle:
        options = json.load(handle)
    with open(os.path.join(args.out_dir, "completed", "images", "index.csv"), newline="") as handle:
        index = [row for row in csv.DictReader(handle)         # skipped inputs have no file
                 if row.get("status", "completed") == "completed"]
    inputs = [row["input"] for row in index]
    files = [os.path.join(args.out_dir, row["output"]) for row in index]
    results = np.stack([utils.load_rgb(path) for path in files])
    size = results.shape[1]
    truths = utils.from_model(faces.read_faces(inputs, size, 3))
    if options.get("maskFile") or options.get("maskDir"):
        parser.error("only --maskType runs can be scored here")
    mask, _ = masks.make_mask(options["maskType"] or "center", size, options["centerScale"],
                              options["fractionMasked"], np.random.default_rng(options["seed"]),
                              side=options["halfSide"], pattern_fraction=options["patternFraction"])
    if options["maskType"] not in (None, "center", "left", "half", "full", "grid", "lowres"):
        parser.error("random masks depend on the run's random stream: score center/half runs")
    holes = np.broadcast_to(mask[..., 0] < 0.5, truths.shape[:3])
    network = identity.IdentityModel()
    distances = identity.distances(evaluate.face_descriptors(network, results),
                                   evaluate.face_descriptors(network, truths))
    logs = sorted(os.listdir(os.path.join(args.out_dir, "logs")),
                  key=lambda name: int(name.split("_")[1].split(".")[0]))     # hats_NN.log
    rows = []
    for i, (path, result, truth, hole) in enumerate(zip(inputs, results, truths, holes)):
        with open(os.path.join(args.out_dir, "logs", logs[i])) as handle:
            iterations = sum(1 for _ in handle) - 1          # after the header
        rows.append({"image": path, "method": args.method, **metrics.quality(result, truth, hole),
                     "identity": float(distances[i]), "iterations": iterations})
    evaluate.write_table(os.path.join(args.out_dir, "per_image.csv"), rows)
    means = {key: float(np.mean([row[key] for row in rows]))
             for key in ("psnr_whole", "psnr_hole", "ssim_hole", "identity", "iterations")}
    common.emit({"bench": "score_completions", "out_dir": args.out_dir, "faces": len(rows),
                 **{key: round(value, 4) for key, value in means.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
