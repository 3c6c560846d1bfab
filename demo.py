"""The out-of-the-box demo: ``python complete.py`` with no images.

It completes a real face photo that a dependency ships, so it runs offline:
scikit-image's ``astronaut()`` (Eileen Collins, NASA, public domain). The
photo is written to ``outDir/demo_photo/astronaut.png`` and completed as
``complete.py --align --pasteBack --gif`` would: the face is aligned with
:mod:`align` (the largest face, ``innerEyesAndBottomLip``, the model's size).
Unless ``--maskType``, ``--maskFile`` or ``--maskDir`` is given, the aligned
face is completed under each of :data:`MASK_TYPES` in one batch, one image per
mask, named ``astronaut_<mask>.png``. The search is complete.py's default
(momentum on the loss per known value, lr 1) with :data:`N_ITER` iterations
unless ``--nIter`` is given. Every other flag works as usual. Besides
complete.py's outputs it writes:

* ``outDir/blended/<name>``: the Poisson-blended completions (``completed/images/``
  holds the plain ones, or blended ones too with ``--blend``);
* ``outDir/demo.png``: one row per mask, columns aligned face, masked (the hole
  gray), G(z), completed, blended; every tile scaled :data:`SCALE` times.
"""
from __future__ import annotations

import os

import numpy as np

import masks
import outputs
import utils
from errors import CompletionError

MASK_TYPES = ("center", "left", "half", "random", "grid", "pattern")
FRACTION_MASKED = 0.8        # the demo's defaults of --fractionMasked and --halfSide
HALF_SIDE = "bottom"
# The demo's iterations, unless --nIter says otherwise: the default search has converged by
# then on held-out faces (README, "Choosing the search"), and the demo stays quick.
N_ITER = 300
PHOTO_PATH = os.path.join("demo_photo", "astronaut.png")
BLENDED_DIR = "blended"
FIGURE = "demo.png"
SCALE = 3                    # nearest-neighbour scale of the figure's tiles
GAP = 6                      # white pixels between tiles


def configure(args, log=print) -> None:
    """Turn ``args`` (no images) into the demo's: resolve mask defaults, align, paste back, GIF."""
    if args.shard:
        raise CompletionError("--shard splits a list of images; the demo (no images given) "
                              "completes one photo")
    args.fractionMasked = FRACTION_MASKED if args.fractionMasked is None else args.fractionMasked
    args.halfSide = args.halfSide or HALF_SIDE
    args.align = args.pasteBack = args.gif = True
    log(f"No images given: completing the demo photo (scikit-image's astronaut(), NASA, public "
        f"domain) into {args.outDir}")
    if args.nIter is None:
        log(f"The demo's search: the default one with --nIter {N_ITER} (1000 for images)")


def write_photo(out_dir: str) -> str:
    """Write the demo photo (uint8 RGB) into ``out_dir``; return its path."""
    from skimage import data

    path = os.path.join(out_dir, PHOTO_PATH)
    utils.save_rgb(data.astronaut(), path)
    return path


def uses_mask_set(args) -> bool:
    """True unless the user chose one mask (``--maskType``, ``--maskFile`` or ``--maskDir``)."""
    return args.maskType is None and not args.maskFile and not args.maskDir


def label(mask_type: str, args) -> str:
    """A file-name label for a mask with its parameters: ``half-bottom``, ``random80``."""
    if mask_type == "half":
        return f"half-{args.halfSide}"
    if mask_type == "random":
        return f"random{round(100 * args.fractionMasked)}"
    return mask_type


def mask_set(args, size: int, rng: np.random.Generator):
    """``(labels, masks (K, S, S, 1), lowres_mask)`` for :data:`MASK_TYPES`, drawn in order from ``rng``."""
    stack = []
    for mask_type in MASK_TYPES:
        mask, lowres_mask = masks.make_mask(mask_type, size, args.centerScale, args.fractionMasked,
                                            rng, side=args.halfSide,
                                            pattern_fraction=args.patternFraction)
        stack.append(mask)
    return [label(mask_type, args) for mask_type in MASK_TYPES], np.stack(stack), lowres_mask


def output_names(photo_name: str, labels: list[str]) -> list[str]:
    """Output names ``<photo>_<label>.png``."""
    stem = os.path.splitext(photo_name)[0]
    return [f"{stem}_{text}.png" for text in labels]


def figure(columns: list[np.ndarray], scale: int = SCALE, gap: int = GAP) -> np.ndarray:
    """uint8 RGB: row i, column j shows ``columns[j][i]`` ([-1, 1], (S, S, C)) scaled ``scale``
    times (nearest), ``gap`` white pixels apart."""
    tiles = utils.from_model(np.stack(columns, axis=1))          # (rows, cols, S, S, C)
    if tiles.shape[-1] == 1:
        tiles = np.repeat(tiles, 3, axis=-1)
    tiles = tiles.repeat(scale, axis=2).repeat(scale, axis=3)
    rows, cols, side = tiles.shape[:3]
    step = side + gap
    canvas = np.full((rows * step - gap, cols * step - gap, 3), 255, np.uint8)
    for row in range(rows):
        for col in range(cols):
            canvas[row * step:row * step + side, col * step:col * step + side] = tiles[row, col]
    return canvas


def write_results(out_dir: str, names: list[str], images: np.ndarray, mask: np.ndarray,
                  generated: np.ndarray, log=print) -> None:
    """The blended completions and the figure, from the inputs, masks and final G(z)."""
    mask = np.broadcast_to(mask, images.shape[:3] + (1,))
    blended = outputs.final_completion(images, generated, mask, blend=True)
    outputs.write_per_image(out_dir, names, blended, subdir=BLENDED_DIR)
    columns = [images, images * mask, generated, outputs.composite(images, generated, mask),
               blended]
    utils.save_rgb(figure(columns), os.path.join(out_dir, FIGURE))
    log(f"Demo: {os.path.join(out_dir, FIGURE)} (a row per mask: face, masked, G(z), completed, "
        f"blended), completed/images/, {BLENDED_DIR}/, pasted/, completion.gif")
