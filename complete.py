#!/usr/bin/env python3
"""Complete masked faces with a trained DCGAN (Yeh, Chen et al.; Amos 2016).

    ./complete.py ./data/your-test-data/aligned/* --outDir outputImages

For each batch of up to ``--batchSize`` images it writes, as the 2016 code:

    outDir/before.png            the inputs (8 per row)
    outDir/masked.png            the inputs with the missing pixels set to 0 (gray)
    outDir/lowres.png            what a ``lowres`` mask keeps (lowres only)
    outDir/hats_imgs/NNNN.png    G(z) after NNNN iterations (every --outInterval and the last)
    outDir/completed/NNNN.png    known pixels of the input + G(z) in the hole
    outDir/logs/hats_NN.log      per image: "iter loss z0 ... z99", one line per iteration
    outDir/options.json          the resolved options

With more images than one batch, batch k writes the same layout into
``outDir/batch_kkk/``.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys

import numpy as np

import flags
import masks
import utils
from errors import CompletionError, UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Complete the masked part of aligned face images with a trained DCGAN.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--approach", choices=("momentum", "adam", "hmc"), default="momentum",
        help="Search over z: projected gradient descent with momentum (the blog's), Adam, or "
             "Hamiltonian Monte Carlo")
    add("--lr", type=flags.positive_float, default=0.01, help="Step size (momentum and adam)")
    add("--momentum", type=flags.open_unit_interval, default=0.9, help="Momentum (momentum)")
    add("--beta1", type=flags.open_unit_interval, default=0.9, help="Adam beta1")
    add("--beta2", type=flags.open_unit_interval, default=0.999, help="Adam beta2")
    add("--eps", type=flags.positive_float, default=1e-8, help="Adam epsilon")
    add("--hmcBeta", type=flags.positive_float, default=0.2, help="HMC inverse temperature")
    add("--hmcEps", type=flags.positive_float, default=0.001, help="HMC leapfrog step size")
    add("--hmcL", type=flags.positive_int, default=100, help="HMC leapfrog steps per iteration")
    add("--hmcAnneal", type=flags.positive_float, default=1.0,
        help="Multiply hmcBeta by this after every iteration")
    add("--nIter", type=flags.nonnegative_int, default=1000, help="Iterations of the search")
    add("--imgSize", type=flags.image_size, default=None,
        help="Image size; default: the checkpoint's (64 for the original model). Inputs of "
             "another size are centre-cropped and resized, with a warning")
    add("--lam", type=flags.nonnegative_float, default=0.1,
        help="Weight of the perceptual loss -log D(G(z)) against the contextual L1 loss")
    add("--checkpointDir", default="checkpoint", help="Folder of the trained model's checkpoint")
    add("--outDir", default="completions", help="Folder for the outputs")
    add("--outInterval", type=flags.positive_int, default=50,
        help="Write G(z) and the completion every this many iterations")
    add("--maskType", choices=masks.MASK_TYPES, default="center", help="Which pixels are missing")
    add("--centerScale", type=flags.center_scale, default=0.25,
        help="center mask: the hole spans rows/columns imgSize*scale to imgSize*(1-scale)")
    add("--fractionMasked", type=flags.unit_interval, default=0.2,
        help="random mask: probability that a pixel is missing")
    add("--batchSize", type=flags.positive_int, default=64, help="Images completed at once")
    add("--seed", type=flags.seed, default=None, help="Seed for z and random masks (None: a random seed)")
    add("--precision", choices=("float32", "bfloat16", "float16"), default="float32",
        help="Compute precision of G and D (mixed precision keeps z and the loss in float32)")
    add("imgs", nargs="*", metavar="IMG",
        help="Images to complete: files, globs or folders (aligned faces, e.g. from align/)")
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
        completed = self.masked + generated * (1.0 - self.mask)
        utils.save_grid(completed, os.path.join(self.out_dir, "completed", name), self.shape)

    def close(self) -> None:
        """Wait for every write; re-raise the first failure."""
        try:
            for future in self.pending:
                future.result()
        finally:
            self.pool.shutdown()


def run(args, log=print) -> int:
    import checkpoints  # TensorFlow loads here
    from completion import CompletionConfig, Completer

    paths = utils.expand_image_args(args.imgs)
    if not paths:
        raise CompletionError("no images given: pass image files, globs or a folder, e.g. "
                              "'complete.py data/your-test-data/aligned/*'")
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        raise CompletionError("no such file: " + ", ".join(missing))
    problem = utils.ensure_writable_dir(args.outDir)
    if problem:
        raise CompletionError(f"--outDir: {problem}")
    dcgan, prefix = checkpoints.load_for_completion(args.checkpointDir, args.precision, warn=log)
    arch = dcgan.arch
    log(f"Loaded {prefix}: {arch.image_size}x{arch.image_size}, z_dim {arch.z_dim}")
    if args.imgSize is not None and args.imgSize != arch.image_size:
        raise CompletionError(
            f"--imgSize {args.imgSize} does not match the checkpoint in '{args.checkpointDir}', "
            f"which was trained at {arch.image_size}x{arch.image_size}: drop --imgSize or pass "
            "another --checkpointDir")
    images = read_images(paths, arch.image_size, arch.c_dim, warn=log)

    rng = np.random.default_rng(args.seed)
    mask, lowres_mask = masks.make_mask(args.maskType, arch.image_size, args.centerScale,
                                        args.fractionMasked, rng)
    config = CompletionConfig(
        approach=args.approach, lr=args.lr, momentum=args.momentum, beta1=args.beta1,
        beta2=args.beta2, eps=args.eps, hmc_beta=args.hmcBeta, hmc_eps=args.hmcEps,
        hmc_L=args.hmcL, hmc_anneal=args.hmcAnneal, lam=args.lam, n_iter=args.nIter,
        out_interval=args.outInterval)
    completer = Completer(dcgan, config, seed=args.seed)

    utils.write_json(vars(args) | {"imgs": paths, "checkpoint": prefix},
                     os.path.join(args.outDir, "options.json"))

    batch_count = int(np.ceil(len(paths) / args.batchSize))
    for batch_index, start in enumerate(range(0, len(paths), args.batchSize)):
        batch = images[start:start + args.batchSize]
        out_dir = (args.outDir if batch_count == 1
                   else os.path.join(args.outDir, f"batch_{batch_index:03d}"))
        writer = OutputWriter(out_dir, batch, mask, lowres_mask, arch.z_dim)
        try:
            for snapshot in completer.complete(batch, mask[None], lowres_mask[None]):
                writer.submit(snapshot)
                log(f"[batch {batch_index + 1}/{batch_count}] iteration "
                    f"{snapshot.iteration}/{config.n_iter} mean loss {snapshot.loss.mean():.4f}")
        finally:
            writer.close()
    log(f"Wrote completions of {len(paths)} image(s) to {args.outDir}")
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
