"""Completion quality: PSNR and SSIM over the whole image and over the hole only.

Definitions (images as uint8 RGB, i.e. data range 255; ``x`` the completion,
``y`` the ground truth, ``H`` the set of missing (hole) pixels, ``C`` channels):

* PSNR = 10 log10(255^2 / MSE), MSE = mean over pixels and channels of
  (x - y)^2. ``psnr_whole`` averages over all S x S x C values, ``psnr_hole``
  over the |H| x C values in the hole only. Identical images give +inf.
* SSIM: scikit-image's ``structural_similarity`` (Wang et al. 2004) with its
  defaults -- a 7x7 uniform window, K1 = 0.01, K2 = 0.03, ``data_range`` 255,
  computed per channel -- which gives a per-pixel SSIM map. ``ssim_whole`` is
  the value skimage returns: the mean of the map over channels and pixels,
  leaving out the 3-pixel border where the 7x7 window does not fit.
  ``ssim_hole`` is the mean of the same map over the hole pixels (border
  included, so a hole at the edge is measured) and channels; each window still
  sees the pixels around a hole pixel.

Since the known pixels of our plain completion equal the input, the whole-image
figures mostly reflect how large the hole is; the hole figures compare methods
where they differ.
"""
from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

DATA_RANGE = 255.0


def _as_float(image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"metrics take uint8 images, got {image.dtype}")
    return image.astype(np.float64)


def psnr(result, truth, region=None) -> float:
    """PSNR in dB of uint8 images (S, S, C); ``region`` (S, S) bool limits it to those pixels."""
    difference = _as_float(result) - _as_float(truth)
    if region is not None:
        difference = difference[np.asarray(region, bool)]
    mse = float(np.mean(difference ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(DATA_RANGE ** 2 / mse)


def ssim_and_map(result, truth) -> tuple[float, np.ndarray]:
    """scikit-image's SSIM of uint8 RGB images and its per-pixel map (S, S, C)."""
    return structural_similarity(_as_float(result), _as_float(truth), data_range=DATA_RANGE,
                                 channel_axis=-1, full=True)


def ssim(result, truth, region=None) -> float:
    """SSIM over the image (skimage's value), or the map's mean over ``region`` (S, S) bool."""
    value, full = ssim_and_map(result, truth)
    return float(value) if region is None else float(np.mean(full[np.asarray(region, bool)]))


def quality(result, truth, hole) -> dict:
    """The four figures of one image: psnr/ssim over the whole image and over the hole."""
    value, full = ssim_and_map(result, truth)
    hole = np.asarray(hole, bool)
    return {"psnr_whole": psnr(result, truth), "psnr_hole": psnr(result, truth, hole),
            "ssim_whole": float(value), "ssim_hole": float(full[hole].mean())}
