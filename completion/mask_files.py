"""Masks from image files: one for every image (``--maskFile``) or one per image (``--maskDir``).

Convention: a mask file is any image Pillow reads (PNG recommended), of any
size, **square**; **white keeps, black is missing** -- a pixel whose gray value
(mean of R, G, B) is at least 128 is known (mask 1), darker is missing (mask 0),
the same convention as the masks the toolkit uses internally (1 = known) and as
``masked.png`` shows them (missing = dark). It is resized to the image size with
nearest-neighbour sampling, so a 1024x1024 drawing fits a 64x64 face. The mask
refers to the aligned face the model completes (after ``--align``), not to the
raw photo.

``--maskDir DIR`` matches masks to images by file name: the mask of
``faces/000001.png`` is ``DIR/000001.png`` or, failing that, ``DIR/000001.<ext>``
with any image extension. Images without a mask, unreadable or non-square
masks are refused with a message naming the files.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from shared.errors import CompletionError
import utils

KEEP_THRESHOLD = 128


def load_mask(path: str, size: int) -> np.ndarray:
    """Read a mask file as float32 (size, size, 1), 1 = known (white), 0 = missing (black)."""
    try:
        rgb = utils.load_rgb(path)
    except utils.ImageReadError as error:
        raise CompletionError(f"cannot read mask {error}") from None
    height, width = rgb.shape[:2]
    if height != width:
        raise CompletionError(
            f"mask {path} is {width}x{height}: masks must be square like the {size}x{size} "
            "faces they mask (white = keep, black = missing)")
    gray = rgb.astype(np.float32).mean(axis=2)
    known = (gray >= KEEP_THRESHOLD).astype(np.uint8) * 255
    if height != size:
        known = np.asarray(Image.fromarray(known).resize((size, size), Image.NEAREST))
    return (known > 0).astype(np.float32)[:, :, None]


def find_mask(mask_dir: str, image_path: str) -> str | None:
    """The mask in ``mask_dir`` for ``image_path``: same file name, else same stem, or None."""
    name = os.path.basename(image_path)
    exact = os.path.join(mask_dir, name)
    if os.path.isfile(exact):
        return exact
    stem = os.path.splitext(name)[0]
    for extension in utils.IMAGE_EXTENSIONS + tuple(e.upper() for e in utils.IMAGE_EXTENSIONS):
        candidate = os.path.join(mask_dir, stem + extension)
        if os.path.isfile(candidate):
            return candidate
    return None


def masks_from_dir(mask_dir: str, image_paths: list[str], size: int) -> np.ndarray:
    """One mask per image from ``mask_dir``: (N, size, size, 1)."""
    return np.stack([load_mask(path, size) for path in mask_paths(mask_dir, image_paths)])


def mask_paths(mask_dir: str, image_paths: list[str]) -> list[str]:
    """The mask file of each image in ``mask_dir`` (same name, any image extension)."""
    if not os.path.isdir(mask_dir):
        raise CompletionError(f"--maskDir '{mask_dir}' is not a folder")
    found = [find_mask(mask_dir, path) for path in image_paths]
    without = [path for path, mask in zip(image_paths, found) if mask is None]
    if without:
        raise CompletionError(
            f"no mask in '{mask_dir}' for " + ", ".join(without[:10])
            + (f" and {len(without) - 10} more" if len(without) > 10 else "")
            + ": each image needs a mask file of the same name (white = keep, black = missing)")
    return found
