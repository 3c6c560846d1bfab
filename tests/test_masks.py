"""Every mask type keeps and drops the pixels it says it does."""
import numpy as np
import pytest

from completion import masks


@pytest.mark.parametrize("size", [16, 64])
def test_counts_of_known_and_missing_pixels(size):
    def known(kind, **kwargs):
        mask, low = masks.make_mask(kind, size, **kwargs)
        assert mask.shape == (size, size, 1) and low.shape == (size // 8, size // 8, 1)
        assert set(np.unique(mask)) <= {0.0, 1.0}
        return int(mask.sum()), int(low.sum())

    # center, scale 0.25: rows/cols int(S/4) .. int(3S/4) - 1 missing: a (S/2)^2 hole.
    assert known("center") == (size * size - (size // 2) ** 2, 0)
    # scale 0.1 at S: l = int(0.1 S), u = int(0.9 S)
    lower, upper = int(size * 0.1), int(size * 0.9)
    assert known("center", center_scale=0.1) == (size * size - (upper - lower) ** 2, 0)
    assert known("left") == (size * size // 2, 0)
    assert known("full") == (size * size, 0)
    assert known("grid") == ((size // 4) ** 2, 0)              # every 4th pixel of every 4th row
    assert known("lowres") == (0, (size // 8) ** 2)            # only the 8x pooled image


def test_center_hole_position():
    mask, _ = masks.make_mask("center", 16)
    assert mask[4:12, 4:12].sum() == 0
    assert mask[3, :].all() and mask[12, :].all() and mask[:, 3].all() and mask[:, 12].all()
    mask, _ = masks.make_mask("left", 16)
    assert mask[:, :8].sum() == 0 and mask[:, 8:].all()
    mask, _ = masks.make_mask("grid", 16)
    assert mask[0, 0] == 1 and mask[4, 8] == 1 and mask[1, 0] == 0 and mask[0, 2] == 0


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.8, 1.0])
def test_random_mask_missing_fraction(fraction):
    mask, _ = masks.make_mask("random", 64, fraction=fraction, rng=np.random.default_rng(0))
    missing = 1.0 - mask.mean()
    # binomial(4096, p): 5 standard deviations at most 0.04
    assert abs(missing - fraction) <= 5 * np.sqrt(fraction * (1 - fraction) / 4096) + 1e-9
    again, _ = masks.make_mask("random", 64, fraction=fraction, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(mask, again)  # seeded: reproducible


def test_bad_mask_arguments():
    with pytest.raises(ValueError, match="unknown mask type"):
        masks.make_mask("triangle", 64)
    with pytest.raises(ValueError, match="centerScale"):
        masks.make_mask("center", 64, center_scale=0.6)
    with pytest.raises(ValueError, match="fraction"):
        masks.make_mask("random", 64, fraction=1.5)


def test_lowres_preview_is_block_mean():
    images = np.arange(2 * 16 * 16 * 3, dtype=np.float32).reshape(2, 16, 16, 3)
    preview = masks.lowres_preview(images, 8)
    assert preview.shape == images.shape
    np.testing.assert_allclose(preview[1, 3, 5, 2], images[1, :8, :8, 2].mean())
    np.testing.assert_allclose(preview[0, 15, 9, 0], images[0, 8:, 8:, 0].mean())
