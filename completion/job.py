"""One completion job: the options, then the inputs, the search and the outputs, one
batch at a time.

complete.py runs it on the images it is given, and the demo (:mod:`completion.demo`) on its photo
under its mask set. Each step is one function:

* :func:`resolve` turns complete.py's parsed flags into one frozen :class:`Options`
  (the search's settings: :func:`completion.flags.search_config`);
* :func:`batches_of` cuts the input list into :class:`Batch` es of ``--batchSize``;
* :func:`load_inputs` reads a batch's images (or aligns its photos, :mod:`completion.faces`),
  skipping those that cannot be used, and builds their masks (:mod:`completion.masks`,
  :mod:`completion.mask_files`) into :class:`Inputs`;
* :func:`search` completes the batch (:meth:`Searcher.batch`, :func:`completion.search.complete`)
  and writes its grids and logs as the search goes (:class:`BatchWriter`);
* :func:`finish` blends, pastes back and writes the batch's per-image files; the index
  and the record of finished batches follow (:class:`Journal`).

:func:`run` loads the model and runs the steps for each batch in turn, reading the next
batch while one searches, so memory does not grow with the number of inputs; a rerun
resumes after the last finished batch, SIGINT and SIGTERM stop after the batch in flight
(docs/LARGE_FOLDERS.md). A caller changes the inputs (``load``) or adds outputs
(``extra``), as the demo does. complete.py's docstring lists the files. This module
imports TensorFlow (through :mod:`completion.search` and :mod:`training.checkpoints`): the drivers
import it once their flags have parsed.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import signal
import sys
import time

import numpy as np
from tqdm import tqdm

from completion import (encoder as learned, faces, flags as completion_flags, mask_files, masks,
                        outputs, photo_masks)
from completion.search import (CompletionConfig, SearchRandom, best_of_restarts, complete, networks,
                               restart_snapshots)
from shared import defaults, precision, speed
from shared.errors import CompletionError, CompletionInterrupted, IOFailure, StopSignals, writing
from training import checkpoints
import utils

PASTED_DIR = "pasted"
JOURNAL = "progress.json"      # the finished batches, for resuming (:class:`Journal`)
EXIT_SKIPPED = 3               # the exit status when some inputs were skipped
PROGRESS_SECONDS = 10.0        # a progress line at most this often in a log file
# Options that do not change the results: a rerun may change them and still resume.
FINGERPRINT_IGNORES = ("outDir", "verbose", "imgs", "checkpointDir")


# ---------------------------------------------------------------- the options
@dataclasses.dataclass(frozen=True)
class Options:
    """Every option of a run, resolved once; named as the flags (``options.json`` is
    this object and the checkpoint). ``imgs`` is the image list after expanding folders
    and globs and taking the shard; ``precision`` is the one used, never ``auto``;
    ``lr`` is the approach's default unless given; ``maskType`` None (the demo only)
    means the demo's mask set."""
    approach: str
    lr: float
    momentum: float
    beta1: float
    beta2: float
    eps: float
    hmcBeta: float
    hmcEps: float
    hmcL: int
    hmcAnneal: float
    nIter: int | None             # None until the start is known: then its default
    featureIter: int | None       # (completion.flags.budget, in run)
    featureLr: float
    stopTol: float
    stopWindow: int
    start: str
    imgSize: int | None
    lam: float
    sumLoss: bool
    checkpointDir: str
    outDir: str
    outInterval: int
    maskType: str | None
    centerScale: float
    fractionMasked: float
    halfSide: str
    patternFraction: float
    maskFile: str | None
    maskDir: str | None
    weighted: bool
    weightWindow: int
    blend: bool
    nRestarts: int
    gif: bool
    align: bool
    detectSide: int
    pasteBack: bool
    batchSize: int
    seed: int | None
    shard: tuple[int, int] | None
    precision: str
    verbose: bool
    imgs: tuple[str, ...]

    @property
    def out_root(self) -> str:
        """Where this run writes: ``outDir``, or its shard's folder in it."""
        if self.shard and self.shard[1] > 1:
            return os.path.join(self.outDir, f"shard_{self.shard[0]}_of_{self.shard[1]}")
        return self.outDir


def resolve(args: argparse.Namespace, log=print, images: list[str] | None = None) -> Options:
    """Check the flags together and resolve every option once (see :class:`Options`).

    ``images``: the image paths (default: ``args.imgs`` with folders and globs expanded).
    """
    chosen, why = precision.choose(args.precision)
    log(f"Precision: {chosen} ({why})")          # the first line names the precision used
    if args.pasteBack and not args.align:
        raise CompletionError("--pasteBack needs --align (it pastes faces back into raw photos)")
    if args.maskFile and args.maskDir:
        raise CompletionError("pass --maskFile or --maskDir, not both")
    if args.weightWindow % 2 == 0:
        raise CompletionError(f"--weightWindow must be odd (a window centred on the pixel), "
                              f"got {args.weightWindow}")
    paths = utils.expand_image_args(args.imgs) if images is None else list(images)
    if not paths:
        raise CompletionError("no images given: pass image files, globs or a folder, e.g. "
                              "'complete.py data/your-test-data/aligned/*' (or none for the demo)")
    if args.shard:
        total = len(paths)
        paths = list(utils.shard_slice(paths, *args.shard))
        if not paths:
            log(f"Shard {args.shard[0]}/{args.shard[1]} has no images (only {total} given).")
    missing = [path for path in paths if images is None and not os.path.exists(path)]
    if missing:
        raise CompletionError("no such file: " + ", ".join(missing))
    lr = completion_flags.search_config(args).lr          # the approach's unless given
    return Options(**(vars(args) | {"precision": chosen, "lr": lr, "imgs": tuple(paths)}))


# ----------------------------------------------------------------- the inputs
@dataclasses.dataclass(frozen=True)
class Batch:
    """One batch of the input list: ``--batchSize`` consecutive inputs (fewer in the last),
    completed, written and recorded together (:func:`run`)."""
    index: int                    # from 0
    count: int                    # batches in the whole list
    paths: tuple[str, ...]        # its inputs, usable or not
    names: tuple[str, ...]        # their output file names (unique over the whole list)
    out_dir: str                  # where its grids and logs go: outDir, or outDir/batch_NNN


def batches_of(options: Options) -> list[Batch]:
    """The batches of ``options.imgs``: one in ``out_root``, or ``batch_NNN`` folders."""
    paths = list(options.imgs)
    names = outputs.safe_unique_names(paths)
    size = options.batchSize
    count = -(-len(paths) // size)
    return [Batch(index, count, tuple(paths[start:start + size]),
                  tuple(names[start:start + size]),
                  options.out_root if count == 1
                  else os.path.join(options.out_root, f"batch_{index:03d}"))
            for index, start in enumerate(range(0, len(paths), size))]


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What one batch completes: B usable images with their masks and output names, and
    the batch's inputs that cannot be used (``skipped``: (path, name, reason))."""
    paths: tuple[str, ...]        # the inputs, as index.csv lists them
    names: tuple[str, ...]        # their output file names (outputs.safe_unique_names)
    images: np.ndarray            # (B, S, S, C) in [-1, 1]: the aligned faces
    masks: np.ndarray | None      # (1 or B, S, S, 1): 1 = known
    lowres_mask: np.ndarray | None  # (S/8, S/8, 1): the lowres mask's known pooled pixels
    transforms: tuple = ()        # --align: B 2x3 affine maps from photo to face ...
    shapes: tuple = ()            # ... and the photos' shapes (photos are read again to paste)
    photo_holes: tuple = ()       # --align with masks of the photo's size: B (H, W) bool holes
                                  # (True = missing; None where the mask was a face mask)
    skipped: tuple = ()           # ((path, name, reason), ...): the inputs left out


def rows_of(per_image: np.ndarray, rows: slice) -> np.ndarray:
    """Masks (1 or N, ...) of the images ``rows``: (1 or B, ...); one mask serves all."""
    return per_image[rows] if len(per_image) > 1 else per_image


def read_batch(options: Options, arch, batch: Batch, log=print) -> Inputs:
    """Read (or, with ``--align``, align: :func:`faces.align_photo`) the batch's inputs,
    without masks; an input that cannot be used is skipped with a warning naming it and
    the reason."""
    paths, names, rgb, transforms, shapes, skipped = [], [], [], [], [], []
    for path, name in zip(batch.paths, batch.names):
        if options.align:
            aligned = faces.align_photo(path, arch.image_size, detect_side=options.detectSide)
            reason, face = aligned.skipped, aligned.face
        else:
            try:
                face, reason = faces.read_face(path, arch.image_size, warn=log), None
            except utils.ImageReadError as error:
                face, reason = None, str(error).replace(f"{path}: ", "", 1)
        if reason:
            log(f"warning: skipped {path}: {reason}")
            skipped.append((path, name, reason))
            continue
        paths.append(path)
        names.append(name)
        rgb.append(face)
        if options.align:
            transforms.append(aligned.transform)
            shapes.append(aligned.shape)
    images = (faces.model_images(np.stack(rgb), arch.c_dim) if rgb else
              np.zeros((0, arch.image_size, arch.image_size, arch.c_dim), np.float32))
    return Inputs(tuple(paths), tuple(names), images, None, None, tuple(transforms),
                  tuple(shapes), skipped=tuple(skipped))


def build_masks(options: Options, size: int, paths=(), shapes=(), transforms=()):
    """``(masks (1 or N, S, S, 1), lowres_mask (S/8, S/8, 1), photo holes)`` of
    ``--maskFile``, ``--maskDir`` or ``--maskType`` (random ones drawn from ``--seed``)
    for the images ``paths``.

    With ``--align`` a mask file of a photo's size (``shapes``) is drawn on the photo: it
    is warped into the face and its hole, (H, W) bool, is kept so that only its black
    pixels change when the face is pasted back (:mod:`completion.photo_masks`); the holes are ()
    otherwise."""
    if options.maskFile or options.maskDir:
        if options.align:
            mask_paths = ([options.maskFile] * len(paths) if options.maskFile
                          else mask_files.mask_paths(options.maskDir, list(paths)))
            # masks_for_photos reads only the photos' shapes: zero-copy stand-ins
            photos = [np.broadcast_to(np.uint8(0), shape) for shape in shapes]
            mask, holes = photo_masks.masks_for_photos(mask_paths, photos, transforms, size)
            return mask, masks.no_lowres_mask(size), tuple(holes)
        mask = (mask_files.load_mask(options.maskFile, size)[None] if options.maskFile
                else mask_files.masks_from_dir(options.maskDir, list(paths), size))
        return mask, masks.no_lowres_mask(size), ()
    mask, lowres_mask = masks.make_mask(
        options.maskType, size, options.centerScale, options.fractionMasked,
        np.random.default_rng(options.seed), side=options.halfSide,
        pattern_fraction=options.patternFraction)
    return mask[None], lowres_mask, ()


def load_inputs(options: Options, arch, batch: Batch, log=print) -> Inputs:
    """Read (or align) the batch's images, skipping those that cannot be used, and build
    their masks."""
    inputs = read_batch(options, arch, batch, log)
    if not inputs.paths:
        return inputs
    mask, lowres_mask, holes = build_masks(options, arch.image_size, inputs.paths,
                                           inputs.shapes, inputs.transforms)
    return dataclasses.replace(inputs, masks=mask, lowres_mask=lowres_mask, photo_holes=holes)


# ------------------------------------------------------------------ the model
@dataclasses.dataclass(frozen=True)
class Searcher:
    """A trained model loaded for completion (:func:`load_model`) and where its searches
    start: random z, or the z of an encoder (:mod:`completion.encoder`, ``--start``). Its
    :meth:`batches` is the search of complete.py, the demo and evaluate.py."""
    model: object                  # checkpoints.load_for_completion's DCGAN
    prefix: str                    # the checkpoint it was loaded from
    checkpoint_dir: str
    encoder: object = None         # None: every search starts from random z

    @property
    def arch(self):
        return self.model.arch

    @property
    def step(self) -> int:
        """The training step of the checkpoint."""
        return checkpoints.read_step(self.prefix)

    def starting(self, start: str, log=print) -> Searcher:
        """This model with the start ``--start`` chooses (:func:`encoder.for_search`)."""
        return dataclasses.replace(
            self, encoder=learned.for_search(start, self.checkpoint_dir, self.arch, log,
                                             step=self.step))

    def search(self, images, loss_mask, config: CompletionConfig, random: SearchRandom, *,
               restarts: int = defaults.DEFAULT_RESTARTS, hole=None, z=None, lowres_mask=None):
        """The snapshots of one batch's search: from one z per image (``z``, or random), or
        the best of ``restarts`` (:mod:`completion.search`; the first from ``z``); ``hole`` (1 =
        missing) is where early stopping watches the fill; ``lowres_mask`` (S/8, S/8, 1)."""
        batch = (*networks(self.model), images, loss_mask,
                 None if lowres_mask is None else lowres_mask[None])
        if restarts > 1:
            return best_of_restarts(*batch, config=config, seed=random, restarts=restarts,
                                    hole=hole, z=z)
        return complete(*batch, config=config, seed=random, hole=hole, z=z)

    def stream(self, images, loss_mask, config: CompletionConfig, seed, *,
               restarts: int = defaults.DEFAULT_RESTARTS, known=None, lowres_mask=None):
        """The snapshots of a search of ``images`` (B, S, S, C) with ``restarts`` starts
        each, all in one batch (:func:`completion.search.restart_snapshots`, as
        :func:`completion.search.best_of_restarts`), as they come, every restart's row kept:
        the web page shows the best so far. Restart 0 starts from the encoder's z, the
        others from random z drawn from ``seed``; ``known`` (B or 1, S, S, 1; 1 = known):
        the face mask, whose hole early stopping watches."""
        random = seed if isinstance(seed, SearchRandom) else SearchRandom(seed)
        z = None if self.encoder is None else learned.start(self.encoder, images, known)
        return restart_snapshots(*networks(self.model), images, loss_mask,
                                 None if lowres_mask is None else lowres_mask[None],
                                 config=config, seed=random, restarts=restarts,
                                 hole=None if known is None else 1.0 - known, z=z)

    def batches(self, images, face_masks, config: CompletionConfig, seed, *, batch_size: int,
                restarts: int = defaults.DEFAULT_RESTARTS, weighted: bool = True,
                weight_window: int = defaults.DEFAULT_WEIGHT_WINDOW, lowres_mask=None):
        """``(index, rows, snapshots)`` for each batch of ``batch_size`` images in turn, its
        snapshots to be read before the next batch's: ``images`` (N, S, S, C), their
        ``face_masks`` (1 or N, S, S, 1; 1 = known), searched on the importance-weighted
        loss (``weighted``, a ``weight_window`` square) from the encoder's z or from random
        z drawn from ``seed`` (one stream for all batches)."""
        random = seed if isinstance(seed, SearchRandom) else SearchRandom(seed)
        for index, start in enumerate(range(0, len(images), batch_size)):
            rows = slice(start, start + batch_size)
            yield index, rows, self.batch(images[rows], rows_of(face_masks, rows), config,
                                          random, restarts=restarts, weighted=weighted,
                                          weight_window=weight_window, lowres_mask=lowres_mask)

    def batch(self, images, face_masks, config: CompletionConfig, random: SearchRandom, *,
              restarts: int = defaults.DEFAULT_RESTARTS, weighted: bool = True,
              weight_window: int = defaults.DEFAULT_WEIGHT_WINDOW, lowres_mask=None):
        """The snapshots of one batch's search (see :meth:`batches`): ``images`` (B, S, S,
        C), ``face_masks`` (1 or B, S, S, 1), z from the encoder or from ``random``."""
        loss_masks = (masks.importance_weights(face_masks, weight_window) if weighted
                      else face_masks)
        z = None if self.encoder is None else learned.start(self.encoder, images, face_masks)
        return self.search(images, loss_masks, config, random, restarts=restarts,
                           hole=1.0 - face_masks, z=z, lowres_mask=lowres_mask)


def model_version(checkpoint_dir: str) -> tuple:
    """What the model in ``checkpoint_dir`` is now: its newest checkpoint and its encoder's
    (the web page loads the model again when either changes)."""
    return checkpoints.latest(checkpoint_dir), learned.find(checkpoint_dir)


def load_model(checkpoint_dir: str, precision: str, log=print) -> Searcher:
    """The newest checkpoint in ``checkpoint_dir``, loaded in ``precision``; its searches
    start from random z until :meth:`Searcher.starting` says otherwise."""
    model, prefix = checkpoints.load_for_completion(checkpoint_dir, precision, warn=log)
    return Searcher(model, prefix, checkpoint_dir)


# ----------------------------------------------------------------- the search
def format_log_lines(iterations: np.ndarray, losses: np.ndarray, zs: np.ndarray) -> str:
    """Lines "iter loss z0 ... zN" for one image."""
    table = np.column_stack([losses, zs])
    return "".join(f"{i} " + " ".join(f"{value:.7g}" for value in row) + "\n"
                   for i, row in zip(iterations, table))


class BatchWriter:
    """Writes one batch's grids, logs and GIF as its snapshots come, in a background
    thread, so the search never waits on disk. A context manager: leaving it waits for
    every write and re-raises the first failure; the GIF is written if the search ended."""

    def __init__(self, out_dir: str, images: np.ndarray, mask: np.ndarray,
                 lowres_mask: np.ndarray, z_dim: int, gif: bool = False):
        self.out_dir = out_dir
        self.images = images
        self.count = len(images)
        self.mask = mask
        self.lowres = bool(lowres_mask.any())
        self.masked = images * mask
        self.gif = (outputs.GifRecorder(os.path.join(out_dir, "completion.gif"),
                                        utils.grid_shape(self.count)) if gif else None)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self.pending = []
        for name in ("hats_imgs", "completed", "logs"):
            os.makedirs(os.path.join(out_dir, name), exist_ok=True)
        utils.save_grid(images, os.path.join(out_dir, "before.png"))
        utils.save_grid(self.masked, os.path.join(out_dir, "masked.png"))
        if self.lowres:
            preview = masks.lowres_preview(images) * np.repeat(
                np.repeat(lowres_mask, masks.LOWRES_FACTOR, 0), masks.LOWRES_FACTOR, 1)
            utils.save_grid(preview, os.path.join(out_dir, "lowres.png"))
        header = "iter loss " + " ".join(f"z{i}" for i in range(z_dim)) + "\n"
        for index in range(self.count):
            with open(self.log_path(index), "w") as handle:
                handle.write(header)

    def log_path(self, index: int) -> str:
        return os.path.join(self.out_dir, "logs", f"hats_{index:02d}.log")

    def submit(self, snapshot) -> None:
        self.pending.append(self.pool.submit(self._write, snapshot))

    def _write(self, snapshot) -> None:
        # Each image's log has one line per update it made, numbered by its own count, so
        # an image that stopped early (--stopTol) ends at its own last iteration.
        for index in range(self.count):
            made = snapshot.history_active[:, index]
            if made.any():
                first = int(snapshot.steps[index]) - int(made.sum())
                with open(self.log_path(index), "a") as handle:
                    handle.write(format_log_lines(np.arange(first, first + int(made.sum())),
                                                  snapshot.history_loss[made, index],
                                                  snapshot.history_z[made, index]))
        name = f"{snapshot.iteration:04d}.png"
        generated = snapshot.generated
        utils.save_grid(generated, os.path.join(self.out_dir, "hats_imgs", name))
        if self.lowres:
            low = masks.lowres_preview(generated)
            utils.save_grid(low, os.path.join(self.out_dir, "hats_imgs",
                                              f"{snapshot.iteration:04d}.lowres.png"))
        completed = outputs.composite(self.masked, generated, self.mask)
        utils.save_grid(completed, os.path.join(self.out_dir, "completed", name))
        if self.gif:
            self.gif.add(outputs.composite(self.images, generated, self.mask))

    def __enter__(self) -> "BatchWriter":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            for future in self.pending:
                future.result()
            if kind is None and self.gif:
                self.gif.save()
        finally:
            self.pool.shutdown()


def stats(values) -> str:
    """'min-max, median m' of integers, for the log."""
    values = np.asarray(values)
    return f"{values.min()}-{values.max()}, median {np.median(values):g}"


def progress_line(snapshot, config) -> str:
    """One log line per snapshot: the iteration, the loss, and how many images still search."""
    line = (f"iteration {snapshot.iteration}/{config.total_iter}"
            f"{' (feature search)' if snapshot.phase == 'features' else ''} "
            f"mean loss {snapshot.loss.mean():.4f}")
    if config.stop_tol > 0 and snapshot.iteration > 0:
        line += f", {int(snapshot.active.sum())} of {len(snapshot.active)} images searching"
    return line


def search(searcher: Searcher, inputs: Inputs, options: Options, batch: Batch,
           random: SearchRandom, progress: Progress, log=print) -> np.ndarray:
    """Complete one batch's ``inputs``, writing its grids, logs and GIF into
    ``batch.out_dir`` as the search goes; return their final G(z) (B, S, S, C). ``random``
    carries the z stream from batch to batch."""
    config = completion_flags.search_config(options, searcher.encoder is not None)
    label = f"[batch {batch.index + 1}/{batch.count}] "
    count = len(inputs.images)
    with BatchWriter(batch.out_dir, inputs.images, inputs.masks, inputs.lowres_mask,
                     searcher.arch.z_dim, options.gif) as writer:
        for snapshot in searcher.batch(inputs.images, inputs.masks, config, random,
                                       restarts=options.nRestarts, weighted=options.weighted,
                                       weight_window=options.weightWindow,
                                       lowres_mask=inputs.lowres_mask):
            writer.submit(snapshot)
            progress.within_batch(count * snapshot.iteration / max(config.total_iter, 1))
            progress.write(label + progress_line(snapshot, config))
        early = snapshot.steps < config.total_iter
        if early.any():
            progress.write(f"{label}{int(early.sum())} of {len(early)} images stopped before "
                           f"{config.total_iter} iterations: their fill changed by less than "
                           f"--stopTol {config.stop_tol:g} grey levels in {config.stop_window} "
                           f"iterations (iterations per image: {stats(snapshot.steps)})")
    return snapshot.generated


class Progress:
    """How many of the run's images are done, their rate and the time left: a bar on a
    terminal; in a log file (``nohup``) a line at most every :data:`PROGRESS_SECONDS`, as
    training prints. Images done before a resume count as done, not in the rate."""

    def __init__(self, total: int, done: int, log=print, clock=time.monotonic):
        self.total, self.done, self.started_with, self.log = total, done, done, log
        self.partial = 0.0
        self.clock = clock
        self.start = self.last = clock()
        self.bar = tqdm(total=total, initial=done, unit="img", desc="Completing", disable=None,
                        dynamic_ncols=True, file=sys.stderr,
                        bar_format="{l_bar}{bar}| {n:.1f}/{total} [{elapsed}<{remaining}, "
                                   "{rate_fmt}]")

    def within_batch(self, images: float) -> None:
        """The batch in flight has done the work of ``images`` images."""
        self.partial = images
        self._update()

    def batch_done(self, images: int) -> None:
        """A batch of ``images`` inputs (completed or skipped) is written."""
        self.done += images
        self.partial = 0.0
        self._update(force=True)

    def _update(self, force: bool = False) -> None:
        self.bar.update(self.done + self.partial - self.bar.n)
        now = self.clock()
        if self.bar.disable and (now - self.last >= PROGRESS_SECONDS
                                 or (force and self.done >= self.total)):
            self.last = now
            self.log(self.line(now))

    def line(self, now: float) -> str:
        """'Progress: 128/6400 images (2.0%), 3.1 images/s, 33:43 left'."""
        finished = self.done + self.partial
        rate = (finished - self.started_with) / max(now - self.start, 1e-9)
        left = ((self.total - finished) / rate) if rate > 0 else None
        return (f"Progress: {int(finished)}/{self.total} images "
                f"({100 * finished / max(self.total, 1):.1f}%), {rate:.3g} images/s, "
                + (f"{tqdm.format_interval(left)} left" if left is not None
                   else "time left unknown")
                + f" ({tqdm.format_interval(now - self.start)} so far)")

    def write(self, line: str) -> None:
        """``log`` with the bar cleared for the line."""
        with tqdm.external_write_mode():
            self.log(line)

    def close(self) -> None:
        self.bar.close()


# ----------------------------------------------------------------- the outputs
def finish(inputs: Inputs, generated: np.ndarray, options: Options) -> None:
    """Paste G(z) into the holes or blend it (``--blend``), paste the faces back into
    their photos (``--pasteBack``: each photo read again, one at a time), and write the
    batch's per-image files."""
    final = outputs.final_completion(inputs.images, generated, inputs.masks, blend=options.blend)
    outputs.write_per_image(options.out_root, inputs.names, final)
    if options.pasteBack:
        face_masks = np.broadcast_to(inputs.masks, final.shape[:3] + (1,))
        holes = inputs.photo_holes or (None,) * len(final)
        for path, name, face, face_mask, transform, hole in zip(
                inputs.paths, inputs.names, final, face_masks, inputs.transforms, holes):
            try:
                photo = utils.load_rgb(path)
            except utils.ImageReadError as error:
                raise CompletionError(f"cannot paste back into {error} (it changed during "
                                      "the run?)") from None
            pasted = faces.paste_back(photo, utils.from_model(face), face_mask, transform, hole)
            utils.save_rgb(pasted, os.path.join(options.out_root, PASTED_DIR, name))


def index_rows(inputs: Inputs, batch: Batch) -> list[list[str]]:
    """The batch's rows of index.csv, in input order: [input, name, status, reason]."""
    rows = [[path, name, outputs.COMPLETED, ""] for path, name in zip(inputs.paths, inputs.names)]
    rows += [[path, name, outputs.SKIPPED, reason] for path, name, reason in inputs.skipped]
    if inputs.skipped:
        order = {name: place for place, name in enumerate(batch.names)}
        rows.sort(key=lambda row: order.get(row[1], -1))
    return rows


# ------------------------------------------------------------ resuming a run
def random_state(random: SearchRandom) -> dict:
    """The z stream's position (NumPy's and TensorFlow's generators), as JSON."""
    return {"numpy": random.numpy.bit_generator.state,
            "tensorflow": random.tensorflow.state.numpy().tolist()}


def restore_random(random: SearchRandom, state: dict) -> None:
    """Put the z stream where :func:`random_state` found it."""
    random.numpy.bit_generator.state = state["numpy"]
    random.tensorflow.reset(np.asarray(state["tensorflow"], np.int64))


def file_stamp(path: str) -> list:
    """[path, size, modification time in ns] of a file, or [path, None, None]."""
    try:
        status = os.stat(path)
    except OSError:
        return [path, None, None]
    return [path, status.st_size, status.st_mtime_ns]


def checkpoint_stamp(prefix: str | None) -> list | None:
    """A checkpoint's name and the size and SHA-1 of its index file (which names every
    variable's shard and offset: another training writes another one)."""
    if prefix is None:
        return None
    try:
        with open(prefix + ".index", "rb") as handle:
            digest = hashlib.sha1(handle.read()).hexdigest()
    except OSError:
        digest = None
    return [os.path.basename(prefix), digest]


def fingerprint(options: Options, searcher: Searcher) -> dict:
    """What a run's results depend on: its options (but where it writes and how much it
    prints), its inputs (path, size, modification time) and its checkpoint (and encoder)."""
    settings = {name: value for name, value in dataclasses.asdict(options).items()
                if name not in FINGERPRINT_IGNORES}
    return {"options": json.loads(json.dumps(settings, default=str)),
            "inputs": [file_stamp(path) for path in options.imgs],
            "checkpoint": [checkpoint_stamp(searcher.prefix),
                           checkpoint_stamp(learned.find(searcher.checkpoint_dir)
                                            if searcher.encoder is not None else None)]}


def what_changed(before: dict, now: dict) -> str:
    """One sentence naming what differs between two :func:`fingerprint` s."""
    changes = []
    flags_changed = [f"--{name} {before['options'].get(name)} (now {value})"
                     for name, value in now["options"].items()
                     if before["options"].get(name) != value]
    if flags_changed:
        changes.append("the options: " + ", ".join(flags_changed))
    if before["inputs"] != now["inputs"]:
        old = {tuple(stamp[:1]): stamp for stamp in before["inputs"]}
        new = {tuple(stamp[:1]): stamp for stamp in now["inputs"]}
        added = [key[0] for key in new if key not in old]
        removed = [key[0] for key in old if key not in new]
        modified = [key[0] for key in new if key in old and old[key] != new[key]]
        parts = [f"{label} {', '.join(paths[:3])}{' ...' if len(paths) > 3 else ''}"
                 for label, paths in (("added", added), ("removed", removed),
                                      ("modified", modified)) if paths]
        changes.append("the inputs: " + ("; ".join(parts) or "their order"))
    if before["checkpoint"] != now["checkpoint"]:
        changes.append(f"the checkpoint: {before['checkpoint'][0]} (now {now['checkpoint'][0]})")
    return "; ".join(changes)


class Journal:
    """``out_root/progress.json``: the run's :func:`fingerprint`, every finished batch's
    rows of index.csv, and the z stream's position after the last one. Written atomically
    after each batch's files, so a kill loses at most the batch in flight; a rerun of the
    same command continues after the last finished batch, and one whose options, inputs
    or checkpoint differ is refused, naming the difference."""

    def __init__(self, path: str, stamp: dict, batches: list, random: dict | None,
                 keep: bool = True):
        self.path, self.stamp, self.batches, self.random, self.keep = (path, stamp, batches,
                                                                        random, keep)

    @classmethod
    def open(cls, out_root: str, stamp: dict, keep: bool = True) -> Journal:
        """The journal of the run in ``out_root``, or a new one; ``keep`` False: never
        read or written (the demo)."""
        path = os.path.join(out_root, JOURNAL)
        if not keep or not os.path.exists(path):
            return cls(path, stamp, [], None, keep)
        start_over = (f"To start over, delete {path} (its finished batches are done again) or "
                      "pass another --outDir.")
        try:
            with open(path) as handle:
                saved = json.load(handle)
            batches, random, before = saved["batches"], saved["random"], saved["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CompletionError(f"cannot resume from {path}: it is damaged ({error}). "
                                  + start_over) from None
        if before != stamp:
            raise CompletionError(
                f"{out_root} holds a run of other settings, {len(batches)} batch(es) done; "
                f"changed: {what_changed(before, stamp)}. Rerun the same command to resume "
                "it. " + start_over)
        return cls(path, stamp, batches, random, keep)

    def record(self, rows: list, random: SearchRandom) -> None:
        """A batch is finished: its rows and the z stream's position after it."""
        self.batches.append(rows)
        self.random = random_state(random)
        if self.keep:         # compact: a 6,400-input journal is rewritten 100 times
            text = json.dumps({"version": 1, "fingerprint": self.stamp, "random": self.random,
                               "batches": self.batches}, separators=(",", ":"))
            utils.atomic_write(self.path, lambda temporary: write_text(temporary, text))

    def rows(self) -> list:
        return [row for rows in self.batches for row in rows]


def write_text(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def write_indexes(options: Options, rows: list) -> None:
    """index.csv of the per-image files (and of the pasted photos) for ``rows``."""
    outputs.write_index(options.out_root, rows)
    if options.pasteBack:
        outputs.write_index(options.out_root, rows, subdir=PASTED_DIR)


# ------------------------------------------------------------------- the run
def run(options: Options, log=print, load=load_inputs, extra=None, command: str | None = None,
        resumable: bool = True) -> int:
    """Check, load the model, then for each batch in turn: ``load(options, arch, batch,
    log) -> Inputs`` (the next batch's read while this one searches), search, finish, write
    the index and record the batch (:class:`Journal`), then ``extra(options, inputs,
    generated, log)`` if given (the demo's figure). A rerun continues after the last
    recorded batch (``resumable``); SIGINT or SIGTERM stops after the batch in flight,
    naming ``command`` to resume. Returns 0, or :data:`EXIT_SKIPPED` if an input was
    skipped; no usable input at all is a :class:`CompletionError`."""
    if not options.imgs:
        return 0                                  # an empty shard (resolve said so)
    problem = utils.ensure_writable_dir(options.outDir)
    if problem:
        raise CompletionError(f"--outDir: {problem}")
    searcher = load_model(options.checkpointDir, options.precision, log)
    arch = searcher.arch
    log(f"Loaded {searcher.prefix}: {arch.image_size}x{arch.image_size}, z_dim {arch.z_dim}, "
        f"precision {searcher.model.precision}")
    if options.imgSize is not None and options.imgSize != arch.image_size:
        raise CompletionError(
            f"--imgSize {options.imgSize} does not match the checkpoint in "
            f"'{options.checkpointDir}', which was trained at {arch.image_size}x"
            f"{arch.image_size}: drop --imgSize or pass another --checkpointDir")
    searcher = searcher.starting(options.start, log)
    options = dataclasses.replace(options, **completion_flags.budget(
        options, from_encoder=searcher.encoder is not None))
    log(f"At most {options.nIter} iterations over z, then {options.featureIter} of the "
        f"feature search (--nIter, --featureIter)")
    batches = batches_of(options)
    random = SearchRandom(options.seed)
    try:
        with writing(options.out_root):
            journal = Journal.open(options.out_root, fingerprint(options, searcher),
                                   keep=resumable)
            utils.write_json(dataclasses.asdict(options) | {"imgs": list(options.imgs),
                                                            "checkpoint": searcher.prefix,
                                                            "cpu_kernels": speed.report()},
                             os.path.join(options.out_root, "options.json"))
            if journal.batches:
                restore_random(random, journal.random)
                write_indexes(options, journal.rows())
                log(f"Resuming: {len(journal.batches)} of {len(batches)} batch(es) were "
                    f"finished already ({journal.path})")
            todo = batches[len(journal.batches):]
            done = sum(len(batch.paths) for batch in batches[:len(journal.batches)])
            progress = Progress(len(options.imgs), done, log)

            def read(batch: Batch) -> Inputs:     # a failed read is not a failed write
                try:
                    return load(options, arch, batch, log)
                except OSError as error:
                    raise CompletionError(f"cannot read {error.filename or 'an input'}: "
                                          f"{error.strerror or error}") from None

            with StopSignals() as stop, \
                    concurrent.futures.ThreadPoolExecutor(max_workers=1) as reader:
                # the next batch is read (or aligned) while this one searches
                pending = reader.submit(read, todo[0]) if todo else None
                for place, batch in enumerate(todo):
                    inputs = pending.result()
                    pending = (reader.submit(read, todo[place + 1])
                               if place + 1 < len(todo) and stop.signal is None else None)
                    generated = None
                    if len(inputs.images):
                        generated = search(searcher, inputs, options, batch, random, progress,
                                           log)
                        if pending is not None:
                            # the read-ahead overlaps the search only: a photo being aligned
                            # and one being pasted back would add their peaks
                            concurrent.futures.wait([pending])
                        finish(inputs, generated, options)
                    journal.record(index_rows(inputs, batch), random)
                    write_indexes(options, journal.rows())
                    progress.batch_done(len(batch.paths))
                    if extra and generated is not None:
                        extra(options, inputs, generated, log)
                    if stop.signal is not None:
                        break
                if pending is not None:
                    pending.cancel()
            progress.close()
    except IOFailure as failure:      # one line naming the folder (a full disk, a permission)
        raise CompletionError(f"cannot write outputs to '{failure.what}': "
                              f"{failure.reason}") from failure.__cause__
    rows = journal.rows()
    skipped = [row for row in rows if row[2] == outputs.SKIPPED]
    completed = len(rows) - len(skipped)
    if stop.signal is not None and len(journal.batches) < len(batches):
        raise CompletionInterrupted(
            f"Stopped by {signal.Signals(stop.signal).name} after batch {len(journal.batches)} "
            f"of {len(batches)}: {completed} image(s) completed, {len(skipped)} skipped, in "
            f"{options.out_root}. Resume with the same command"
            + (f": {command}" if command else "."), stop.signal)
    if not completed:
        reasons = "; ".join(f"{path}: {reason}" for path, _, _, reason in skipped[:3])
        index = os.path.join(options.out_root, outputs.PER_IMAGE_DIR, "index.csv")
        raise CompletionError(f"none of the {len(rows)} input(s) can be used ({reasons}"
                              f"{' ...' if len(skipped) > 3 else ''}); see {index}")
    log(f"Wrote completions of {completed} image(s) to {options.out_root}"
        + (f"; skipped {len(skipped)} that cannot be used (listed with the reasons in "
           f"{os.path.join(outputs.PER_IMAGE_DIR, 'index.csv')}; exit status {EXIT_SKIPPED})"
           if skipped else ""))
    return EXIT_SKIPPED if skipped else 0
