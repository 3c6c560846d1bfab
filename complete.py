#!/usr/bin/env python3
"""Complete masked faces with a trained DCGAN (Yeh, Chen et al.; Amos 2016).

    ./complete.py ./data/your-test-data/aligned/* --outDir outputImages
    ./complete.py               # no images: the demo photo under six masks (demo.py)

This file is the command line: its flags, and :func:`main`, which runs one completion
job (:mod:`completion_job`: options, inputs, search, outputs) on the images, or the demo
(:mod:`demo`) when there are none. For each batch of up to ``--batchSize`` images it
writes, as the 2016 code:

    outDir/before.png            the inputs (8 per row)
    outDir/masked.png            the inputs with the missing pixels set to 0 (gray)
    outDir/lowres.png            what a ``lowres`` mask keeps (lowres only)
    outDir/hats_imgs/NNNN.png    G(z) after NNNN iterations (every --outInterval and the last)
    outDir/completed/NNNN.png    known pixels of the input + G(z) in the hole
    outDir/logs/hats_NN.log      per image: "iter loss z0 ... z99", one line per iteration
    outDir/options.json          the resolved options

With more images than one batch, batch k writes the same layout into
``outDir/batch_kkk/``. Beyond the original (see docs/DESIGN.md): every image's final
completion in ``outDir/completed/images/`` (:mod:`outputs`), Poisson-blended
(:mod:`blending`) and searched on the importance-weighted loss by default
(``--no-blend``, ``--no-weighted``: the blog's), ``--maskFile``/``--maskDir`` (:mod:`mask_files`),
``--nRestarts``, ``--gif``, ``--align``/``--pasteBack`` for raw photos (:mod:`faces`), and
early stopping (``--stopTol``, ``--stopWindow``): each image's search ends when its hole
stops changing, so ``--nIter`` and ``--featureIter`` are caps, and each image's log ends at
its own last iteration.
"""
from __future__ import annotations

import argparse
import sys

import defaults
import flags
import masks
import precision
import quiet
from errors import UserError


def build_parser(demo: bool = False) -> argparse.ArgumentParser:
    """complete.py's flags; ``demo``: with the demo's defaults (:data:`defaults.DEMO`), as
    when no image is given."""
    parser = argparse.ArgumentParser(
        description="Complete the masked part of aligned face images with a trained DCGAN.",
        formatter_class=flags.DefaultsHelpFormatter)
    add = parser.add_argument
    add("--approach", choices=("momentum", "adam", "hmc"), default="momentum",
        help="Search over z: projected gradient descent with momentum (the blog's), Adam, or "
             "Hamiltonian Monte Carlo")
    add("--lr", type=flags.positive_float, default=None,
        help="Step size (default: the --approach's: " + ", ".join(
            f"{lr:g} for {approach}" for approach, lr in flags.DEFAULT_LR.items() if lr)
        + "; momentum's is on the loss per known value, see --sumLoss)")
    add("--momentum", type=flags.open_unit_interval, default=0.9, help="Momentum (momentum)")
    add("--beta1", type=flags.open_unit_interval, default=0.9, help="Adam beta1")
    add("--beta2", type=flags.open_unit_interval, default=0.999, help="Adam beta2")
    add("--eps", type=flags.positive_float, default=1e-8, help="Adam epsilon")
    add("--hmcBeta", type=flags.positive_float, default=0.2, help="HMC inverse temperature")
    add("--hmcEps", type=flags.positive_float, default=0.001, help="HMC leapfrog step size")
    add("--hmcL", type=flags.positive_int, default=100, help="HMC leapfrog steps per iteration")
    add("--hmcAnneal", type=flags.positive_float, default=1.0,
        help="Multiply hmcBeta by this after every iteration")
    add("--nIter", type=flags.nonnegative_int, default=1000,
        help=f"Iterations of the search (the demo's default: {defaults.DEMO['nIter']})")
    add("--featureIter", type=flags.nonnegative_int, default=flags.DEFAULT_FEATURE_ITER,
        help="Then this many iterations of the feature search: G's first feature map, started "
             "from the z found, searched with the same loss and the momentum step (docs/DESIGN.md, "
             "'The feature search'); 0: the blog's search over z only")
    add("--featureLr", type=flags.positive_float, default=flags.DEFAULT_FEATURE_LR,
        help="Momentum step size of the feature search, on the loss per known value")
    add("--stopTol", type=flags.nonnegative_float, default=flags.DEFAULT_STOP_TOL,
        help="Stop each image's search (each phase) once its fill has stopped changing: when "
             "the hole's mean change over --stopWindow iterations is below this many grey "
             "levels (0-255). --nIter and --featureIter are then the most each phase runs; "
             "0: every iteration runs")
    add("--stopWindow", type=flags.positive_int, default=flags.DEFAULT_STOP_WINDOW,
        help="Iterations between the checks of --stopTol")
    add("--start", choices=flags.STARTS, default=flags.DEFAULT_START, help=flags.START_HELP)
    add("--imgSize", type=flags.image_size, default=None,
        help="Image size; default: the checkpoint's (64 for the original model). Inputs of "
             "another size are centre-cropped and resized, with a warning")
    add("--lam", type=flags.nonnegative_float, default=0.1,
        help="Weight of the perceptual loss -log D(G(z)) against the contextual L1 loss")
    add("--sumLoss", action="store_true",
        help="momentum: step on the gradient of the summed loss, the blog's scale, instead of "
             "the loss per known value (about 9,000 times smaller for the centre hole; then "
             "pass an lr of about 1e-5)")
    add("--checkpointDir", default="checkpoint", help="Folder of the trained model's checkpoint")
    add("--outDir", default="completions", help="Folder for the outputs")
    add("--outInterval", type=flags.positive_int, default=50,
        help="Write G(z) and the completion every this many iterations")
    add("--maskType", choices=masks.MASK_TYPES, default="center",
        help="Which pixels are missing. Without images, the demo uses several types unless "
             "this, --maskFile or --maskDir is given")
    add("--centerScale", type=flags.center_scale, default=0.25,
        help="center mask: the hole spans rows/columns imgSize*scale to imgSize*(1-scale)")
    add("--fractionMasked", type=flags.unit_interval, default=0.2,
        help=f"random mask: probability that a pixel is missing (the demo's default: "
             f"{defaults.DEMO['fractionMasked']})")
    add("--halfSide", choices=masks.HALF_SIDES, default="left",
        help=f"half mask: which half is missing (the demo's default: "
             f"{defaults.DEMO['halfSide']})")
    add("--patternFraction", type=flags.unit_interval, default=0.25,
        help="pattern mask: share of missing pixels (the paper's random pattern: about 25%%)")
    add("--maskFile", default=None,
        help="One mask image for every input (any square size, resized nearest-neighbour; "
             "white = keep, black = missing; with --align, a mask of the photo's size is drawn "
             "on the photo and only its black pixels change); overrides --maskType")
    add("--maskDir", default=None,
        help="Folder with one mask per input, matched by file name (same convention as "
             "--maskFile, photo-size masks included); overrides --maskType")
    add("--weighted", action=argparse.BooleanOptionalAction, default=True,
        help="The paper's importance-weighted contextual loss: a known pixel weighs the "
             "fraction of missing pixels in the --weightWindow square around it "
             "(--no-weighted: every known pixel weighs 1, the blog's loss)")
    add("--weightWindow", type=flags.positive_int, default=7,
        help="Window (odd) of the importance weights of --weighted")
    add("--blend", action=argparse.BooleanOptionalAction, default=True,
        help="Poisson-blend G(z) into the hole for the final per-image completions "
             "(known pixels unchanged, G(z)'s gradients kept in the hole; --no-blend: "
             "G(z) pasted as it is, the blog's)")
    add("--nRestarts", type=flags.positive_int, default=1,
        help="Random starts per image; each image keeps the one with the lowest final loss")
    add("--gif", action="store_true",
        help="Also write completion.gif: the completed grid at every --outInterval")
    add("--align", action="store_true",
        help="Inputs are raw photos: align each face (align/, innerEyesAndBottomLip, model "
             "size) before completing it")
    add("--pasteBack", action="store_true",
        help="With --align: warp each completed face back into its photo (outDir/pasted/)")
    add("--batchSize", type=flags.positive_int, default=64, help="Images completed at once")
    add("--seed", type=flags.seed, default=None,
        help="Seed for z and random masks (default: a random seed)")
    add("--shard", type=flags.shard, default=None, metavar="I/N",
        help="Complete only the I-th (from 0) of N contiguous slices of the image list, into "
             "outDir/shard_I_of_N/, so N processes or machines can split a large job")
    add("--precision", choices=precision.CHOICES, default="auto",
        help=f"Compute precision of G and D: {precision.AUTO_HELP} (z, gradients and the "
             "loss stay float32; options.json records the precision used)")
    add("--verbose", action="store_true", help=flags.VERBOSE_HELP)
    add("imgs", nargs="*", metavar="IMG",
        help="Images to complete: files, globs or folders (aligned faces, e.g. from align/). "
             "None: the demo (see demo.py)")
    if demo:
        parser.set_defaults(**defaults.DEMO)
    return parser


def run_command(job, args) -> int:
    """``job(args, log)`` with user errors and I/O failures as one line and exit code 1."""
    try:
        return job(args, lambda line: print(line, flush=True))
    except UserError as error:
        return flags.fail(str(error))
    except OSError as error:       # writes are reported by writing(); this is a read
        return flags.fail(f"cannot read {error.filename or 'an input'}: "
                          f"{error.strerror or error}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not args.imgs:                    # no images: the demo, under its own defaults
        args = build_parser(demo=True).parse_args(argv)
    quiet.quiet_tensorflow(args.verbose)
    # TensorFlow loads with the job, once the flags are known to be good: --help and flag
    # errors answer at once.
    import completion_job
    import demo

    if not args.imgs:
        return run_command(demo.run, args)
    return run_command(lambda args, log: completion_job.run(completion_job.resolve(args, log),
                                                            log), args)


if __name__ == "__main__":
    sys.exit(main())
