"""One completion job: the options, then the inputs, then the search, then the outputs.

complete.py runs it on the images it is given, and the demo (:mod:`demo`) on its photo
under its mask set. Each step is one function:

* :func:`resolve` turns complete.py's parsed flags into one frozen :class:`Options`
  (the search's settings: :func:`completion_flags.search_config`);
* :func:`load_inputs` reads the images (or aligns photos, :mod:`faces`) and builds their
  masks (:mod:`masks`, :mod:`mask_files`) into :class:`Inputs`;
* :func:`search` completes them batch by batch (:func:`completion.complete`) and writes
  each batch's grids and logs as the search goes (:class:`BatchWriter`);
* :func:`finish` blends, pastes back and writes the per-image files and their index
  (:mod:`outputs`).

:func:`run` loads the model and runs the steps; a caller changes the inputs (``load``) or
adds outputs (``extra``), as the demo does. complete.py's docstring lists the files.
This module imports TensorFlow (through :mod:`completion` and :mod:`checkpoints`): the
drivers import it once their flags have parsed.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import os

import numpy as np
from tqdm import tqdm

import checkpoints
import completion_flags
import defaults
import encoder as learned
import faces
import mask_files
import masks
import outputs
import photo_masks
import precision
import utils
from completion import CompletionConfig, SearchRandom, best_of_restarts, complete, networks
from errors import CompletionError, IOFailure, writing

PASTED_DIR = "pasted"


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
    featureIter: int | None       # (completion_flags.budget, in run)
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
class Inputs:
    """What a run completes: N images with their masks and output names."""
    paths: tuple[str, ...]        # the inputs, as index.csv lists them
    names: tuple[str, ...]        # their output file names (outputs.safe_unique_names)
    images: np.ndarray            # (N, S, S, C) in [-1, 1]: the aligned faces
    masks: np.ndarray             # (1 or N, S, S, 1): 1 = known
    lowres_mask: np.ndarray       # (S/8, S/8, 1): the lowres mask's known pooled pixels
    photos: tuple = ()            # --align: N photos, uint8 RGB ...
    transforms: tuple = ()        # ... and N 2x3 affine maps from photo to face
    photo_holes: tuple = ()       # --align with masks of the photo's size: N (H, W) bool holes
                                  # (True = missing; None where the mask was a face mask)


def rows_of(per_image: np.ndarray, rows: slice) -> np.ndarray:
    """Masks (1 or N, ...) of the images ``rows``: (1 or B, ...); one mask serves all."""
    return per_image[rows] if len(per_image) > 1 else per_image


def read_or_align(options: Options, arch, log=print):
    """The faces to complete, (N, S, S, C) in [-1, 1], and with ``--align`` their photos
    and transforms (else two empty tuples)."""
    paths = list(options.imgs)
    if not options.align:
        return faces.read_faces(paths, arch.image_size, arch.c_dim, warn=log), (), ()
    rgb, photos, transforms = faces.align_photos(paths, arch.image_size, log=log)
    return faces.model_images(rgb, arch.c_dim), tuple(photos), tuple(transforms)


def build_masks(options: Options, size: int, photos=(), transforms=()):
    """``(masks (1 or N, S, S, 1), lowres_mask (S/8, S/8, 1), photo holes)`` of
    ``--maskFile``, ``--maskDir`` or ``--maskType`` (random ones drawn from ``--seed``).

    With ``--align`` a mask file of a photo's size is drawn on the photo: it is warped
    into the face and its hole, (H, W) bool, is kept so that only its black pixels change
    when the face is pasted back (:mod:`photo_masks`); the holes are () otherwise."""
    if options.maskFile or options.maskDir:
        if options.align:
            paths = ([options.maskFile] * len(options.imgs) if options.maskFile
                     else mask_files.mask_paths(options.maskDir, list(options.imgs)))
            mask, holes = photo_masks.masks_for_photos(paths, photos, transforms, size)
            return mask, masks.no_lowres_mask(size), tuple(holes)
        mask = (mask_files.load_mask(options.maskFile, size)[None] if options.maskFile
                else mask_files.masks_from_dir(options.maskDir, list(options.imgs), size))
        return mask, masks.no_lowres_mask(size), ()
    mask, lowres_mask = masks.make_mask(
        options.maskType, size, options.centerScale, options.fractionMasked,
        np.random.default_rng(options.seed), side=options.halfSide,
        pattern_fraction=options.patternFraction)
    return mask[None], lowres_mask, ()


def load_inputs(options: Options, arch, log=print) -> Inputs:
    """Read (or align) every image and build its mask."""
    images, photos, transforms = read_or_align(options, arch, log)
    mask, lowres_mask, holes = build_masks(options, arch.image_size, photos, transforms)
    return Inputs(options.imgs, tuple(outputs.safe_unique_names(options.imgs)), images, mask,
                  lowres_mask, photos, transforms, holes)


# ------------------------------------------------------------------ the model
@dataclasses.dataclass(frozen=True)
class Searcher:
    """A trained model loaded for completion (:func:`load_model`) and where its searches
    start: random z, or the z of an encoder (:mod:`encoder`, ``--start``). Its
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
        the best of ``restarts`` (:mod:`completion`; the first from ``z``); ``hole`` (1 =
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
        each, all in one batch (restart-major, as :func:`completion.best_of_restarts`), as
        they come, every restart's row kept: the web page shows the best so far. Restart 0
        starts from the encoder's z, the others from random z drawn from ``seed``; ``known``
        (B or 1, S, S, 1; 1 = known): the face mask, whose hole early stopping watches."""
        random = seed if isinstance(seed, SearchRandom) else SearchRandom(seed)
        batch = len(images)

        def tile(array):          # (B or 1, ...) -> (restarts * B, ...), restart-major
            return np.concatenate([np.broadcast_to(array, (batch, *np.shape(array)[1:]))]
                                  * restarts)

        z = random.initial_z(batch * restarts, self.arch.z_dim)
        if self.encoder is not None:
            z[:batch] = learned.start(self.encoder, images, known)
        return complete(*networks(self.model), tile(images), tile(loss_mask),
                        None if lowres_mask is None else lowres_mask[None], config=config,
                        seed=random, z=z, hole=tile(1.0 - known))

    def batches(self, images, face_masks, config: CompletionConfig, seed, *, batch_size: int,
                restarts: int = defaults.DEFAULT_RESTARTS, weighted: bool = True,
                weight_window: int = defaults.DEFAULT_WEIGHT_WINDOW, lowres_mask=None):
        """``(index, rows, snapshots)`` for each batch of ``batch_size`` images in turn, its
        snapshots to be read before the next batch's: ``images`` (N, S, S, C), their
        ``face_masks`` (1 or N, S, S, 1; 1 = known), searched on the importance-weighted
        loss (``weighted``, a ``weight_window`` square) from the encoder's z or from random
        z drawn from ``seed`` (one stream for all batches)."""
        random = seed if isinstance(seed, SearchRandom) else SearchRandom(seed)
        loss_masks = (masks.importance_weights(face_masks, weight_window) if weighted
                      else face_masks)
        for index, start in enumerate(range(0, len(images), batch_size)):
            rows = slice(start, start + batch_size)
            known = rows_of(face_masks, rows)
            z = None if self.encoder is None else learned.start(self.encoder, images[rows], known)
            yield index, rows, self.search(images[rows], rows_of(loss_masks, rows), config,
                                           random, restarts=restarts, hole=1.0 - known, z=z,
                                           lowres_mask=lowres_mask)


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


def search(searcher: Searcher, inputs: Inputs, options: Options, log=print) -> np.ndarray:
    """Complete every batch of ``inputs``, writing its grids, logs and GIF as the search
    goes, with a progress bar over the iterations; return every image's final G(z)
    (N, S, S, C)."""
    config = completion_flags.search_config(options, searcher.encoder is not None)
    count = -(-len(inputs.images) // options.batchSize)
    generated = []
    with tqdm(total=count * config.total_iter, unit="it", desc="Completing",
              disable=None, dynamic_ncols=True) as progress:
        for index, rows, snapshots in searcher.batches(
                inputs.images, inputs.masks, config, options.seed, batch_size=options.batchSize,
                restarts=options.nRestarts, weighted=options.weighted,
                weight_window=options.weightWindow, lowres_mask=inputs.lowres_mask):
            out_dir = (options.out_root if count == 1
                       else os.path.join(options.out_root, f"batch_{index:03d}"))
            with BatchWriter(out_dir, inputs.images[rows], rows_of(inputs.masks, rows),
                             inputs.lowres_mask, searcher.arch.z_dim, options.gif) as writer:
                for snapshot in snapshots:
                    writer.submit(snapshot)
                    progress.update(index * config.total_iter + snapshot.iteration
                                    - progress.n)
                    with tqdm.external_write_mode():
                        log(f"[batch {index + 1}/{count}] " + progress_line(snapshot, config))
                progress.update((index + 1) * config.total_iter - progress.n)
                early = snapshot.steps < config.total_iter
                if early.any():
                    with tqdm.external_write_mode():
                        log(f"[batch {index + 1}/{count}] {int(early.sum())} of "
                            f"{len(early)} images stopped before {config.total_iter} "
                            f"iterations: their fill changed by less than --stopTol "
                            f"{config.stop_tol:g} grey levels in {config.stop_window} "
                            f"iterations (iterations per image: {stats(snapshot.steps)})")
            generated.append(snapshot.generated)
    return np.concatenate(generated)


# ----------------------------------------------------------------- the outputs
def finish(inputs: Inputs, generated: np.ndarray, options: Options) -> None:
    """Paste G(z) into the holes or blend it (``--blend``), paste the faces back into
    their photos (``--pasteBack``), and write every image's file and the index."""
    final = outputs.final_completion(inputs.images, generated, inputs.masks, blend=options.blend)
    outputs.write_per_image(options.out_root, inputs.names, final)
    outputs.write_index(options.out_root, inputs.paths, inputs.names)
    if options.pasteBack:
        face_masks = np.broadcast_to(inputs.masks, final.shape[:3] + (1,))
        holes = inputs.photo_holes or (None,) * len(final)
        pasted = [faces.paste_back(photo, utils.from_model(face), face_mask, transform, hole)
                  for photo, face, face_mask, transform, hole in
                  zip(inputs.photos, final, face_masks, inputs.transforms, holes)]
        outputs.write_per_image(options.out_root, inputs.names, pasted, subdir=PASTED_DIR)
        outputs.write_index(options.out_root, inputs.paths, inputs.names, subdir=PASTED_DIR)


def run(options: Options, log=print, load=load_inputs, extra=None) -> int:
    """Check, load the model, ``load(options, arch, log) -> Inputs``, search, finish, then
    ``extra(options, inputs, generated, log)`` if given (the demo's figure)."""
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
    try:
        inputs = load(options, arch, log)
        with writing(options.out_root):
            utils.write_json(dataclasses.asdict(options) | {"imgs": list(inputs.paths),
                                                            "checkpoint": searcher.prefix},
                             os.path.join(options.out_root, "options.json"))
            generated = search(searcher, inputs, options, log)
            finish(inputs, generated, options)
            if extra:
                extra(options, inputs, generated, log)
    except IOFailure as failure:      # one line naming the folder (a full disk, a permission)
        raise CompletionError(f"cannot write outputs to '{failure.what}': "
                              f"{failure.reason}") from failure.__cause__
    log(f"Wrote completions of {len(inputs.images)} image(s) to {options.out_root}")
    return 0
