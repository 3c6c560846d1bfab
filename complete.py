#!/usr/bin/env python3
"""Complete masked faces with a trained DCGAN (Yeh, Chen et al.; Amos 2016).

    ./complete.py ./data/your-test-data/aligned/* --outDir outputImages
    ./complete.py               # no images: the demo photo under six masks (demo.py)

For each batch of up to ``--batchSize`` images it writes, as the 2016 code:

    outDir/before.png            the inputs (8 per row)
    outDir/masked.png            the inputs with the missing pixels set to 0 (gray)
    outDir/lowres.png            what a ``lowres`` mask keeps (lowres only)
    outDir/hats_imgs/NNNN.png    G(z) after NNNN iterations (every --outInterval and the last)
    outDir/completed/NNNN.png    known pixels of the input + G(z) in the hole
    outDir/logs/hats_NN.log      per image: "iter loss z0 ... z99", one line per iteration
    outDir/options.json          the resolved options

With more images than one batch, batch k writes the same layout into
``outDir/batch_kkk/``. Beyond the original (see README.md): every image's final
completion in ``outDir/completed/images/`` (:mod:`outputs`), ``--blend``
(:mod:`blending`), ``--weighted``, ``--maskFile``/``--maskDir`` (:mod:`mask_files`),
``--nRestarts``, ``--gif``, and ``--align``/``--pasteBack`` for raw photos (:mod:`faces`).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys

import numpy as np

import demo
import faces
import flags
import mask_files
import masks
import outputs
import photo_masks
import precision
import utils
from errors import CompletionError, UserError

PASTED_DIR = "pasted"
MASK_TYPE = "center"          # the blog's defaults, for flags whose demo default differs
FRACTION_MASKED = 0.2
HALF_SIDE = "left"
APPROACH = "momentum"
N_ITER = 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Complete the masked part of aligned face images with a trained DCGAN.",
        formatter_class=flags.DefaultsHelpFormatter)
    add = parser.add_argument
    add("--approach", choices=("momentum", "adam", "hmc"), default=None,
        help=f"Search over z: projected gradient descent with momentum (the blog's), Adam, or "
             f"Hamiltonian Monte Carlo (default: {APPROACH})")
    add("--lr", type=flags.positive_float, default=None,
        help=f"Step size (default: {flags.DEFAULT_LR['momentum']:g} for momentum, on the loss "
             f"per known value (see --sumLoss); {flags.DEFAULT_LR['adam']:g} for adam)")
    add("--momentum", type=flags.open_unit_interval, default=0.9, help="Momentum (momentum)")
    add("--beta1", type=flags.open_unit_interval, default=0.9, help="Adam beta1")
    add("--beta2", type=flags.open_unit_interval, default=0.999, help="Adam beta2")
    add("--eps", type=flags.positive_float, default=1e-8, help="Adam epsilon")
    add("--hmcBeta", type=flags.positive_float, default=0.2, help="HMC inverse temperature")
    add("--hmcEps", type=flags.positive_float, default=0.001, help="HMC leapfrog step size")
    add("--hmcL", type=flags.positive_int, default=100, help="HMC leapfrog steps per iteration")
    add("--hmcAnneal", type=flags.positive_float, default=1.0,
        help="Multiply hmcBeta by this after every iteration")
    add("--nIter", type=flags.nonnegative_int, default=None,
        help=f"Iterations of the search (default: {N_ITER}; the demo's: {demo.N_ITER})")
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
    add("--maskType", choices=masks.MASK_TYPES, default=None,
        help="Which pixels are missing (default: center). Without images, the demo uses "
             "several types unless this, --maskFile or --maskDir is given")
    add("--centerScale", type=flags.center_scale, default=0.25,
        help="center mask: the hole spans rows/columns imgSize*scale to imgSize*(1-scale)")
    add("--fractionMasked", type=flags.unit_interval, default=None,
        help=f"random mask: probability that a pixel is missing (default: {FRACTION_MASKED}; "
             f"the demo's: {demo.FRACTION_MASKED})")
    add("--halfSide", choices=masks.HALF_SIDES, default=None,
        help=f"half mask: which half is missing (default: {HALF_SIDE}; the demo's: "
             f"{demo.HALF_SIDE})")
    add("--patternFraction", type=flags.unit_interval, default=0.25,
        help="pattern mask: share of missing pixels (the paper's random pattern: about 25%%)")
    add("--maskFile", default=None,
        help="One mask image for every input (any square size, resized nearest-neighbour; "
             "white = keep, black = missing; with --align, a mask of the photo's size is drawn "
             "on the photo and only its black pixels change); overrides --maskType")
    add("--maskDir", default=None,
        help="Folder with one mask per input, matched by file name (same convention as "
             "--maskFile); overrides --maskType")
    add("--weighted", action="store_true",
        help="The paper's importance-weighted contextual loss: a known pixel weighs the "
             "fraction of missing pixels in the --weightWindow square around it")
    add("--weightWindow", type=flags.positive_int, default=7,
        help="Window (odd) of the importance weights of --weighted")
    add("--blend", action="store_true",
        help="Poisson-blend G(z) into the hole for the final per-image completions "
             "(known pixels unchanged, G(z)'s gradients kept in the hole)")
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
        help="Seed for z and random masks (None: a random seed)")
    add("--shard", type=flags.shard, default=None, metavar="I/N",
        help="Complete only the I-th (from 0) of N contiguous slices of the image list, into "
             "outDir/shard_I_of_N/, so N processes or machines can split a large job")
    add("--precision", choices=precision.CHOICES, default="auto",
        help=f"Compute precision of G and D: {precision.AUTO_HELP} (z, gradients and the "
             "loss stay float32; options.json records the precision used)")
    add("imgs", nargs="*", metavar="IMG",
        help="Images to complete: files, globs or folders (aligned faces, e.g. from align/). "
             "None: the demo (see demo.py)")
    return parser


def read_images(paths: list[str], size: int, channels: int, warn=print) -> np.ndarray:
    """Read ``paths`` as (N, size, size, channels) float32 in [-1, 1]."""
    images, unreadable = [], []
    for path in paths:
        try:
            rgb = utils.load_rgb(path)
        except utils.ImageReadError as error:
            unreadable.append(str(error))
            continue
        if rgb.shape[:2] != (size, size):
            warn(f"warning: {path} is {rgb.shape[1]}x{rgb.shape[0]}, not {size}x{size}: "
                 "centre-cropped and resized (align raw photos with align/ first)")
            rgb = utils.center_crop_resize(rgb, size)
        image = utils.to_model(rgb)
        if channels == 1:
            image = image.mean(axis=2, keepdims=True)
        images.append(image)
    if unreadable:
        raise CompletionError("cannot read " + ("these images:\n  " if len(unreadable) > 1 else "")
                              + "\n  ".join(unreadable))
    return np.stack(images)


def grid_shape(count: int) -> tuple[int, int]:
    """The original's layout: 8 images per row."""
    return int(np.ceil(count / 8)), min(8, count)


def format_log_lines(iterations: np.ndarray, losses: np.ndarray, zs: np.ndarray) -> str:
    """Lines "iter loss z0 ... zN" for one image."""
    table = np.column_stack([losses, zs])
    return "".join(f"{i} " + " ".join(f"{value:.7g}" for value in row) + "\n"
                   for i, row in zip(iterations, table))


class OutputWriter:
    """Writes one batch's outputs in a background thread, so the search never waits on disk."""

    def __init__(self, out_dir: str, images: np.ndarray, mask: np.ndarray,
                 lowres_mask: np.ndarray, z_dim: int):
        self.out_dir = out_dir
        self.count = len(images)
        self.shape = grid_shape(self.count)
        self.mask = mask
        self.lowres = bool(lowres_mask.any())
        self.masked = images * mask
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self.pending = []
        for name in ("hats_imgs", "completed", "logs"):
            os.makedirs(os.path.join(out_dir, name), exist_ok=True)
        utils.save_grid(images, os.path.join(out_dir, "before.png"), self.shape)
        utils.save_grid(self.masked, os.path.join(out_dir, "masked.png"), self.shape)
        if self.lowres:
            preview = masks.lowres_preview(images) * np.repeat(
                np.repeat(lowres_mask, masks.LOWRES_FACTOR, 0), masks.LOWRES_FACTOR, 1)
            utils.save_grid(preview, os.path.join(out_dir, "lowres.png"), self.shape)
        header = "iter loss " + " ".join(f"z{i}" for i in range(z_dim)) + "\n"
        for index in range(self.count):
            with open(self.log_path(index), "w") as handle:
                handle.write(header)

    def log_path(self, index: int) -> str:
        return os.path.join(self.out_dir, "logs", f"hats_{index:02d}.log")

    def submit(self, snapshot) -> None:
        self.pending.append(self.pool.submit(self._write, snapshot))

    def _write(self, snapshot) -> None:
        iterations = np.arange(snapshot.history_start,
                               snapshot.history_start + len(snapshot.history_loss))
        for index in range(self.count):
            if len(iterations):
                with open(self.log_path(index), "a") as handle:
                    handle.write(format_log_lines(iterations, snapshot.history_loss[:, index],
                                                  snapshot.history_z[:, index]))
        name = f"{snapshot.iteration:04d}.png"
        generated = snapshot.generated
        utils.save_grid(generated, os.path.join(self.out_dir, "hats_imgs", name), self.shape)
        if self.lowres:
            low = masks.lowres_preview(generated)
            utils.save_grid(low, os.path.join(self.out_dir, "hats_imgs",
                                              f"{snapshot.iteration:04d}.lowres.png"), self.shape)
        completed = outputs.composite(self.masked, generated, self.mask)
        utils.save_grid(completed, os.path.join(self.out_dir, "completed", name), self.shape)

    def close(self) -> None:
        """Wait for every write; re-raise the first failure."""
        try:
            for future in self.pending:
                future.result()
        finally:
            self.pool.shutdown()


def run(args, log=print) -> int:
    """Complete ``args.imgs``, or with no images the demo photo (:mod:`demo`)."""
    import checkpoints  # TensorFlow loads here
    from completion import CompletionConfig, Completer, best_of_restarts

    # The first line and options.json name the precision used, never "auto".
    args.precision, why = precision.choose(args.precision)
    log(f"Precision: {args.precision} ({why})")
    demo_mode = not args.imgs
    if demo_mode:
        demo.configure(args, log=log)
    else:
        args.maskType = args.maskType or MASK_TYPE
        args.fractionMasked = FRACTION_MASKED if args.fractionMasked is None else args.fractionMasked
        args.halfSide = args.halfSide or HALF_SIDE
    args.approach = args.approach or APPROACH
    if args.lr is None:
        args.lr = flags.DEFAULT_LR[args.approach]
    if args.nIter is None:
        args.nIter = demo.N_ITER if demo_mode else N_ITER
    if args.pasteBack and not args.align:
        raise CompletionError("--pasteBack needs --align (it pastes faces back into raw photos)")
    if args.maskFile and args.maskDir:
        raise CompletionError("pass --maskFile or --maskDir, not both")
    if args.weightWindow % 2 == 0:
        raise CompletionError(f"--weightWindow must be odd (a window centred on the pixel), "
                              f"got {args.weightWindow}")
    paths = utils.expand_image_args(args.imgs)
    if not paths and not demo_mode:
        raise CompletionError("no images given: pass image files, globs or a folder, e.g. "
                              "'complete.py data/your-test-data/aligned/*' (or none for the demo)")
    shard_index, shard_count = args.shard or (0, 1)
    if shard_count > 1:
        total = len(paths)
        paths = list(utils.shard_slice(paths, shard_index, shard_count))
        if not paths:
            log(f"Shard {shard_index}/{shard_count} has no images (only {total} given).")
            return 0
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        raise CompletionError("no such file: " + ", ".join(missing))
    problem = utils.ensure_writable_dir(args.outDir)
    if problem:
        raise CompletionError(f"--outDir: {problem}")
    dcgan, prefix = checkpoints.load_for_completion(args.checkpointDir, args.precision, warn=log)
    arch = dcgan.arch
    log(f"Loaded {prefix}: {arch.image_size}x{arch.image_size}, z_dim {arch.z_dim}, "
        f"precision {dcgan.precision}")
    if args.imgSize is not None and args.imgSize != arch.image_size:
        raise CompletionError(
            f"--imgSize {args.imgSize} does not match the checkpoint in '{args.checkpointDir}', "
            f"which was trained at {arch.image_size}x{arch.image_size}: drop --imgSize or pass "
            "another --checkpointDir")
    if demo_mode:
        paths = [demo.write_photo(args.outDir)]
    if args.align:
        faces_rgb, photos, transforms = faces.align_photos(paths, arch.image_size, log=log)
        images = utils.to_model(faces_rgb)
        if arch.c_dim == 1:
            images = images.mean(axis=3, keepdims=True)
    else:
        images = read_images(paths, arch.image_size, arch.c_dim, warn=log)

    rng = np.random.default_rng(args.seed)
    names = outputs.safe_unique_names(paths)
    photo_holes = None                        # per photo with --align: a hole drawn on it, or None
    if demo_mode and demo.uses_mask_set(args):
        labels, mask, lowres_mask = demo.mask_set(args, arch.image_size, rng)
        count = len(labels)
        paths, photos, transforms = paths * count, photos * count, transforms * count
        images = np.repeat(images, count, axis=0)
        names = demo.output_names(names[0], labels)
    else:
        mask, lowres_mask = masks.make_mask(args.maskType, arch.image_size, args.centerScale,
                                            args.fractionMasked, rng, side=args.halfSide,
                                            pattern_fraction=args.patternFraction)
        mask = mask[None]                                            # (1 or N, S, S, 1)
        if args.maskFile and args.align:      # a mask of the photo's size was drawn on the photo
            mask, photo_holes = photo_masks.masks_for_photos(
                [args.maskFile] * len(paths), photos, transforms, arch.image_size)
        elif args.maskFile:
            mask = mask_files.load_mask(args.maskFile, arch.image_size)[None]
        elif args.maskDir:
            mask = mask_files.masks_from_dir(args.maskDir, paths, arch.image_size)
    loss_mask = masks.importance_weights(mask, args.weightWindow) if args.weighted else mask
    config = CompletionConfig(
        approach=args.approach, lr=args.lr, momentum=args.momentum, beta1=args.beta1,
        beta2=args.beta2, eps=args.eps, hmc_beta=args.hmcBeta, hmc_eps=args.hmcEps,
        hmc_L=args.hmcL, hmc_anneal=args.hmcAnneal, lam=args.lam, n_iter=args.nIter,
        out_interval=args.outInterval, normalize=not args.sumLoss)
    completer = Completer(dcgan, config, seed=args.seed)

    out_root = args.outDir
    if shard_count > 1:
        out_root = os.path.join(args.outDir, f"shard_{shard_index}_of_{shard_count}")
    utils.write_json(vars(args) | {"imgs": paths, "checkpoint": prefix},
                     os.path.join(out_root, "options.json"))

    generated = []
    batch_count = int(np.ceil(len(paths) / args.batchSize))
    for batch_index, start in enumerate(range(0, len(paths), args.batchSize)):
        batch = images[start:start + args.batchSize]
        out_dir = (out_root if batch_count == 1
                   else os.path.join(out_root, f"batch_{batch_index:03d}"))
        rows = slice(start, start + args.batchSize)
        batch_mask = mask[rows] if len(mask) > 1 else mask
        batch_loss_mask = loss_mask[rows] if len(loss_mask) > 1 else loss_mask
        writer = OutputWriter(out_dir, batch, batch_mask, lowres_mask, arch.z_dim)
        gif = outputs.GifRecorder(os.path.join(out_dir, "completion.gif"),
                                  writer.shape) if args.gif else None
        if args.nRestarts > 1:
            snapshots = best_of_restarts(completer, batch, batch_loss_mask, lowres_mask[None],
                                         args.nRestarts)
        else:
            snapshots = completer.complete(batch, batch_loss_mask, lowres_mask[None])
        try:
            for snapshot in snapshots:
                writer.submit(snapshot)
                if gif:
                    gif.add(outputs.composite(batch, snapshot.generated, batch_mask))
                log(f"[batch {batch_index + 1}/{batch_count}] iteration "
                    f"{snapshot.iteration}/{config.n_iter} mean loss {snapshot.loss.mean():.4f}")
        finally:
            writer.close()
        if gif:
            gif.save()
        generated.append(snapshot.generated)
        final = outputs.final_completion(batch, snapshot.generated, batch_mask, blend=args.blend)
        outputs.write_per_image(out_root, names[rows], final)
        if args.pasteBack:
            holes = photo_holes[rows] if photo_holes else [None] * len(final)
            pasted = [photo_masks.paste_back(photo, utils.from_model(face), face_mask, transform,
                                             hole)
                      for photo, face, face_mask, transform, hole in
                      zip(photos[rows], final, np.broadcast_to(batch_mask, final.shape[:3] + (1,)),
                          transforms[rows], holes)]
            outputs.write_per_image(out_root, names[rows], pasted, subdir=PASTED_DIR)
    outputs.write_index(out_root, paths, names)
    if args.pasteBack:
        outputs.write_index(out_root, paths, names, subdir=PASTED_DIR)
    if demo_mode:
        demo.write_results(out_root, names, images, mask, np.concatenate(generated), log=log)
    log(f"Wrote completions of {len(paths)} image(s) to {out_root}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    flags.quiet_tensorflow()
    try:
        return run(args, log=lambda line: print(line, flush=True))
    except UserError as error:
        return flags.fail(str(error))
    except OSError as error:
        return flags.fail(f"cannot write outputs to '{args.outDir}': {error}")


if __name__ == "__main__":
    sys.exit(main())
