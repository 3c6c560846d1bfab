#!/usr/bin/env python3
"""Measure completion quality on ground-truth faces, beside OpenCV's classical inpainting.

    ./evaluate.py faces/*.png --maskType center --nIter 300 --outDir evaluation

Masks each face (the same ``--maskType`` choices as complete.py; ``random`` and
``pattern`` masks are drawn independently per image from ``--seed``), fills the
hole with every method of ``--methods``, and compares the result with the
original face (definitions in :mod:`evaluation.metrics` and docs/RESULTS.md):

  ours                 the DCGAN completion, known pixels + G(z) in the hole
  ours_blend           the same search, Poisson-blended (:mod:`completion.blending`)
  ours_weighted        a second search with the importance-weighted contextual loss
  ours_weighted_blend  ... Poisson-blended
  telea, ns            ``cv2.inpaint`` with Telea's fast marching method and the
                       Navier-Stokes method (radius ``--inpaintRadius``)
  fsr, fsr_fast        OpenCV-contrib's frequency-selective reconstruction
                       (``cv2.xphoto.inpaint``, Seiler et al. 2015, Genser et al. 2018):
                       the hole as a sparse sum of Fourier basis functions fitted to the
                       known pixels around it, block by block; ``fsr`` is its best
                       quality (about 3 s a 64x64 face), ``fsr_fast`` its fast setting.
                       Not in the default ``--methods``: name them
  harmonic             the smoothest fill: Poisson blending of a flat image, i.e. the
                       hole solves Laplace's equation with the known pixels as its
                       boundary (what ``ours_blend`` gives when G(z) has no detail)
  mean                 every missing pixel set to the mean colour of the known pixels

Beside PSNR and SSIM, every method gets the identity distance (:mod:`evaluation.identity`):
dlib's face-recognition distance between the result and the true face (below
0.6: the same person), and so does the masked input with its hole left black
(``masked_identity`` in the summary; ``--noIdentity`` skips the measure).

``--faceFid N`` also measures the checkpoint's face FID (:mod:`evaluation.face_fid`): the
Fréchet distance between dlib descriptors of N faces G(z), z ~ U(-1, 1) from ``--seed``,
and of the given real faces (``face_fid`` in the summary; the real faces' descriptors are
cached in ``outDir``). bench/face_fid.py measures several checkpoints at once.

Writes ``outDir/per_image.csv`` (one row per image and method), ``outDir/summary.json``
(means per method, the options and the checkpoint) and ``outDir/examples.png``
(rows: truth, masked input, then one row per method, for the first 8 faces).
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time

import cv2
import numpy as np

from completion import blending, faces, flags as completion_flags, masks, outputs
from evaluation import face_fid, identity, metrics
from shared import defaults, flags, quiet
from shared.errors import CompletionError, UserError
import utils

OURS = ("ours", "ours_blend", "ours_weighted", "ours_weighted_blend")
BASELINES = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
FSR = {"fsr": "INPAINT_FSR_BEST", "fsr_fast": "INPAINT_FSR_FAST"}   # cv2.xphoto's (contrib)
SIMPLE = ("harmonic", "mean")
METHODS = OURS + tuple(BASELINES) + tuple(FSR) + SIMPLE
DEFAULT_METHODS = OURS + tuple(BASELINES) + SIMPLE   # fsr is slow: named when wanted
FIGURES = ("psnr_whole", "psnr_hole", "ssim_whole", "ssim_hole", "identity")
MASKED = "masked"   # the input with its hole black: identity reference only
EXAMPLES = 8


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Complete masked ground-truth faces and report PSNR/SSIM (whole image and "
                    "hole) of the DCGAN completion and of OpenCV's Telea and Navier-Stokes "
                    "inpainting.", formatter_class=flags.DefaultsHelpFormatter)
    add = parser.add_argument
    add("faces", nargs="+", metavar="FACE", help="Aligned ground-truth faces: files, globs, folders")
    add("--limit", type=flags.positive_int, default=None, help="Use the first N faces only")
    add("--methods", default=",".join(DEFAULT_METHODS),
        help=f"Comma-separated methods out of {', '.join(METHODS)}")
    add("--checkpointDir", default=defaults.DEFAULT_CHECKPOINT_DIR,
        help="The trained model (only needed for the ours* methods)")
    add("--outDir", default="evaluation", help="Where the CSV, JSON and example grid go")
    completion_flags.add_mask_flags(
        parser, mask_types=[m for m in masks.MASK_TYPES if m not in ("lowres", "full")])
    completion_flags.add_search_flags(parser)
    add("--weightWindow", type=flags.positive_int, default=defaults.DEFAULT_WEIGHT_WINDOW,
        help="Window of the importance weights (ours_weighted)")
    add("--batchSize", type=flags.positive_int, default=defaults.DEFAULT_COMPLETION_BATCH,
        help="Faces completed at once")
    add("--inpaintRadius", type=flags.positive_float, default=3.0,
        help="cv2.inpaint neighbourhood radius")
    add("--seed", type=int, default=0,
        help="Seed of the masks and of z (fixed, so that runs compare; complete.py's is random)")
    add("--precision", choices=("float32", "bfloat16", "float16"), default="float32",
        help="Compute precision of G and D (float32, so that machines compare; complete.py's "
             "default is auto)")
    add("--faceFid", type=flags.nonnegative_int, default=0, metavar="N",
        help="Also measure the checkpoint's face FID: N generated faces against the given "
             "real faces (a few hundred of each or more; 0: not measured)")
    add("--noIdentity", action="store_true",
        help="Skip the identity distance (dlib's face-recognition network)")
    add("--examples", type=flags.nonnegative_int, default=EXAMPLES,
        help="Faces shown in examples.png (one column each; rows: truth, masked, each method)")
    add("--verbose", action="store_true", help=flags.VERBOSE_HELP)
    return parser


def make_masks(args, count: int, size: int) -> np.ndarray:
    """(N, S, S, 1) masks: one per face, drawn independently for random/pattern."""
    rng = np.random.default_rng(args.seed)
    return np.stack([masks.make_mask(args.maskType, size, args.centerScale, args.fractionMasked,
                                     rng, side=args.halfSide,
                                     pattern_fraction=args.patternFraction)[0]
                     for _ in range(count)])


def inpaint_baseline(truth: np.ndarray, mask: np.ndarray, flag: int, radius: float) -> np.ndarray:
    """OpenCV inpainting of uint8 ``truth`` (S, S, 3 or 1) where ``mask`` (S, S, 1) is 0."""
    hole = (mask[..., 0] < 0.5).astype(np.uint8) * 255
    masked = truth * (hole == 0)[..., None].astype(np.uint8)      # the hole's values are not seen
    return cv2.inpaint(np.ascontiguousarray(masked), hole, radius, flag).reshape(truth.shape)


def inpaint_fsr(truth: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
    """OpenCV-contrib's frequency-selective reconstruction (``cv2.xphoto.inpaint``) of uint8
    ``truth`` (S, S, 3 or 1) where ``mask`` (S, S, 1) is 0. xphoto's mask is the reverse of
    cv2.inpaint's (non-zero: the known pixels) and its colour image BGR; it rounds the known
    pixels through its colour space by up to 1, so they are pasted back unchanged."""
    known = (mask[..., 0] >= 0.5)
    masked = truth * known[..., None].astype(np.uint8)            # the hole's values are not seen
    colour = truth.ndim == 3 and truth.shape[-1] == 3
    source = cv2.cvtColor(masked, cv2.COLOR_RGB2BGR) if colour else masked.reshape(known.shape)
    filled = np.zeros_like(source)
    cv2.xphoto.inpaint(np.ascontiguousarray(source), known.astype(np.uint8) * 255, filled,
                       getattr(cv2.xphoto, FSR[method]))
    filled = (cv2.cvtColor(filled, cv2.COLOR_BGR2RGB) if colour else filled).reshape(truth.shape)
    return np.where(known.reshape(*known.shape, *[1] * (truth.ndim - 2)), truth, filled)


def check_fsr_available(methods) -> None:
    """FSR is in OpenCV's contrib modules (opencv-contrib-python-headless), not in the main build."""
    wanted = [m for m in methods if m in FSR]
    if wanted and not hasattr(getattr(cv2, "xphoto", None), "inpaint"):
        raise CompletionError(
            f"--methods {','.join(wanted)} needs OpenCV's contrib modules (cv2.xphoto), which this "
            f"OpenCV {cv2.__version__} lacks: pip uninstall -y opencv-python-headless "
            "opencv-contrib-python-headless && pip install -r requirements.txt")


def simple_fill(truth: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
    """The model-free fills of uint8 RGB ``truth`` (S, S, 3) where ``mask`` (S, S, 1) is 0."""
    known = mask[..., 0] >= 0.5
    if method == "mean":
        result = truth.copy()
        result[~known] = np.round(truth[known].mean(axis=0)).astype(np.uint8)
        return result
    flat = np.zeros(truth.shape, np.float64)
    return np.clip(np.round(blending.poisson_blend(truth, flat, mask)), 0, 255).astype(np.uint8)


def complete_faces(searcher, images, face_masks, args, weighted: bool, log=print):
    """The search's final G(z) (or G of its feature map, after ``--featureIter``
    iterations of the feature search) for every face: (N, S, S, C) in [-1, 1], each
    face's iterations (N,) and the search's wall time in seconds (the encoder's pass
    included). ``searcher``: the model and where its searches start
    (:class:`completion.job.Searcher`)."""
    config = completion_flags.search_config(args, outInterval=complete_chunk(args))
    generated, iterations = [], []
    started = time.perf_counter()
    for _, rows, snapshots in searcher.batches(images, face_masks, config, args.seed,
                                               batch_size=args.batchSize,
                                               restarts=args.nRestarts, weighted=weighted,
                                               weight_window=args.weightWindow):
        *_, last = snapshots
        generated.append(last.generated)
        iterations.append(last.steps)
        log(f"{'weighted' if weighted else 'plain'} completion: {rows.start + len(last.generated)}"
            f"/{len(images)} faces, mean final loss {last.loss.mean():.2f}, iterations per "
            f"face {np.median(last.steps):g} (median), {time.perf_counter() - started:.1f} s")
    return np.concatenate(generated), np.concatenate(iterations), time.perf_counter() - started


def complete_chunk(args) -> int:
    """Iterations per compiled call: the whole search when every iteration runs; with early
    stopping, 50, so that faces that have stopped leave the batch (completion.search.complete)."""
    total = max(args.nIter + args.featureIter, 1)
    return total if args.stopTol == 0 else min(total, 50)


def evaluate(args, log=print) -> dict:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise CompletionError(f"--methods: unknown {', '.join(unknown) or '(none given)'}; "
                              f"choose from {', '.join(METHODS)}")
    if args.weightWindow % 2 == 0:
        raise CompletionError(f"--weightWindow must be odd, got {args.weightWindow}")
    check_fsr_available(methods)
    if args.faceFid == 1:
        raise CompletionError("--faceFid 1: a covariance needs at least 2 generated faces; give "
                              "a few hundred or more (0: no face FID)")
    paths = utils.expand_image_args(args.faces)[:args.limit]
    missing = [path for path in paths if not os.path.exists(path)]
    if missing or not paths:
        raise CompletionError("no such face: " + ", ".join(missing) if missing else "no faces given")

    searcher = prefix = step = None
    size, channels = None, 3
    if set(methods) & set(OURS):
        # TensorFlow loads here, only for our methods: --help and the baselines run without it.
        from completion import job as completion_job

        searcher = completion_job.load_model(args.checkpointDir, args.precision, log)
        prefix, step = searcher.prefix, searcher.step
        size, channels = searcher.arch.image_size, searcher.arch.c_dim
        log(f"Loaded {prefix} (step {step})")
        searcher = searcher.starting(args.start, log)
        # The unset budget flags take the start's defaults (--nIter, --featureIter).
        vars(args).update(completion_flags.budget(args, searcher.encoder is not None))
    else:
        size = utils.load_rgb(paths[0]).shape[0]
    images = faces.read_faces(paths, size, channels, warn=log)          # (N, S, S, C) [-1, 1]
    truths = utils.from_model(images)                                    # uint8 ground truth
    face_masks = make_masks(args, len(paths), size)
    holes = face_masks[..., 0] < 0.5

    results, searches = fill_holes(methods, searcher, images, face_masks, args, log)
    identities = {} if args.noIdentity else identity_distances(images, face_masks, results, log)
    rows = []
    for method in methods:
        for index, (path, result, truth, hole) in enumerate(zip(paths, results[method], truths,
                                                                holes)):
            distance = float(identities[method][index]) if identities else math.nan
            search = searches.get("weighted" in method) if method in OURS else None
            rows.append({"image": path, "method": method, **metrics.quality(result, truth, hole),
                         "identity": distance,
                         "iterations": int(search["iterations"][index]) if search else ""})
    means = {method: {figure: float(np.mean([r[figure] for r in rows if r["method"] == method]))
                      for figure in FIGURES} for method in methods}
    summary = {"images": len(paths), "missing_fraction": float(holes.mean()),
               "checkpoint": prefix, "step": step, "means": means,
               "options": vars(args),
               "search_seconds": {("weighted" if weighted else "plain"): search["seconds"]
                                  for weighted, search in searches.items()}}
    if identities:
        summary["identity_threshold"] = 0.6
        summary["masked_identity"] = float(np.mean(identities[MASKED]))
    if args.faceFid:
        summary.update(measure_face_fid(args, paths, searcher, log))
    write_outputs(args.outDir, rows, summary, images, face_masks, results, args.examples)
    log(format_table(summary))
    return summary


def fill_holes(methods, searcher, images, face_masks, args, log=print) -> dict:
    """{method: its results (N, S, S, C) uint8} for every method of ``methods``; ``searcher``:
    the model of our methods (:func:`complete_faces`), None without them."""
    truths = utils.from_model(images)
    results = {}
    searches = {}
    for weighted in (False, True):
        wanted = [m for m in methods if m in OURS and ("weighted" in m) == weighted]
        if not wanted:
            continue
        generated, iterations, seconds = complete_faces(searcher, images, face_masks, args,
                                                        weighted, log)
        searches[weighted] = {"iterations": iterations, "seconds": seconds}
        for method in wanted:
            final = outputs.final_completion(images, generated, face_masks,
                                             blend=method.endswith("blend"))
            results[method] = utils.from_model(final)
    for method in methods:
        if method in BASELINES:
            results[method] = np.stack([inpaint_baseline(truth, mask, BASELINES[method],
                                                         args.inpaintRadius)
                                        for truth, mask in zip(truths, face_masks)])
        elif method in FSR:
            results[method] = np.stack([inpaint_fsr(truth, mask, method)
                                        for truth, mask in zip(truths, face_masks)])
        elif method in SIMPLE:
            results[method] = np.stack([simple_fill(truth, mask, method)
                                        for truth, mask in zip(truths, face_masks)])
    return {method: results[method] for method in methods}, searches


def measure_face_fid(args, paths: list[str], searcher=None, log=print) -> dict:
    """The face FID of ``--checkpointDir`` (``searcher``'s model if loaded): ``--faceFid``
    faces G(z) from ``--seed`` against the faces of ``paths``, whose descriptors are cached
    in ``--outDir``; the summary's entries."""
    if searcher is None:
        from training import checkpoints      # TensorFlow loads here

        model, prefix = checkpoints.load_for_completion(args.checkpointDir, args.precision,
                                                        warn=log)
    else:
        model, prefix = searcher.model, searcher.prefix
    arch = model.arch
    network = identity.IdentityModel()
    reference = face_fid.reference_descriptors(paths, arch.image_size, arch.c_dim, network,
                                               cache_dir=args.outDir, log=log)
    started = time.perf_counter()
    value = face_fid.face_fid(lambda z: model.generator(z, training=False), reference,
                              args.faceFid, arch.z_dim, args.seed, network)
    seconds = time.perf_counter() - started
    log(f"Face FID of {prefix}: {value:.4f} ({args.faceFid} generated faces against "
        f"{len(reference)} real, {seconds:.1f} s)")
    return {"face_fid": value, "face_fid_generated": args.faceFid,
            "face_fid_real": len(reference), "face_fid_checkpoint": prefix,
            "face_fid_seconds": seconds}


def face_descriptors(network, faces_: np.ndarray) -> np.ndarray:
    """dlib descriptors (N, 128) of uint8 faces (N, S, S, C) with ``network`` (an
    ``identity.IdentityModel``); dlib's network takes RGB, so a gray face counts as three channels."""
    return network.descriptors(np.repeat(faces_, 3 // faces_.shape[-1], axis=-1))


def identity_distances(images, face_masks, results: dict, log=print) -> dict:
    """{method: (N,) identity distances to the true faces} for the results and for the
    masked input with its hole black (:data:`MASKED`)."""
    network = identity.IdentityModel()
    truth_descriptors = face_descriptors(network, utils.from_model(images))
    masked = utils.from_model(images * face_masks + (face_masks - 1.0))   # hole black
    identities = {method: identity.distances(face_descriptors(network, result),
                                             truth_descriptors)
                  for method, result in [(MASKED, masked), *results.items()]}
    log(f"Identity distances of {len(identities)} methods computed")
    return identities


def write_outputs(out_dir: str, rows: list[dict], summary: dict, images, face_masks,
                  results: dict, examples: int = EXAMPLES) -> None:
    """per_image.csv, summary.json and examples.png (truth, masked, each method) of the
    first ``examples`` faces (none: no examples.png)."""
    utils.atomic_write(os.path.join(out_dir, "per_image.csv"),
                       lambda path: write_table(path, rows))
    utils.write_json(summary, os.path.join(out_dir, "summary.json"))
    if examples == 0:
        return
    count = min(examples, len(images))
    columns = min(count, EXAMPLES)
    grid_rows = []                                  # one array of `columns` tiles per grid row
    for start in range(0, count, columns):          # blocks of up to 8 faces, one above the other
        shown = slice(start, min(start + columns, count))
        block = [utils.from_model(images[shown]),
                 utils.from_model(images[shown] * face_masks[shown])]
        block += [results[method][shown] for method in results]
        pad = np.full((columns - len(block[0]), *block[0].shape[1:]), 255, np.uint8)
        grid_rows += [np.concatenate([row, pad]) for row in block]   # a short last block: white
    utils.save_grid(np.concatenate(grid_rows), os.path.join(out_dir, "examples.png"),
                    (len(grid_rows), columns))


def write_table(path: str, rows: list[dict]) -> None:
    """``per_image.csv``: one row per image and method."""
    with open(path, "w", newline="") as handle:
        table = csv.DictWriter(handle, ["image", "method", *FIGURES, "iterations"])
        table.writeheader()
        table.writerows(rows)


def format_table(summary: dict) -> str:
    lines = [f"{summary['images']} faces, {100 * summary['missing_fraction']:.1f}% missing",
             f"{'method':<20} {'PSNR whole':>10} {'PSNR hole':>10} {'SSIM whole':>10} "
             f"{'SSIM hole':>10} {'identity':>9}"]
    widths = {"psnr_whole": (10, 2), "psnr_hole": (10, 2), "ssim_whole": (10, 4),
              "ssim_hole": (10, 4), "identity": (9, 3)}
    for method, means in summary["means"].items():
        cells = [f"{means[key]:>{width}.{digits}f}" if key in means else " " * width
                 for key, (width, digits) in widths.items()]
        lines.append(f"{method:<20} " + " ".join(cells))
    if "masked_identity" in summary:
        lines.append(f"{'(hole left black)':<20} {' ' * 43} {summary['masked_identity']:>9.3f}")
    if "face_fid" in summary:
        lines.append(f"face FID {summary['face_fid']:.4f} ({summary['face_fid_generated']} "
                     f"generated faces against {summary['face_fid_real']} real)")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    quiet.quiet_tensorflow(args.verbose)
    try:
        evaluate(args, log=lambda line: print(line, flush=True))
        return 0
    except UserError as error:
        return flags.fail(str(error))
    except OSError as error:
        return flags.fail(f"cannot write to '{args.outDir}': {error}")


if __name__ == "__main__":
    sys.exit(main())
