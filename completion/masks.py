"""Masks for completion: 1 marks a known pixel, 0 a missing one.

The mask types of the 2016 original (``complete.py --maskType``):

  center  a missing square: rows/columns int(S * scale) .. int(S * (1 - scale)) - 1
  random  each pixel missing with probability ``fraction`` (the original: 0.2)
  left    the left half missing (columns 0 .. S/2 - 1)
  full    nothing missing (reconstruct the whole image)
  grid    only every 4th pixel of every 4th row known
  lowres  no pixel known, but the 8x average-pooled image is (``lowres_mask``)

Added here (Yeh, Chen et al., Sec. 4; not in the 2016 code):

  half     one half missing: ``side`` left, right, top or bottom
  pattern  the paper's random pattern: smooth random blobs, ``pattern_fraction``
           (about 25%) of the pixels missing

and :func:`importance_weights`, the paper's weighted contextual loss (Sec. 3.2).
Masks read from files are in :mod:`completion.mask_files`.

A mask is ``float32`` of shape ``(S, S, 1)``; the low-resolution mask is
``(S / 8, S / 8, 1)``. They broadcast over channels.
"""
from __future__ import annotations

import numpy as np
import scipy.ndimage

from shared import defaults
from shared.defaults import LOWRES_FACTOR

MASK_TYPES = ("random", "center", "left", "full", "grid", "lowres", "half", "pattern")
HALF_SIDES = ("left", "right", "top", "bottom")
PATTERN_CELL = 16          # the pattern's noise grid: one node per 16 pixels
GRID_STEP = 4


def make_mask(mask_type: str, image_size: int,
              center_scale: float = defaults.DEFAULT_CENTER_SCALE,
              fraction: float = defaults.DEFAULT_FRACTION_MASKED,
              rng: np.random.Generator | None = None, lowres_factor: int = LOWRES_FACTOR,
              side: str = defaults.DEFAULT_HALF_SIDE,
              pattern_fraction: float = defaults.DEFAULT_PATTERN_FRACTION,
              ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(mask, lowres_mask)`` for one of :data:`MASK_TYPES`."""
    size = image_size
    lowres_mask = no_lowres_mask(size, lowres_factor)
    mask = np.ones((size, size, 1), np.float32)
    if mask_type == "random":
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction of missing pixels must be in [0, 1], got {fraction}")
        rng = rng if rng is not None else np.random.default_rng()
        mask[rng.random((size, size)) < fraction] = 0.0
    elif mask_type == "center":
        if not 0.0 < center_scale <= 0.5:
            raise ValueError(f"centerScale must be in (0, 0.5], got {center_scale}")
        lower, upper = int(size * center_scale), int(size * (1.0 - center_scale))
        mask[lower:upper, lower:upper] = 0.0
    elif mask_type == "left":
        mask[:, :size // 2] = 0.0
    elif mask_type == "full":
        pass
    elif mask_type == "grid":
        mask[:] = 0.0
        mask[::GRID_STEP, ::GRID_STEP] = 1.0
    elif mask_type == "lowres":
        mask[:] = 0.0
        lowres_mask[:] = 1.0
    elif mask_type == "half":
        mask = half_mask(size, side)
    elif mask_type == "pattern":
        mask = pattern_mask(size, pattern_fraction, rng)
    else:
        raise ValueError(f"unknown mask type {mask_type!r}; choose one of {', '.join(MASK_TYPES)}")
    return mask, lowres_mask


def no_lowres_mask(image_size: int, lowres_factor: int = LOWRES_FACTOR) -> np.ndarray:
    """The low-resolution mask of every type but ``lowres``: zeros (S/8, S/8, 1), no
    low-resolution term in the loss."""
    low = max(image_size // lowres_factor, 1)
    return np.zeros((low, low, 1), np.float32)


def lowres_preview(images: np.ndarray, factor: int = LOWRES_FACTOR) -> np.ndarray:
    """What the ``lowres`` mask keeps: ``factor``-pooled images blown up again (nearest)."""
    batch, height, width, channels = images.shape
    pooled = images.reshape(batch, height // factor, factor, width // factor, factor,
                            channels).mean(axis=(2, 4))
    return np.repeat(np.repeat(pooled, factor, axis=1), factor, axis=2)


def half_mask(size: int, side: str = defaults.DEFAULT_HALF_SIDE) -> np.ndarray:
    """``(S, S, 1)`` with the ``side`` half missing (S/2 rows or columns)."""
    if side not in HALF_SIDES:
        raise ValueError(f"half side must be one of {', '.join(HALF_SIDES)}, got {side!r}")
    mask = np.ones((size, size, 1), np.float32)
    half = size // 2
    region = {"left": np.s_[:, :half], "right": np.s_[:, size - half:],
              "top": np.s_[:half, :], "bottom": np.s_[size - half:, :]}[side]
    mask[region] = 0.0
    return mask


def pattern_mask(size: int, fraction: float = defaults.DEFAULT_PATTERN_FRACTION,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """The paper's random pattern mask: smooth blobs covering ``fraction`` of the image.

    Gaussian noise on a coarse (S/16 + 1)^2 grid is upsampled bilinearly to S x S
    (``scipy.ndimage.zoom``, corner nodes on corner pixels) and the ``fraction``
    highest values become the hole, so the missing pixels form a few irregular
    connected regions (as Pathak et al.'s and Yeh et al.'s random-region masks),
    not scattered dots. Exactly round(fraction * S^2)
    pixels are missing (ties broken by position).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"pattern fraction must be in [0, 1], got {fraction}")
    rng = rng if rng is not None else np.random.default_rng()
    cells = max(size // PATTERN_CELL, 1) + 1
    coarse = rng.standard_normal((cells, cells))
    # order 1: bilinear; grid_mode=False: the corner nodes land on the corner pixels
    field = scipy.ndimage.zoom(coarse, size / cells, order=1, mode="nearest", grid_mode=False)
    missing = int(round(fraction * size * size))
    mask = np.ones(size * size, np.float32)
    mask[np.argsort(-field, axis=None, kind="stable")[:missing]] = 0.0
    return mask.reshape(size, size, 1)


def importance_weights(mask: np.ndarray,
                       window: int = defaults.DEFAULT_WEIGHT_WINDOW) -> np.ndarray:
    """The paper's importance weights for the contextual loss (Yeh, Chen et al., Eq. 3).

    ``W_i = (1 / |N(i)|) * sum_{j in N(i)} (1 - M_j)`` for a known pixel i, 0 for a
    missing one, where N(i) is the ``window`` x ``window`` square centred on i:
    known pixels next to the hole count most, known pixels far from it not at
    all. At the image border N(i) holds only the pixels inside the image (so
    |N(i)| is smaller there). ``mask`` is binary ``(..., S, S, 1)`` (1 = known);
    the result has its shape.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"the weight window must be an odd positive size, got {window}")
    mask = np.asarray(mask, np.float32)
    size = [1] * mask.ndim
    size[-3] = size[-2] = window

    def window_sum(values):  # of each pixel's window, on axes -3 and -2; zeros outside
        mean = scipy.ndimage.uniform_filter(values.astype(np.float64), size, mode="constant")
        return np.rint(mean * window * window).astype(np.float32)   # counts: binary values

    return mask * window_sum(1.0 - mask) / window_sum(np.ones_like(mask))
