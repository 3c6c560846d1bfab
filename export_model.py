#!/usr/bin/env python3
"""Export a trained model for completion: networks and architecture, no optimizer state.

    ./export_model.py --checkpoint_dir runs/celeba/checkpoint --out checkpoint

This is how the shipped ``checkpoint/`` was made (see README.md, "The shipped
model"). ``complete.py --checkpointDir OUT`` loads the export like any
checkpoint; ``train_dcgan.py --checkpoint_dir OUT`` fine-tunes it (its weights, with
fresh optimizer state, continuing its step count).
"""
from __future__ import annotations

import argparse
import os
import sys

import flags
from errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Copy a trained DCGAN's generator, discriminator and architecture record "
                    "(no optimizer state) into a checkpoint folder for complete.py.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint_dir", required=True,
                        help="The training run's checkpoint folder (train_dcgan.py --checkpoint_dir)")
    parser.add_argument("--out", default="checkpoint",
                        help="Folder for the export (its checkpoints are replaced)")
    parser.add_argument("--step", type=flags.nonnegative_int, default=None,
                        help="Export the checkpoint of this step (default: the newest)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    flags.quiet_tensorflow()
    if os.path.abspath(args.out) == os.path.abspath(args.checkpoint_dir):
        return flags.fail("--out must differ from --checkpoint_dir (the export replaces the "
                          "checkpoints in --out)")
    import checkpoints

    try:
        prefix = checkpoints.export(args.checkpoint_dir, args.out, args.step)
    except UserError as error:
        return flags.fail(str(error))
    except OSError as error:
        return flags.fail(f"cannot write the export to '{args.out}': {error.strerror or error}")
    size = sum(os.path.getsize(os.path.join(args.out, name)) for name in os.listdir(args.out))
    print(f"Wrote {prefix} ({size / 2**20:.1f} MiB in '{args.out}')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
