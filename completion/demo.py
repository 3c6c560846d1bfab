"""The out-of-the-box demo: ``python complete.py`` with no images.

It completes a real face photo that a dependency ships, so it runs offline:
scikit-image's ``astronaut()`` (Eileen Collins, NASA, public domain). The demo
is a caller of :mod:`completion.job` with its own defaults (:data:`DEFAULTS`):
the photo is written to ``outDir/demo_photo/astronaut.png`` and completed as
``complete.py --align --pasteBack --gif`` would: the face is
aligned with :mod:`align` (the largest face, ``innerEyesAndBottomLip``, the
model's size). Unless ``--maskType``, ``--maskFile`` or ``--maskDir`` is given,
the aligned face is completed under each of :data:`MASK_TYPES` in one batch,
one image per mask, named ``astronaut_<mask>.png``. The search is complete.py's
default (from the encoder's z when the model has one, else from noise). Every other flag works as
usual. Besides complete.py's outputs it writes:

* ``outDir/blended/<name>``: the Poisson-blended completions (``completed/images/``
  holds them too by default, the plain ones with ``--no-blend``);
* ``outDir/demo.png``: one row per mask, columns aligned face, masked (the hole
  gray), G(z), completed, blended; every tile scaled :data:`outputs.SCALE` times.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
from skimage import data

from completion import job as completion_job, masks, outputs
from shared import defaults
from shared.errors import CompletionError, writing
import utils

MASK_TYPES = ("center", "left", "half", "random", "grid", "pattern")
DEFAULTS = defaults.DEMO     # complete.py's flags the demo sets otherwise
PHOTO_PATH = os.path.join("demo_photo", "astronaut.png")
BLENDED_DIR = "blended"
FIGURE = "demo.png"


def run(args, log=print) -> int:
    """``complete.py`` without images (``args``: its flags, under :data:`DEFAULTS`): the
    demo photo, completed and drawn."""
    if args.shard:
        raise CompletionError("--shard splits a list of images; the demo (no images given) "
                              "completes one photo")
    options = completion_job.resolve(args, log, images=[os.path.join(args.outDir, PHOTO_PATH)])
    log(f"No images given: completing the demo photo (scikit-image's astronaut(), NASA, public "
        f"domain) into {args.outDir}")
    return completion_job.run(options, log, load=load_inputs, extra=write_results,
                              resumable=False)    # one batch: nothing to resume


def write_photo(out_dir: str) -> str:
    """Write the demo photo (uint8 RGB) into ``out_dir``; return its path."""
    path = os.path.join(out_dir, PHOTO_PATH)
    utils.save_rgb(data.astronaut(), path)
    return path


def load_inputs(options, arch, batch, log=print):
    """complete.py's inputs for the photo (``batch``: the one batch of it): written,
    aligned, and under each of :data:`MASK_TYPES` unless one mask is chosen."""
    with writing(options.out_root):
        write_photo(options.outDir)
    if not uses_mask_set(options):
        return completion_job.load_inputs(options, arch, batch, log)
    inputs = completion_job.read_batch(options, arch, batch, log)
    if not inputs.paths:                      # no face: skipped, with the reason
        return inputs
    labels, stack, lowres_mask = mask_set(options, arch.image_size,
                                          np.random.default_rng(options.seed))
    count = len(labels)
    return dataclasses.replace(
        inputs, paths=inputs.paths * count, names=tuple(output_names(inputs.names[0], labels)),
        images=np.repeat(inputs.images, count, axis=0), masks=stack, lowres_mask=lowres_mask,
        transforms=inputs.transforms * count, shapes=inputs.shapes * count)


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


def write_results(options, inputs, generated: np.ndarray, log=print) -> None:
    """The blended completions and the figure, from the inputs, masks and final G(z)."""
    images, out_dir = inputs.images, options.out_root
    mask = np.broadcast_to(inputs.masks, images.shape[:3] + (1,))
    blended = outputs.final_completion(images, generated, mask, blend=True)
    outputs.write_per_image(out_dir, inputs.names, blended, subdir=BLENDED_DIR)
    columns = [images, images * mask, generated, outputs.composite(images, generated, mask),
               blended]
    utils.save_rgb(outputs.figure(columns), os.path.join(out_dir, FIGURE))
    log(f"Demo: {os.path.join(out_dir, FIGURE)} (a row per mask: face, masked, G(z), completed, "
        f"blended), completed/images/, {BLENDED_DIR}/, pasted/, completion.gif")
