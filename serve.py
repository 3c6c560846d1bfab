#!/usr/bin/env python3
"""A local web page for completing your own photo: brush over what is missing, watch the search.

    python serve.py                      # http://127.0.0.1:7860, the shipped model in ./checkpoint
    python serve.py --port 8000 --checkpointDir runs/faces/checkpoint --nIter 300

The page (Gradio, see README.md "A web page") takes a photo (upload, or the demo
photo: scikit-image's ``astronaut()``), finds its faces with :mod:`align`
(the largest is selected), lets the user brush the region to fill on the photo
itself or pick one of :data:`masks.MASK_TYPES` for the aligned face, runs the
search of :mod:`completion.search` showing the completed face every ``outInterval``
iterations, and pastes the completed face back into the photo at full size:

* a brushed mask is in photo coordinates; :mod:`completion.photo_masks` warps it into the
  aligned face by the face's own affine transform and pastes back only on the
  brushed pixels, so every other pixel of the photo keeps its value;
* a large photo (up to utils.MAX_IMAGE_PIXELS, 67 megapixels) is searched for faces
  as complete.py --align searches it (:func:`faces.find_faces`: a copy downscaled to
  :data:`DETECT_SIDE` first, then dlib's pyramid from the level the faces need) and
  downscaled for the editor (:data:`EDIT_SIDE`); the landmarks, the aligned face and
  the pasted photo use the full photo.

Flags: ``--port``, ``--host``, ``--checkpointDir`` and the search and mask
defaults of ``complete.py`` (the same flags, declared by the same code:
:mod:`completion.flags`), which become the page's initial values. Nothing leaves the machine: the page is served
on the loopback address by default, Gradio's analytics are off, there is no share
link and the theme uses the system's fonts (no font CDN).
"""
import argparse
import atexit
import dataclasses
import os
import shutil
import sys
import tempfile
import threading
import time
import types

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")     # before gradio is imported
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

from completion import faces, flags as completion_flags, masks, outputs, photo_masks  # noqa: E402
from completion.config import default_lr  # noqa: E402
from shared import defaults, flags, precision, quiet  # noqa: E402
from shared.errors import UserError  # noqa: E402
import utils  # noqa: E402

DETECT_SIDE = faces.DETECT_SIDE  # dlib's detector sees the photo downscaled to at most this
EDIT_SIDE = 1536        # the editor and the previews show it downscaled to at most this
FACE_TILE = 160         # the faces found, shown this large
ROW_SCALE = 3           # the aligned-face row's tiles, scaled (nearest) this many times
BRUSH = "brush on the photo"
MASK_CHOICES = (BRUSH,) + masks.MASK_TYPES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="A local web page to complete a face in your own photo with a trained DCGAN: "
                    "brush over what is missing, watch the search, download the result.",
        formatter_class=flags.DefaultsHelpFormatter)
    parser.add_argument("--port", type=flags.positive_int, default=7860, help="Port of the page")
    parser.add_argument("--host", default="127.0.0.1",
                        help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0 "
                             "exposes the page to your network)")
    parser.add_argument("--checkpointDir", default=defaults.DEFAULT_CHECKPOINT_DIR,
                        help="Folder of the trained model's checkpoint (the page can change it)")
    search = parser.add_argument_group("search and mask defaults (as complete.py; the page's "
                                       "initial values)")
    completion_flags.add_search_flags(search)         # the very same flags as complete.py's
    completion_flags.add_mask_flags(search)
    completion_flags.add_run_flags(search)
    parser.set_defaults(maskType=BRUSH)      # the page's mask is brushed unless --maskType
    return parser


def resolve_defaults(args) -> argparse.Namespace:
    """complete.py's step size for the approach when ``--lr`` is not given."""
    args.lr = completion_flags.search_config(args).lr
    return args


# ------------------------------------------------------------------- photos and faces
Face = faces.Face                  # a face found in a photo: box, transform, aligned


@dataclasses.dataclass
class Photo:
    """A photo on the page: full size, the editor's copy and the faces in it."""
    name: str
    rgb: np.ndarray                    # uint8 (H, W, 3), as read from the file
    edit: np.ndarray                   # uint8, longer side <= EDIT_SIDE
    faces: list[Face]

    @property
    def edit_scale(self) -> float:     # editor pixels per photo pixel
        return self.edit.shape[1] / self.rgb.shape[1]


# One alignment for the page and complete.py --align: detection on a copy downscaled to
# DETECT_SIDE, landmarks on the full photo (faces.find_faces).
downscale = faces.downscale
aligner = faces.aligner
find_faces = faces.find_faces


def read_photo(path: str, name: str | None = None) -> Photo:
    """Read an uploaded file; a file that is not an image raises UserError."""
    try:
        rgb = utils.load_rgb(path)
    except utils.ImageReadError as error:
        shown = name or os.path.basename(path)
        reason = str(error).split(": ", 1)[-1].replace(path, shown)
        raise UserError(f"{shown} is not an image this page can read: {reason}. "
                        "Upload a photo (PNG or JPEG).") from None
    return Photo(name or os.path.basename(path), rgb, downscale(rgb, EDIT_SIDE), [])


def crop(rgb: np.ndarray, box, side: int = FACE_TILE) -> np.ndarray:
    """A square crop around ``box`` (with a margin), resized to ``side``."""
    x0, y0, x1, y1 = box
    half = int(max(x1 - x0, y1 - y0) * 0.7)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    height, width = rgb.shape[:2]
    region = rgb[max(cy - half, 0):min(cy + half, height), max(cx - half, 0):min(cx + half, width)]
    return cv2.resize(region, (side, side), interpolation=cv2.INTER_AREA)


# ------------------------------------------------------------------------- the model
class Models:
    """The models of the page's searches by checkpoint folder (:class:`completion.job.Searcher`:
    G, D and the start ``--start`` asks for), loaded again when a newer checkpoint or
    encoder appears."""

    def __init__(self, precision_name: str, start: str):
        self.precision = precision.choose(precision_name)[0]
        self.start = start
        self.cache = {}
        self.lock = threading.Lock()

    def get(self, directory: str):
        # TensorFlow loads with the first model (at the page's start): --help answers without it.
        from completion import job as completion_job

        key = os.path.abspath(directory)
        with self.lock:
            version = completion_job.model_version(directory)
            cached = self.cache.get(key)
            if cached is None or cached[0] != version:
                searcher = completion_job.load_model(directory, self.precision,
                                                     log=lambda line: None)
                self.cache[key] = (version, searcher.starting(self.start, log=lambda line: None))
            return self.cache[key][1]

    def image_size(self, directory: str) -> int:
        return self.get(directory).arch.image_size


# ----------------------------------------------------------------------------- masks
def brush_hole(editor_value, shape) -> np.ndarray:
    """(H, W) bool of the pixels brushed in the editor, at the editor's size ``shape``."""
    layers = (editor_value or {}).get("layers") or []
    hole = np.zeros(shape[:2], bool)
    for layer in layers:
        if layer is None:
            continue
        layer = np.asarray(layer)
        alpha = layer[..., 3] if layer.ndim == 3 and layer.shape[2] == 4 else layer.max(axis=-1) \
            if layer.ndim == 3 else layer
        painted = alpha > 0
        if painted.shape != hole.shape:
            painted = cv2.resize(painted.astype(np.uint8), (shape[1], shape[0]),
                                 interpolation=cv2.INTER_NEAREST) > 0
        hole |= painted
    return hole


def upscale_hole(hole: np.ndarray, shape) -> np.ndarray:
    """An editor-sized hole at the photo's size (nearest: each brushed pixel stays brushed)."""
    if hole.shape == tuple(shape[:2]):
        return hole
    return cv2.resize(hole.astype(np.uint8), (shape[1], shape[0]),
                      interpolation=cv2.INTER_NEAREST) > 0


def scaled_transform(transform: np.ndarray, scale: float) -> np.ndarray:
    """The face transform for the photo scaled by ``scale`` (editor coordinates)."""
    result = np.asarray(transform, np.float64).copy()
    result[:, :2] /= scale
    return result


# ------------------------------------------------------------------------------ page
@dataclasses.dataclass
class Run:
    """One completion on the page: what it needs to paste the latest snapshot back."""
    photo: Photo
    face: Face
    images: np.ndarray                 # (1, S, S, C) in [-1, 1]
    mask: np.ndarray                   # (1, S, S, 1)
    hole: np.ndarray | None            # (H, W) bool brushed on the photo, or None (a mask type)
    edit_hole: np.ndarray | None
    blend: bool
    n_iter: int                        # the most iterations the search may run (both phases)
    folder: str
    started: float
    config: object = None              # the search's completion.search.CompletionConfig
    snapshot: object = None
    done: bool = False                 # the search has ended (its last snapshot is in)
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)


class Page:
    """The page's state, shared by all users: the models, each user's run and the folder of
    the files to download (the events are :class:`Handlers`)."""

    def __init__(self, args):
        self.args = resolve_defaults(args)
        self.models = Models(args.precision, args.start)
        self.runs: dict[str, Run] = {}
        self.root = tempfile.mkdtemp(prefix="dcgan-serve-")
        atexit.register(shutil.rmtree, self.root, True)

    # ---- photo
    def load(self, path: str | None, name: str | None, checkpoint_dir: str):
        """(Photo or None, message) for an uploaded file or the demo photo."""
        if path is None:
            photo = Photo("astronaut.png", data.astronaut(), data.astronaut(), [])
        else:
            photo = read_photo(path, name)
        try:
            size = self.models.image_size(checkpoint_dir)
        except UserError:
            size = 64
        photo.faces = find_faces(photo.rgb, size)
        height, width = photo.rgb.shape[:2]
        if not photo.faces:
            return photo, (f"No face found in {photo.name} ({width}x{height}): the model completes "
                           "faces, so it needs a photo with a frontal face (dlib's detector, on the "
                           f"photo downscaled to {DETECT_SIDE} pixels, finds faces of about 40 "
                           "pixels and more). Try another photo.")
        count = len(photo.faces)
        return photo, (f"{photo.name}: {width}x{height}, {count} face{'s' * (count > 1)} found; "
                       "face 1 (the largest) is selected. Brush over what is missing, then "
                       "press Complete.")


# ------------------------------------------- a completion's mask and search settings (no Gradio)
@dataclasses.dataclass
class FaceMask:
    """The mask of the aligned face for a completion, and the brushed pixels it came from."""
    mask: np.ndarray                   # (S, S, 1) float32, 1 = known, 0 = missing
    lowres: np.ndarray | None          # the mask type's low-resolution mask, or None (brushed)
    hole: np.ndarray | None            # (H, W) bool brushed on the photo, or None (a mask type)
    edit_hole: np.ndarray | None       # the same at the editor's size, or None
    outside: float = 0.0               # share of the brushed pixels outside the face's square


def build_mask(photo: Photo, face: Face, size: int, mask_choice: str, editor, center_scale,
               fraction, half_side, pattern_fraction, rng: np.random.Generator) -> FaceMask:
    """The page's mask inputs as the mask of ``face`` aligned at ``size``.

    ``mask_choice`` is :data:`BRUSH` (the pixels brushed in ``editor``, warped into
    the face) or one of :data:`masks.MASK_TYPES` (with the mask options). Raises
    UserError (an empty brush, a brush missing the face or covering too much of it)
    or ValueError (a mask option out of range).
    """
    if mask_choice == BRUSH:
        edit_hole = brush_hole(editor, photo.edit.shape)
        if not edit_hole.any():
            raise UserError("The brush is empty: brush over the part of the face to fill "
                            "(or choose a mask type).")
        hole = upscale_hole(edit_hole, photo.rgb.shape)
        mask = photo_masks.face_mask(hole, face.transform, size)
        outside = photo_masks.brushed_outside_face(hole, face.transform, size)
        return FaceMask(mask, None, hole, edit_hole, outside)
    mask, lowres_mask = masks.make_mask(mask_choice, size, float(center_scale), float(fraction),
                                        rng, side=half_side,
                                        pattern_fraction=float(pattern_fraction))
    return FaceMask(mask, lowres_mask, None, None)


def whole_number(text, what: str) -> int | None:
    """A text field's whole number >= 0, or None if it is empty; ValueError naming ``what``
    otherwise. (gr.Number cannot be empty: it shows and sends 0 for None.)"""
    text = "" if text is None else str(text).strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0 or value != int(value):
        raise ValueError(f"{what} must be a whole number of 0 or more, or empty; got '{text}'")
    return int(value)


def build_config(args, approach, lr, lam, n_iter, out_interval, stop_tol=None,
                 from_encoder=False):
    """The search's :class:`completion.search.CompletionConfig` from the page's search inputs; the
    settings the page does not show come from the command line (``args``). An empty ``lr``
    is the approach's default, an empty ``stop_tol`` the command line's, an empty ``n_iter``
    the start's (from the encoder's z if ``from_encoder``, else from noise:
    :func:`completion.flags.budget`), as is ``--featureIter`` unless given; a value out of
    range raises ValueError."""
    page = {"approach": approach, "lr": float(lr) if lr not in (None, "") else None,
            "lam": float(lam), "nIter": whole_number(n_iter, "Iterations over z"),
            "outInterval": int(out_interval)}
    if stop_tol not in (None, ""):
        page["stopTol"] = float(stop_tol)
    return completion_flags.search_config(args, from_encoder, **page)


# ------------------------------------------------------------- what the events show
gr = None       # the gradio module, once import_gradio() ran (launch: --help stays fast)


def import_gradio():
    """Import gradio as this module's ``gr`` (the handlers' annotations name gr.Request)."""
    global gr
    import gradio
    gr = gradio
    return gradio


def photo_outputs(photo: Photo | None, message: str, warn: bool):
    """The outputs of a photo's upload: photo state, editor, faces, face choice, status."""
    if warn:
        gr.Warning(message)
    if photo is None:
        return None, gr.update(), gr.update(value=[]), gr.update(choices=[], value=None), \
            message
    tiles = [(crop(photo.rgb, face.box), f"{i + 1}" + (" (largest)" if i == 0 else ""))
             for i, face in enumerate(photo.faces)]
    choices = [str(i + 1) for i in range(len(photo.faces))]
    editor = {"background": photo.edit, "layers": [], "composite": None}
    return photo, editor, tiles, gr.update(choices=choices, value=choices[0] if choices
                                           else None), message


def problem(message: str):
    """The outputs of a completion that cannot start: a warning and the status, nothing else."""
    gr.Warning(message)
    return (gr.update(), message, gr.update(), gr.update(), gr.update(), gr.update())


def live_outputs(run: Run, edit_transform: np.ndarray):
    """The outputs while the search runs: the row, the status and the photo at the editor's size."""
    generated = run.snapshot.generated
    completed = outputs.composite(run.images, generated, run.mask)
    row = outputs.figure([run.images * run.mask, generated, completed], scale=ROW_SCALE)
    live_face = utils.from_model(completed[0])
    if live_face.shape[2] == 1:
        live_face = np.repeat(live_face, 3, axis=2)
    live_photo = faces.paste_back(run.photo.edit, live_face, run.mask[0], edit_transform,
                                        run.edit_hole)
    phase = " (feature search)" if run.snapshot.phase == "features" else ""
    return (row, f"Iteration {run.snapshot.iteration} of at most {run.n_iter}{phase}: loss "
                 f"{float(run.snapshot.loss[0]):.4f} "
                 f"({time.perf_counter() - run.started:.1f} s)",
            live_photo, gr.update(), gr.update(), run.started)


def stop_rule(config) -> str:
    """The early-stopping threshold of ``config`` in words (its tolerance is above 0)."""
    return f"less than {config.stop_tol:g} grey levels in {config.stop_window} iterations"


def stopping(config) -> str:
    """How the search will stop early, for the status line when it starts."""
    if config.stop_tol <= 0:
        return "no early stop"
    return f"stopping when the fill changes by {stop_rule(config)}"


def early_reason(run: Run) -> str:
    """Why a finished search ran fewer than ``run.n_iter`` iterations ('' if it did not)."""
    snapshot, config = run.snapshot, run.config
    if config is None or snapshot.iteration >= run.n_iter or config.stop_tol <= 0:
        return ""
    return f" of at most {run.n_iter}, stopped early: the fill changed by {stop_rule(config)}"


def finish(run: Run, stopped: bool):
    """The final outputs from the run's latest snapshot (the files saved for download)."""
    snapshot = run.snapshot
    generated = snapshot.generated[:1]
    completed = outputs.composite(run.images, generated, run.mask)
    blended = outputs.final_completion(run.images, generated, run.mask, blend=True)
    final = blended if run.blend else completed
    face_rgb = utils.from_model(final[0])
    if face_rgb.shape[2] == 1:
        face_rgb = np.repeat(face_rgb, 3, axis=2)
    row = outputs.figure([run.images * run.mask, generated, completed, blended], scale=ROW_SCALE)
    pasted = faces.paste_back(run.photo.rgb, face_rgb, run.mask[0], run.face.transform,
                                    run.hole)
    stem = os.path.splitext(run.photo.name)[0] or "photo"
    stem = utils.unique_output_names([stem])[0]
    pasted_path = os.path.join(run.folder, f"{stem}_pasted.png")
    face_path = os.path.join(run.folder, f"{stem}_completed.png")
    large = pasted.shape[0] * pasted.shape[1] > 8_000_000
    Image.fromarray(pasted).save(pasted_path, compress_level=1 if large else 6)
    Image.fromarray(face_rgb).save(face_path)
    seconds = time.perf_counter() - run.started
    how = (f"Stopped at iteration {snapshot.iteration} of {run.n_iter}" if stopped
           else f"Done: {snapshot.iteration} iterations" + early_reason(run))
    status = (f"{how} in {seconds:.1f} s, loss {float(snapshot.loss[0]):.4f}. "
              f"Pasted {'(blended) ' if run.blend else ''}into {run.photo.name} at "
              f"{pasted.shape[1]}x{pasted.shape[0]}.")
    preview = downscale(pasted, EDIT_SIDE)
    return (row, status, preview, gr.update(value=pasted_path, visible=True),
            gr.update(value=face_path, visible=True), run.started)


def warm_up(page: "Page", checkpoint_dir: str) -> None:
    """Load the model and trace the page's default search at batch 1 (both phases, one
    iteration each), so that the first Complete does not wait seconds for TensorFlow's
    tracing: the compiled search is shared by every later search of the same settings
    (completion.search.compiled_search)."""
    try:
        searcher = page.models.get(checkpoint_dir)
    except UserError:
        return                      # the page says so when the user presses Complete
    args = page.args
    config = build_config(args, args.approach, args.lr, args.lam, 1, args.outInterval,
                          from_encoder=searcher.encoder is not None)
    config = dataclasses.replace(config, feature_iter=min(config.feature_iter, 1))
    size, channels = searcher.arch.image_size, searcher.arch.c_dim
    mask = masks.make_mask("center", size)[0][None]
    images = np.zeros((1, size, size, channels), np.float32)
    loss_mask = masks.importance_weights(mask, args.weightWindow) if args.weighted else mask
    for _ in searcher.stream(images, loss_mask, config, 0, restarts=max(int(args.nRestarts), 1),
                             known=mask):
        pass


# -------------------------------------------------------------------- the events
class Handlers:
    """The page's event handlers (wired in :func:`wire_events`), on the shared :class:`Page`.

    Gradio passes the inputs positionally, a parameter annotated ``gr.Request`` gets
    the user's request (``session_hash`` tells users apart) and a generator's every
    ``yield`` updates the outputs."""

    def __init__(self, page: Page):
        self.page = page
        self.args = page.args

    # ---- photo
    def on_upload(self, path, checkpoint_dir):
        if not path:
            return photo_outputs(None, "No file received.", True)
        name = os.path.basename(path)
        try:
            photo, message = self.page.load(path, name, checkpoint_dir)
        except UserError as error:
            return photo_outputs(None, str(error), True)
        return photo_outputs(photo, message, not photo.faces)

    def on_demo(self, checkpoint_dir):
        photo, message = self.page.load(None, None, checkpoint_dir)
        return photo_outputs(photo, message, not photo.faces)

    def on_gallery_select(self, event: "gr.SelectData"):
        return str(event.index + 1)

    # ---- search options
    def on_approach(self, approach):
        return default_lr(approach)

    # ---- completion
    def on_complete(self, photo, editor, face_choice, mask_choice, center_scale, fraction,
                    half_side, pattern_fraction, approach, n_iter, lr, lam, out_interval,
                    n_restarts, seed, weighted, blend, checkpoint_dir, stop_tol,
                    request: "gr.Request"):
        """Complete: check the inputs, start the search, then show it as it goes."""
        started = time.perf_counter()
        session = request.session_hash
        if photo is None:
            yield problem("Upload a photo or press 'Demo photo' first.")
            return
        if not photo.faces:
            yield problem(f"No face found in {photo.name}: upload a photo with a frontal face.")
            return
        index = int(face_choice) - 1 if face_choice else 0
        face = photo.faces[min(max(index, 0), len(photo.faces) - 1)]
        try:
            searcher = self.page.models.get(checkpoint_dir)
        except UserError as error:
            yield problem(f"Model: {error}")
            return
        size = searcher.arch.image_size
        if face.aligned.shape[0] != size:       # found for another model's size
            refound = find_faces(photo.rgb, size)
            face = refound[min(index, len(refound) - 1)]
        try:
            seed = whole_number(seed, "The seed")
        except ValueError as error:
            yield problem(str(error))
            return
        rng = np.random.default_rng(seed)
        try:
            face_mask = build_mask(photo, face, size, mask_choice, editor, center_scale,
                                   fraction, half_side, pattern_fraction, rng)
            if face_mask.outside > 0.01:
                gr.Warning(f"{100 * face_mask.outside:.0f}% of the brushed pixels are outside "
                           "the aligned face's square: the model does not see them, and they "
                           "stay as they are.")
            config = build_config(self.args, approach, lr, lam, n_iter, out_interval,
                                  stop_tol, from_encoder=searcher.encoder is not None)
        except (UserError, ValueError) as error:
            message = str(error)
            yield problem(message[:1].upper() + message[1:])
            return
        run, snapshots = self.start_run(session, photo, face, face_mask, config, searcher,
                                        weighted, blend, n_restarts, seed, started)
        yield (gr.update(), f"Searching with {searcher.prefix} ({approach}, at most "
                            f"{config.total_iter} iterations, from "
                            f"{'the encoder' if searcher.encoder else 'noise'}, "
                            f"{stopping(config)})...",
               gr.update(), gr.update(visible=False), gr.update(visible=False), started)
        yield from self.follow(run, snapshots, session)

    def start_run(self, session: str, photo: Photo, face: Face, face_mask: FaceMask, config,
                  searcher, weighted, blend, n_restarts, seed, started: float):
        """This user's new :class:`Run` (stopping their previous one) and the search's
        snapshots (a generator: the search starts when it is iterated): with the encoder
        (``searcher.encoder``), the first restart starts from its z, the others from random z."""
        # gray as training reads it
        images = faces.model_images(face.aligned[None], searcher.arch.c_dim)
        mask = face_mask.mask[None]
        loss_mask = masks.importance_weights(mask, self.args.weightWindow) if weighted else mask
        folder = tempfile.mkdtemp(dir=self.page.root)
        run = Run(photo, face, images, mask, face_mask.hole, face_mask.edit_hole, bool(blend),
                  config.total_iter, folder, started, config)
        old = self.page.runs.get(session)
        if old is not None:
            old.stop.set()
            shutil.rmtree(old.folder, ignore_errors=True)
        self.page.runs[session] = run
        snapshots = searcher.stream(images, loss_mask, config, seed,
                                    restarts=max(int(n_restarts or 1), 1), known=mask,
                                    lowres_mask=face_mask.lowres)
        return run, snapshots

    def follow(self, run: Run, snapshots, session: str):
        """Yield the outputs at each snapshot, then the final ones (the result so far on Stop).
        The search may end before ``run.n_iter`` (early stopping), so each snapshot is shown
        once the next one is known to exist."""
        edit_transform = scaled_transform(run.face.transform, run.photo.edit_scale)
        snapshots = iter(snapshots)
        upcoming = next(snapshots, None)
        while upcoming is not None:
            snapshot, upcoming = upcoming, next(snapshots, None)
            best = int(np.argmin(snapshot.loss))            # the best of the restarts so far
            run.snapshot = snapshot.rows(np.array([best]))
            run.done = upcoming is None
            if run.stop.is_set():                           # Stop: the result so far
                if self.page.runs.get(session) is run:
                    yield finish(run, stopped=True)
                return
            if run.done:
                break
            yield live_outputs(run, edit_transform)
        yield finish(run, stopped=False)

    def on_stop(self, request: "gr.Request"):
        """Ask this user's search to stop at its next snapshot (at most outInterval iterations).

        Not Gradio's ``cancels=``: cancelling the running generator left its concurrency slot
        taken in Gradio 6.31 (the next Complete never started), and it would drop the result so
        far, which the search hands back here.

        It answers with a notice, not on the status line: the search's final status
        ("Stopped at iteration ...") can reach the browser before this event's answer, which
        then hid it."""
        run = self.page.runs.get(request.session_hash)
        if run is None or run.stop.is_set() or run.done:
            gr.Info("Nothing to stop.")
            return
        run.stop.set()
        gr.Info("Stopping at the search's next update...")

    def on_unload(self, request: "gr.Request"):
        """The user left: stop their search and delete its files."""
        run = self.page.runs.pop(request.session_hash, None)
        if run is not None:
            run.stop.set()
            shutil.rmtree(run.folder, ignore_errors=True)


# -------------------------------------------------------------------- the layout
def build_page(args) -> types.SimpleNamespace:
    """Declare the page's components (inside a ``gr.Blocks``), initial values from ``args``;
    returns them by name for :func:`wire_events`."""
    ui = types.SimpleNamespace()
    gr.Markdown("## Complete a face in your photo with a DCGAN\n"
                "Upload a photo (or take the demo photo), brush over the part of the face to "
                "fill, and press **Complete**: the search for the generator's `z` is shown "
                "every *output interval* iterations, then the completed face is pasted back "
                "into the photo. Only the brushed pixels change. Everything runs on this "
                "machine.")
    ui.photo_state = gr.State(None)
    ui.started_state = gr.State(0.0)
    with gr.Row():
        # any file: on_upload says what is wrong with it
        ui.upload = gr.UploadButton("Upload a photo", elem_id="upload", variant="primary")
        ui.demo_button = gr.Button("Demo photo (astronaut)", elem_id="demo-photo")
    ui.status = gr.Markdown("No photo yet.", elem_id="status")
    with gr.Row():
        with gr.Column(scale=3):
            ui.editor = gr.ImageEditor(
                label="Photo: brush over what is missing", type="numpy", image_mode="RGBA",
                sources=(), transforms=(), layers=False, format="png", elem_id="editor",
                brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed"), height=640)
        with gr.Column(scale=2):
            # object_fit "contain": the whole square tile, not a wide crop of it (a portrait's
            # tile showed only the forehead and eyes with the gallery's default "cover").
            # fit_columns False: one face is one of 4 columns, not the gallery's whole width
            # (a 460-pixel square tile in a 200-pixel-high gallery showed only its top).
            ui.gallery = gr.Gallery(label="Faces found (click to choose)", columns=4, height=200,
                                    allow_preview=False, object_fit="contain", fit_columns=False,
                                    elem_id="faces")
            ui.face_choice = gr.Radio([], label="Face to complete", elem_id="face-choice")
            ui.mask_choice = gr.Radio(list(MASK_CHOICES), value=args.maskType,
                                      label="Mask (the brush, or a mask of the aligned face)",
                                      elem_id="mask-choice")
            with gr.Accordion("Mask options", open=False):
                ui.center_scale = gr.Slider(0.05, 0.5, value=args.centerScale, step=0.01,
                                            label="center: hole from size*scale to "
                                                  "size*(1-scale)")
                ui.fraction = gr.Slider(0.0, 1.0, value=args.fractionMasked, step=0.05,
                                        label="random: share of missing pixels")
                ui.half_side = gr.Dropdown(list(masks.HALF_SIDES), value=args.halfSide,
                                           label="half: the missing half")
                ui.pattern_fraction = gr.Slider(0.0, 1.0, value=args.patternFraction, step=0.05,
                                                label="pattern: share of missing pixels")
            with gr.Row():
                ui.approach = gr.Dropdown(["momentum", "adam", "hmc"], value=args.approach,
                                          label="Search", elem_id="approach")
                # Text, not gr.Number: a Number cannot be empty (it shows and sends 0).
                ui.n_iter = gr.Textbox("" if args.nIter is None else str(args.nIter),
                                       max_lines=1, placeholder="by the start",
                                       label=f"Iterations over z, at most (empty: "
                                             f"{completion_flags.budget_help('nIter')})",
                                       elem_id="n-iter")
            with gr.Accordion("More search options", open=False):
                ui.lr = gr.Number(args.lr, label="Step size (lr)", minimum=0)
                ui.lam = gr.Number(args.lam, label="lam: weight of the perceptual loss",
                                   minimum=0)
                ui.stop_tol = gr.Number(
                    args.stopTol, minimum=0, elem_id="stop-tol",
                    label=f"Stop when the fill changes by less than this many grey levels in "
                          f"{args.stopWindow} iterations (0: run every iteration)")
                ui.out_interval = gr.Number(args.outInterval, precision=0, minimum=1,
                                            label="Show the search every this many iterations",
                                            elem_id="out-interval")
                ui.n_restarts = gr.Number(args.nRestarts, precision=0, minimum=1,
                                          label="Random starts (the best is kept)")
                ui.seed = gr.Textbox("" if args.seed is None else str(args.seed), max_lines=1,
                                     placeholder="random", label="Seed (empty: random)",
                                     elem_id="seed")
                ui.weighted = gr.Checkbox(args.weighted,
                                          label="Importance-weighted contextual loss")
            ui.blend = gr.Checkbox(args.blend, label="Poisson-blend the completed face "
                                                     "(pasted and downloaded)", elem_id="blend")
            ui.checkpoint_dir = gr.Textbox(args.checkpointDir, label="Model (checkpoint folder)",
                                           elem_id="checkpoint-dir")
            with gr.Row():
                ui.complete_button = gr.Button("Complete", variant="primary",
                                               elem_id="complete")
                ui.stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
    ui.row = gr.Image(label="Aligned face: masked / G(z) / completed / blended", type="numpy",
                      format="png", interactive=False, elem_id="row", buttons=["fullscreen"])
    ui.pasted = gr.Image(label="The photo with the completed face", type="numpy", format="png",
                         interactive=False, elem_id="pasted", buttons=["fullscreen"])
    with gr.Row():
        ui.download_pasted = gr.DownloadButton("Download the photo (full size, PNG)",
                                               visible=False, elem_id="download-pasted")
        ui.download_face = gr.DownloadButton("Download the completed face (PNG)",
                                             visible=False, elem_id="download-face")
    return ui


def wire_events(blocks, ui: types.SimpleNamespace, handlers: Handlers):
    """Connect the components of :func:`build_page` to the handlers (inside ``blocks``)."""
    photo_outs = [ui.photo_state, ui.editor, ui.gallery, ui.face_choice, ui.status]
    ui.upload.upload(handlers.on_upload, [ui.upload, ui.checkpoint_dir], photo_outs,
                     concurrency_limit=2, concurrency_id="photos")
    ui.demo_button.click(handlers.on_demo, [ui.checkpoint_dir], photo_outs, concurrency_limit=2,
                         concurrency_id="photos")
    ui.gallery.select(handlers.on_gallery_select, None, ui.face_choice, queue=False)
    ui.approach.change(handlers.on_approach, ui.approach, ui.lr, queue=False)
    run_outs = [ui.row, ui.status, ui.pasted, ui.download_pasted, ui.download_face,
                ui.started_state]
    ui.complete_button.click(          # the inputs in the order of Handlers.on_complete
        handlers.on_complete,
        [ui.photo_state, ui.editor, ui.face_choice, ui.mask_choice, ui.center_scale, ui.fraction,
         ui.half_side, ui.pattern_fraction, ui.approach, ui.n_iter, ui.lr, ui.lam,
         ui.out_interval, ui.n_restarts, ui.seed, ui.weighted, ui.blend, ui.checkpoint_dir,
         ui.stop_tol],
        run_outs, concurrency_limit=1, concurrency_id="search")
    # queued (a notice needs the queue), never waiting: its own unlimited concurrency group
    ui.stop_button.click(handlers.on_stop, None, None, concurrency_limit=None,
                         concurrency_id="stop")
    blocks.unload(handlers.on_unload)


def launch(args, block: bool = True):
    """Build the page and serve it (``block``: until stopped); returns the gr.Blocks."""
    import_gradio()
    page = Page(args)
    args = page.args
    started = time.perf_counter()
    warm_up(page, args.checkpointDir)
    print(f"Search compiled in {time.perf_counter() - started:.1f} s", flush=True)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])
    with gr.Blocks(title="DCGAN image completion", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as blocks:
        ui = build_page(args)
        wire_events(blocks, ui, Handlers(page))
    blocks.queue(default_concurrency_limit=1)
    blocks.launch(server_name=args.host, server_port=args.port, share=False, inbrowser=False,
                  show_error=True, allowed_paths=[page.root], theme=theme,
                  footer_links=[], prevent_thread_lock=not block, quiet=False)
    return blocks


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    quiet.quiet_tensorflow(args.verbose)
    launch(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
