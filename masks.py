"""Masks for completion: 1 marks a known pixel, 0 a missing one.

The mask types of the 2016 original (``complete.py --maskType``):

  center  a missing square: rows/columns int(S * scale) .. int(S * (1 - scale)) - 1
  random  each pixel missing with probability ``fraction`` (the original: 0.2)
  left    the left half missing (columns 0 .. S/2 - 1)
  full    nothing missing (reconstruct the whole image)
  grid    only every 4th pixel of every 4th row known
  lowres  no pixel known, but the 8x average-pooled image is (``lowres_mask``)

A mask is ``float32`` of shape ``(S, S, 1)``; the low-resolution mask is
``(S / 8, S / 8, 1)``. They broadcast over channels.
"""
from __future__ import annotations

import numpy as np

MASK_TYPES = ("random", "center", "left", "full", "grid", "lowres")
LOWRES_FACTOR = 8
GRID_STEP = 4


def make_mask(mask_type: str, image_size: int, center_scale: float = 0.25,
              fraction: float = 0.2, rng: np.random.Generator | None = None,
              lowres_factor: int = LOWRES_FACTOR) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(mask, lowres_mask)`` for one of :data:`MASK_TYPES`."""
    size = image_size
    low = max(size // lowres_factor, 1)
    lowres_mask = np.zeros((low, low, 1), np.float32)
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
    else:
        raise ValueError(f"unknown mask type {mask_type!r}; choose one of {', '.join(MASK_TYPES)}")
    return mask, lowres_mask


def lowres_preview(images: np.ndarray, factor: int = LOWRES_FACTOR) -> np.ndarray:
    """What the ``lowres`` mask keeps: ``factor``-pooled images blown up again (nearest)."""
    batch, height, width, channels = images.shape
    pooled = images.reshape(batch, height // factor, factor, width // factor, factor,
                            channels).mean(axis=(2, 4))
    return np.repeat(np.repeat(pooled, factor, axis=1), factor, axis=2)
