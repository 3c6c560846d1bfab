"""PSNR and SSIM, whole image and hole, against hand-computed values."""
import math

import numpy as np
import pytest

import metrics


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


def test_quality_has_the_four_figures_consistently():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    result = truth.copy()
    hole = np.zeros((32, 32), bool)
    hole[8:24, 8:24] = True
    result[hole] = rng.integers(0, 256, (hole.sum(), 3), dtype=np.uint8)
    figures = metrics.quality(result, truth, hole)
    assert figures["psnr_whole"] == pytest.approx(metrics.psnr(result, truth))
    assert figures["psnr_hole"] == pytest.approx(metrics.psnr(result, truth, hole))
    assert figures["psnr_hole"] < figures["psnr_whole"]          # error only in the hole: 1/4 of pixels
    assert figures["psnr_whole"] == pytest.approx(figures["psnr_hole"] + 10 * math.log10(4))
    assert figures["ssim_hole"] == pytest.approx(metrics.ssim(result, truth, hole))
    assert figures["ssim_hole"] < figures["ssim_whole"] < 1.0
