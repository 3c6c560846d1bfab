"""Completion outputs beyond the original's grids: per-image files, blending, the GIF.

* ``outDir/completed/images/<name>.png``: every image's final completion, one
  file each (Poisson-blended with ``--blend``). They sit in a subfolder so that
  no input name can collide with the grids ``completed/NNNN.png``. ``<name>`` is
  the input's file name without folders, with separators, control characters
  and ``:*?"<>|`` replaced by ``_`` and leading dots dropped; a name taken
  already (two inputs called ``a.png`` in different folders, or ``A.png`` and
  ``a.png``) gets ``-2``, ``-3``, ... in input order (:func:`utils.unique_output_names`).
  ``completed/images/index.csv`` maps every input path to its file, or says that it was
  skipped and why (:func:`write_index`).
* ``outDir/completion.gif``: the completed grid at every ``--outInterval``.
* :func:`figure`: tiles in rows and columns, scaled up (the demo's ``demo.png``, the web
  page's row of the aligned face).
"""
from __future__ import annotations

import csv
import os

import numpy as np
from PIL import Image

from completion import blending
import utils

PER_IMAGE_DIR = os.path.join("completed", "images")
COMPLETED, SKIPPED = "completed", "skipped"    # an input's status in index.csv
GIF_FRAME_MS = 200
GIF_LAST_FRAME_MS = 1500
SCALE = 3                    # nearest-neighbour scale of a figure's tiles (:func:`figure`)
GAP = 6                      # white pixels between them


def composite(images: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The original's completion: known pixels of the input, G(z) in the hole."""
    return images * mask + generated * (1.0 - mask)


def final_completion(images, generated, mask, blend: bool = False) -> np.ndarray:
    """(B, S, S, C) in [-1, 1]: :func:`composite`, or its Poisson blend (``--blend``)."""
    if blend:
        return np.clip(blending.blend_batch(images, generated, mask), -1.0, 1.0)
    return composite(images, generated, mask)


def safe_unique_names(paths: list[str]) -> list[str]:
    """Output file names (``.png``) for ``paths``: no folders, safe characters, all distinct
    (the stems of :func:`utils.unique_output_names`)."""
    return [stem + ".png" for stem in utils.unique_output_names(paths)]


def write_per_image(out_dir: str, names: list[str], images: np.ndarray,
                    subdir: str = PER_IMAGE_DIR) -> None:
    """Write ``images`` (uint8 or [-1, 1]) as ``out_dir/subdir/<name>``."""
    for name, image in zip(names, images):
        utils.save_rgb(image, os.path.join(out_dir, subdir, name))


def write_index(out_dir: str, rows: list, subdir: str = PER_IMAGE_DIR) -> None:
    """``out_dir/subdir/index.csv``, atomically: a row per input, ``input, output, status,
    reason``; ``rows``: [input path, output name, :data:`COMPLETED` or :data:`SKIPPED`,
    the reason it was skipped or ""]. A skipped input has no output file."""
    def write(temporary: str) -> None:
        with open(temporary, "w", newline="") as handle:
            table = csv.writer(handle)
            table.writerow(["input", "output", "status", "reason"])
            table.writerows([path, os.path.join(subdir, name) if status == COMPLETED else "",
                             status, reason] for path, name, status, reason in rows)

    utils.atomic_write(os.path.join(out_dir, subdir, "index.csv"), write)


class GifRecorder:
    """Collects grid frames and writes an animated GIF (Pillow) at the end."""

    def __init__(self, path: str, shape: tuple[int, int]):
        self.path = path
        self.shape = shape
        self.frames: list[np.ndarray] = []

    def add(self, grid_images: np.ndarray) -> None:
        self.frames.append(utils.make_grid(grid_images, self.shape))

    def save(self) -> None:
        if not self.frames:
            return
        frames = [Image.fromarray(frame) for frame in self.frames]
        durations = [GIF_FRAME_MS] * (len(frames) - 1) + [GIF_LAST_FRAME_MS]
        frames[0].save(self.path, save_all=True, append_images=frames[1:], duration=durations,
                       loop=0, optimize=False)


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
