"""The out-of-the-box demo: ``python complete.py`` with no images.

It completes a real face photo that a dependency ships, so it runs offline:
scikit-image's ``astronaut()`` (Eileen Collins, NASA, public domain). The demo
is a caller of complete.py's driver with its own defaults (:data:`DEFAULTS`):
the photo is written to ``outDir/demo_photo/astronaut.png`` and completed as
``complete.py --align --pasteBack --gif --nIter 300`` would: the face is
aligned with :mod:`align` (the largest face, ``innerEyesAndBottomLip``, the
model's size). Unless ``--maskType``, ``--maskFile`` or ``--maskDir`` is given,
the aligned face is completed under each of :data:`MASK_TYPES` in one batch,
one image per mask, named ``astronaut_<mask>.png``. The search is complete.py's
default (momentum on the loss per known value, lr 1). Every other flag works as
usual. Besides complete.py's outputs it writes:

* ``outDir/blended/<name>``: the Poisson-blended completions (``completed/images/``
  holds them too by default, the plain ones with ``--no-blend``);
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
# complete.py's flags the demo sets otherwise. nIter: the default search has converged by
# then on held-out faces (docs/EXPERIMENTS.md, "Choosing the search"), and the demo stays quick.
# maskType None: every one of MASK_TYPES.
DEFAULTS = {"nIter": 300, "fractionMasked": 0.8, "halfSide": "bottom", "maskType": None,
            "align": True, "pasteBack": True, "gif": True}
PHOTO_PATH = os.path.join("demo_photo", "astronaut.png")
BLENDED_DIR = "blended"
FIGURE = "demo.png"
SCALE = 3                    # nearest-neighbour scale of the figure's tiles
GAP = 6                      # white pixels between tiles


def build_parser():
    """complete.py's parser with the demo's defaults."""
    import complete

    parser = complete.build_parser()
    parser.set_defaults(**DEFAULTS)
    return parser


def main(argv=None) -> int:
    """``complete.py`` without images: the demo photo under the demo's defaults."""
    import complete

    args = build_parser().parse_args(argv)
    return complete.run_command(run, args)


def run(args, log=print) -> int:
    import complete

    if args.shard:
        raise CompletionError("--shard splits a list of images; the demo (no images given) "
                              "completes one photo")
    options = complete.resolve(args, log, images=[os.path.join(args.outDir, PHOTO_PATH)])
    log(f"No images given: completing the demo photo (scikit-image's astronaut(), NASA, public "
        f"domain) into {args.outDir}")
    log(f"The demo's search: the default one with --nIter {options.nIter}")
    return complete.run(options, log, load=load_inputs, extra=write_results)


def write_photo(out_dir: str) -> str:
    """Write the demo photo (uint8 RGB) into ``out_dir``; return its path."""
    from skimage import data

    path = os.path.join(out_dir, PHOTO_PATH)
    utils.save_rgb(data.astronaut(), path)
    return path


def load_inputs(options, arch, log=print):
    """complete.py's inputs for the photo: written, aligned, and under each of
    :data:`MASK_TYPES` unless one mask is chosen."""
    import complete

    with complete.writing(options.out_root):
        write_photo(options.outDir)
    if not uses_mask_set(options):
        return complete.load_inputs(options, arch, log)
    images, photos, transforms = complete.read_or_align(options, arch, log)
    labels, stack, lowres_mask = mask_set(options, arch.image_size,
                                          np.random.default_rng(options.seed))
    count = len(labels)
    names = outputs.safe_unique_names(options.imgs)
    return complete.Inputs(options.imgs * count, tuple(output_names(names[0], labels)),
                           np.repeat(images, count, axis=0), stack, lowres_mask,
                           photos * count, transforms * count)


def uses_mask_set(options) -> bool:
    """True unless the user chose one mask (``--maskType``, ``--maskFile`` or ``--maskDir``)."""
    return options.maskType is None and not options.maskFile and not options.maskDir


def label(mask_type: str, options) -> str:
    """A file-name label for a mask with its parameters: ``half-bottom``, ``random80``."""
    if mask_type == "half":
        return f"half-{options.halfSide}"
    if mask_type == "random":
        return f"random{round(100 * options.fractionMasked)}"
    return mask_type


def mask_set(options, size: int, rng: np.random.Generator):
    """``(labels, masks (K, S, S, 1), lowres_mask)`` for :data:`MASK_TYPES`, drawn in order
    from ``rng``."""
    stack = []
    for mask_type in MASK_TYPES:
        mask, lowres_mask = masks.make_mask(mask_type, size, options.centerScale,
                                            options.fractionMasked, rng, side=options.halfSide,
                                            pattern_fraction=options.patternFraction)
        stack.append(mask)
    return [label(mask_type, options) for mask_type in MASK_TYPES], np.stack(stack), lowres_mask


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


def write_results(options, inputs, generated: np.ndarray, log=print) -> None:
    """The blended completions and the figure, from the inputs, masks and final G(z)."""
    images, out_dir = inputs.images, options.out_root
    mask = np.broadcast_to(inputs.masks, images.shape[:3] + (1,))
    blended = outputs.final_completion(images, generated, mask, blend=True)
    outputs.write_per_image(out_dir, inputs.names, blended, subdir=BLENDED_DIR)
    columns = [images, images * mask, generated, outputs.composite(images, generated, mask),
               blended]
    utils.save_rgb(figure(columns), os.path.join(out_dir, FIGURE))
    log(f"Demo: {os.path.join(out_dir, FIGURE)} (a row per mask: face, masked, G(z), completed, "
        f"blended), completed/images/, {BLENDED_DIR}/, pasted/, completion.gif")
