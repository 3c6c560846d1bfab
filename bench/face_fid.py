#!/usr/bin/env python3
"""The face FID (evaluation/face_fid.py) of several checkpoints against one set of real faces.

    python bench/face_fid.py checkpoint runs/a/checkpoint runs/b/DCGAN.model-1500 \\
        --faces heldout/ --samples 1000 --out face_fid.json

Each CHECKPOINT is a folder (its newest loadable checkpoint, as complete.py takes it) or a
checkpoint prefix (``.../DCGAN.model-1500``, to measure older ones of a training folder). Every
checkpoint is measured on the same z (``--seed``) against the same real faces, whose
descriptors are computed once per image size and cached in ``--cacheDir``. Prints one line
per checkpoint (its face FID, step, and the seconds per 1,000 generated faces) and writes them
as JSON to ``--out``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import common  # (bench/common.py: the project on sys.path)


def load_generator(source: str):
    """(generator(z) -> images, architecture, prefix) of a checkpoint folder or prefix."""
    from training import checkpoints
    import model

    if os.path.isdir(source):
        dcgan, prefix = checkpoints.load_for_completion(source)
    else:
        if not os.path.exists(source + ".index"):
            raise SystemExit(f"bench/face_fid.py: '{source}' is neither a checkpoint folder nor "
                             "a checkpoint prefix (PREFIX.index)")
        prefix = source
        dcgan = model.DCGAN(checkpoints.read_architecture(prefix))
        checkpoints.restore(checkpoints.networks_checkpoint(dcgan, prefix), prefix, partial=True)
    return (lambda z: dcgan.generator(z, training=False)), dcgan.arch, prefix


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT")
    parser.add_argument("--faces", nargs="+", required=True,
                        help="The real aligned faces: folders, globs, files")
    parser.add_argument("--samples", type=int, default=1000, help="Generated faces per checkpoint")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the generated faces' z")
    parser.add_argument("--cacheDir", default=os.path.join(tempfile.gettempdir(), "face-fid"),
                        help="Where the real faces' descriptors are cached")
    parser.add_argument("--out", default=None, help="JSON file of the results")
    args = parser.parse_args(argv)

    from evaluation import face_fid, identity
    from training import checkpoints
    import utils

    network = identity.IdentityModel()
    references, results = {}, []
    for source in args.checkpoints:
        generator, arch, prefix = load_generator(source)
        key = (arch.image_size, arch.c_dim)
        if key not in references:
            references[key] = face_fid.reference_descriptors(
                args.faces, arch.image_size, arch.c_dim, network, args.cacheDir)
        started = time.perf_counter()
        value = face_fid.face_fid(generator, references[key], args.samples, arch.z_dim,
                                  args.seed, network)
        seconds = time.perf_counter() - started
        result = {"checkpoint": prefix, "step": checkpoints.step_of(prefix),
                  "face_fid": value, "generated": args.samples,
                  "real": len(references[key]), "seconds": seconds,
                  "seconds_per_1000": 1000 * seconds / args.samples}
        results.append(result)
        print(f"{prefix}: face FID {value:.4f} ({args.samples} generated against "
              f"{len(references[key])} real; {result['seconds_per_1000']:.0f} s per 1,000 "
              "generated faces)", flush=True)
    if args.out:
        utils.write_json({"results": results, "options": vars(args)}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
