#!/usr/bin/env python3
"""Export a trained model for completion: networks and architecture, no optimizer state.

    ./export_model.py --checkpoint_dir runs/celeba/checkpoint --out checkpoint
    ./export_model.py --checkpoint_dir runs/celeba/checkpoint --out checkpoint \
        --bn_dataset runs/celeba/train

The generator exported is the moving average of G's weights when the run kept
one (``train_dcgan.py --ema_decay``, on by default); its batch-norm statistics
are then recomputed on ``--bn_batches`` batches of random z, since averaged
weights need statistics of their own. ``--bn_dataset`` recomputes D's on real
faces: training leaves them mostly from G's fakes, while completion's
perceptual loss asks D about faces that should look real.

This is how the shipped ``checkpoint/`` was made (see docs/MODEL_CARD.md, "How it was made"
model"). ``complete.py --checkpointDir OUT`` loads the export like any
checkpoint; ``train_dcgan.py --checkpoint_dir OUT`` fine-tunes it (its weights, with
fresh optimizer state, continuing its step count).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from completion.faces import model_images
from shared import defaults, flags, quiet
from shared.errors import UserError
import utils


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Copy a trained DCGAN's generator, discriminator and architecture record "
                    "(no optimizer state) into a checkpoint folder for complete.py.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint_dir", required=True,
                        help="The training run's checkpoint folder (train_dcgan.py --checkpoint_dir)")
    parser.add_argument("--out", default=defaults.DEFAULT_CHECKPOINT_DIR,
                        help="Folder for the export (its checkpoints are replaced)")
    parser.add_argument("--step", type=flags.nonnegative_int, default=None,
                        help="Export the checkpoint of this step (None: the newest)")
    parser.add_argument("--bn_dataset", default=None,
                        help="Folder of real training faces on which to recompute the "
                             "discriminator's batch-norm statistics (None: keep training's)")
    parser.add_argument("--bn_batches", type=flags.positive_int, default=50,
                        help="Batches of 64 (faces or z) for the batch-norm statistics")
    parser.add_argument("--seed", type=flags.seed, default=0,
                        help="Seed of the z and of the choice of faces for the statistics")
    parser.add_argument("--verbose", action="store_true",
                        help="Show TensorFlow's start-up and C++ log lines")
    return parser


BN_BATCH = 64


def real_batches(folder: str, size: int, channels: int, count: int, seed: int, log=print):
    """``count`` batches of BN_BATCH faces drawn without replacement from ``folder``, in [-1, 1]
    (a gray model's: the gray training reads, :func:`faces.model_images`)."""
    if not os.path.isdir(folder):
        raise UserError(f"--bn_dataset '{folder}' is not a folder: pass the folder of aligned "
                        "faces the model was trained on")
    paths = utils.list_images(folder)
    if len(paths) < BN_BATCH:
        raise UserError(f"--bn_dataset '{folder}' has {len(paths)} images; at least "
                        f"{BN_BATCH} are needed")
    count = min(count, len(paths) // BN_BATCH)
    chosen = np.random.default_rng(seed).choice(len(paths), count * BN_BATCH, replace=False)
    faces = []
    for index in chosen:
        try:
            rgb = utils.load_rgb(paths[index])
        except utils.ImageReadError as error:
            log(f"warning: {error}; skipped")
            continue
        faces.append(model_images(utils.center_crop_resize(rgb, size)[None], channels)[0])
    log(f"Batch-norm statistics of D from {len(faces) // BN_BATCH * BN_BATCH} faces of {folder}")
    return [np.stack(faces[i:i + BN_BATCH]) for i in range(0, len(faces) - BN_BATCH + 1, BN_BATCH)]


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if os.path.abspath(args.out) == os.path.abspath(args.checkpoint_dir):
        return flags.fail("--out must differ from --checkpoint_dir (the export replaces the "
                          "checkpoints in --out)")
    quiet.quiet_tensorflow(args.verbose)
    from training import checkpoints  # TensorFlow loads here, after the flags are known to be good

    try:
        source = checkpoints.find(args.checkpoint_dir)
        arch = checkpoints.read_architecture(source)
        real = None
        if args.bn_dataset is not None and arch.d_spectral_norm:
            print(f"note: {source} was trained with --d_spectral_norm, so its discriminator has "
                  "no batch norm: --bn_dataset has nothing to recompute")
        elif args.bn_dataset is not None:
            real = real_batches(args.bn_dataset, arch.image_size, arch.c_dim, args.bn_batches,
                                args.seed)
        rng = np.random.default_rng(args.seed)
        z = [rng.uniform(-1, 1, (BN_BATCH, arch.z_dim)).astype(np.float32)
             for _ in range(args.bn_batches)]
        prefix = checkpoints.export(args.checkpoint_dir, args.out, args.step, real_batches=real,
                                    z_batches=z)
    except UserError as error:
        return flags.fail(str(error))
    except OSError as error:
        return flags.fail(f"cannot write the export to '{args.out}': {error.strerror or error}")
    size = sum(os.path.getsize(os.path.join(args.out, name)) for name in os.listdir(args.out))
    print(f"Wrote {prefix} ({size / 2**20:.1f} MiB in '{args.out}')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
