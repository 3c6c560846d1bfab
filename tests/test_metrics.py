"""PSNR and SSIM, whole image and hole, against hand-computed values."""
import math

import numpy as np
import pytest

from evaluation import metrics


def test_psnr_whole_and_hole_by_hand():
    truth = np.full((4, 4, 3), 100, np.uint8)
    result = truth.copy()
    result[0, 0] = 110                       # 3 values off by 10
    # whole: MSE = 3 * 100 / 48 = 6.25 -> 10 log10(255^2 / 6.25)
    assert metrics.psnr(result, truth) == pytest.approx(10 * math.log10(65025 / 6.25))
    hole = np.zeros((4, 4), bool)
    hole[0, :2] = True                        # 2 pixels, 6 values, 3 off: MSE 50
    assert metrics.psnr(result, truth, hole) == pytest.approx(10 * math.log10(65025 / 50))
    assert metrics.psnr(truth, truth) == math.inf
    with pytest.raises(ValueError, match="uint8"):
        metrics.psnr(truth.astype(float), truth)


def test_ssim_of_constant_regions_by_hand():
    """Windows of constant values a, b: SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 255)^2."""
    a, b = 100, 110
    c1 = (0.01 * 255) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    truth = np.full((16, 16, 3), a, np.uint8)
    result = truth.copy()
    result[:, 8:] = b                         # right half off by a constant
    hole = np.zeros((16, 16), bool)
    hole[:, 11:] = True                       # every 7x7 window here lies in the right half
    assert metrics.ssim(result, truth, hole) == pytest.approx(expected, abs=1e-9)
    left = np.zeros((16, 16), bool)
    left[:, :5] = True                        # windows entirely in the identical left half
    assert metrics.ssim(result, truth, left) == pytest.approx(1.0)
    assert metrics.ssim(truth, truth) == pytest.approx(1.0)
    uniform = np.full((16, 16, 3), b, np.uint8)
    assert metrics.ssim(uniform, truth) == pytest.approx(expected)   # everything off: whole = formula


def test_quality_by_hand():
    """quality()'s four figures against values worked out without evaluation/metrics.py or
    skimage."""
    a, b = 100, 110
    c1 = (0.01 * 255) ** 2
    s = (2 * a * b + c1) / (a * a + b * b + c1)      # SSIM of two constant windows (see above)
    off_by_10 = 10 * math.log10(255 ** 2 / 10 ** 2)  # PSNR where every value is off by 10
    truth = np.full((32, 32, 3), a, np.uint8)
    centre = np.zeros((32, 32), bool)
    centre[8:24, 8:24] = True

    # everything off by 10: all four figures are the constant-image values
    figures = metrics.quality(np.full((32, 32, 3), b, np.uint8), truth, centre)
    assert figures == pytest.approx({"psnr_whole": off_by_10, "psnr_hole": off_by_10,
                                     "ssim_whole": s, "ssim_hole": s}, abs=1e-9)

    # the right half off by 10, the hole its columns 19-31 (every 7x7 window there is
    # constant): half the values are off over the whole image, so its MSE is half
    result = truth.copy()
    result[:, 16:] = b
    right = np.zeros((32, 32), bool)
    right[:, 19:] = True
    figures = metrics.quality(result, truth, right)
    assert figures["psnr_hole"] == pytest.approx(off_by_10)
    assert figures["psnr_whole"] == pytest.approx(off_by_10 + 10 * math.log10(2))
    assert figures["ssim_hole"] == pytest.approx(s, abs=1e-9)
    # the windows across the edge see structure the truth lacks: they score below s
    assert figures["ssim_whole"] < (10 * 1.0 + 10 * s + 6 * s) / 26   # 26 columns, 3-pixel border

    # noise in the centre hole only: the PSNRs by the formula, written out here
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    result = noisy.copy()
    result[centre] = rng.integers(0, 256, (centre.sum(), 3), dtype=np.uint8)
    squared = (result.astype(np.float64) - noisy) ** 2
    figures = metrics.quality(result, noisy, centre)
    assert figures["psnr_whole"] == pytest.approx(10 * np.log10(255 ** 2 / squared.mean()))
    assert figures["psnr_hole"] == pytest.approx(10 * np.log10(255 ** 2 / squared[centre].mean()))
    # all the error in 1/4 of the pixels: the whole image's MSE is a quarter of the hole's
    assert figures["psnr_whole"] == pytest.approx(figures["psnr_hole"] + 10 * math.log10(4))
    assert figures["ssim_hole"] < figures["ssim_whole"] < 1.0
