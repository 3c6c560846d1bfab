#!/usr/bin/env python3
"""Complete masked faces with a trained DCGAN (Yeh, Chen et al.; Amos 2016).

    ./complete.py ./data/your-test-data/aligned/* --outDir outputImages
    ./complete.py               # no images: the demo photo under six masks (completion/demo.py)

This file is the command line: its flags, and :func:`main`, which runs one completion
job (:mod:`completion.job`: options, inputs, search, outputs) on the images, or the demo
(:mod:`completion.demo`) when there are none. For each batch of up to ``--batchSize`` images it
writes, as the 2016 code:

    outDir/before.png            the inputs (8 per row)
    outDir/masked.png            the inputs with the missing pixels set to 0 (gray)
    outDir/lowres.png            what a ``lowres`` mask keeps (lowres only)
    outDir/hats_imgs/NNNN.png    G(z) after NNNN iterations (every --outInterval and the last)
    outDir/completed/NNNN.png    known pixels of the input + G(z) in the hole
    outDir/logs/hats_NN.log      per image: "iter loss z0 ... z99", one line per iteration
    outDir/options.json          the resolved options

With more images than one batch, batch k writes the same layout into
``outDir/batch_kkk/``. Batches are read, completed and written one at a time and recorded
in ``outDir/progress.json``: the same command resumes after the last finished one. An
input that cannot be used is skipped, with its reason in ``completed/images/index.csv``;
the exit status is then 3 (docs/LARGE_FOLDERS.md).

Beyond the original (see docs/DESIGN.md): every image's final completion in
``outDir/completed/images/`` (:mod:`completion.outputs`), Poisson-blended
(:mod:`completion.blending`) and searched on the importance-weighted loss by default
(``--no-blend``, ``--no-weighted``: the blog's), ``--maskFile``/``--maskDir``
(:mod:`completion.mask_files`), ``--nRestarts``, ``--gif``, ``--align``/``--pasteBack``
for raw photos (:mod:`completion.faces`), and
early stopping (``--stopTol``, ``--stopWindow``): each image's search ends when its hole
stops changing, so ``--nIter`` and ``--featureIter`` are caps, and each image's log ends at
its own last iteration.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

from completion import flags as completion_flags
from shared import defaults, flags, quiet
from shared.errors import CompletionInterrupted, UserError


def build_parser(demo: bool = False) -> argparse.ArgumentParser:
    """complete.py's flags; ``demo``: with the demo's defaults (:data:`defaults.DEMO`), as
    when no image is given."""
    parser = argparse.ArgumentParser(
        description="Complete the masked part of aligned face images with a trained DCGAN.",
        formatter_class=flags.DefaultsHelpFormatter)
    demo_notes = {"maskType": "without images, the demo uses several types unless this, "
                              "--maskFile or --maskDir is given",
                  "fractionMasked": f"the demo's default: {defaults.DEMO['fractionMasked']}",
                  "halfSide": f"the demo's default: {defaults.DEMO['halfSide']}"}
    completion_flags.add_search_flags(parser, notes=demo_notes)
    add = parser.add_argument
    add("--imgSize", type=flags.image_size, default=None,
        help="Image size; default: the checkpoint's (64 for the original model). Inputs of "
             "another size are centre-cropped and resized, with a warning")
    add("--checkpointDir", default=defaults.DEFAULT_CHECKPOINT_DIR,
        help="Folder of the trained model's checkpoint")
    add("--outDir", default="completions", help="Folder for the outputs")
    completion_flags.add_mask_flags(parser, notes=demo_notes)
    add("--maskFile", default=None,
        help="One mask image for every input (any square size, resized nearest-neighbour; "
             "white = keep, black = missing; with --align, a mask of the photo's size is drawn "
             "on the photo and only its black pixels change); overrides --maskType")
    add("--maskDir", default=None,
        help="Folder with one mask per input, matched by file name (same convention as "
             "--maskFile, photo-size masks included); overrides --maskType")
    completion_flags.add_run_flags(parser)
    add("--gif", action="store_true",
        help="Also write completion.gif: the completed grid at every --outInterval")
    add("--align", action="store_true",
        help="Inputs are raw photos: align each face (align/, innerEyesAndBottomLip, model "
             "size) before completing it")
    add("--detectSide", type=flags.nonnegative_int, default=defaults.DEFAULT_DETECT_SIDE,
        help="With --align: find faces on a copy of each photo downscaled to this many pixels "
             "(longer side; the landmarks come from the full photo), as the web page does; 0: "
             "on the full photo (slower: about 9 s per 12-megapixel photo on 2 cores)")
    add("--pasteBack", action="store_true",
        help="With --align: warp each completed face back into its photo (outDir/pasted/)")
    add("--batchSize", type=flags.positive_int, default=defaults.DEFAULT_COMPLETION_BATCH,
        help="Images completed at once")
    add("--shard", type=flags.shard, default=None, metavar="I/N",
        help="Complete only the I-th (from 0) of N contiguous slices of the image list, into "
             "outDir/shard_I_of_N/, so N processes or machines can split a large job")
    add("imgs", nargs="*", metavar="IMG",
        help="Images to complete: files, globs or folders (aligned faces, e.g. from align/). "
             "None: the demo (see completion/demo.py)")
    if demo:
        parser.set_defaults(**defaults.DEMO)
    return parser


def run_command(job, args) -> int:
    """``job(args, log)`` with user errors and I/O failures as one line and exit code 1; a
    run stopped by a signal prints how to resume and exits 128 + the signal's number."""
    try:
        return job(args, lambda line: print(line, flush=True))
    except UserError as error:
        return flags.fail(str(error))
    except CompletionInterrupted as stopped:
        print(stopped, flush=True)
        return stopped.exit_code
    except KeyboardInterrupt:         # a second Ctrl-C, or one before the batches started
        return flags.fail("interrupted; the batches already finished are kept. Run the same "
                          "command again to resume after them.", code=130)
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
    from completion import demo, job as completion_job

    if not args.imgs:
        return run_command(demo.run, args)
    command = resume_command(sys.argv[1:] if argv is None else argv)
    return run_command(lambda args, log: completion_job.run(completion_job.resolve(args, log),
                                                            log, command=command), args)


def resume_command(argv) -> str:
    """The command line that reruns (and so resumes) this one."""
    script = sys.argv[0] if os.path.basename(sys.argv[0]) == "complete.py" else "complete.py"
    return "python " + shlex.join([script, *map(str, argv)])


if __name__ == "__main__":
    sys.exit(main())
