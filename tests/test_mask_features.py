"""The added masks: half, pattern, the paper's importance weights, and mask files."""
import numpy as np
import pytest
import scipy.ndimage
from PIL import Image

from completion import mask_files, masks
from shared.errors import CompletionError


def test_importance_weights_by_hand():
    """One missing pixel in the corner of a 4x4 image, 3x3 window."""
    mask = np.ones((4, 4, 1), np.float32)
    mask[0, 0] = 0
    weights = masks.importance_weights(mask, window=3)[..., 0]
    expected = np.zeros((4, 4))
    expected[0, 1] = expected[1, 0] = 1 / 6   # window inside the image: 2x3 pixels, 1 missing
    expected[1, 1] = 1 / 9                    # full 3x3 window
    np.testing.assert_allclose(weights, expected)          # the missing pixel itself weighs 0


def test_importance_weights_7x7_on_the_centre_hole():
    mask, _ = masks.make_mask("center", 16)             # hole rows/cols 4..11
    weights = masks.importance_weights(mask)[..., 0]     # default window 7
    assert weights[3, 3] == pytest.approx(9 / 49)        # window rows/cols 0..6: 3x3 missing
    assert weights[3, 7] == pytest.approx(21 / 49)       # rows 0..6, cols 4..10: 3x7 missing
    assert weights[0, 0] == 0 and weights[8, 8] == 0     # far from the hole / inside it
    assert weights[12, 4] == pytest.approx(12 / 49)      # rows 9..15, cols 1..7: 3x4 missing
    assert weights[12, 1] == pytest.approx(3 / 35)       # border: cols 0..4 in-image, 3x1 missing
    batch = masks.importance_weights(np.stack([mask, np.ones_like(mask)]))
    np.testing.assert_allclose(batch[0, ..., 0], weights)
    assert batch.shape == (2, 16, 16, 1) and not batch[1].any()   # nothing missing: no weight
    with pytest.raises(ValueError, match="odd"):
        masks.importance_weights(mask, window=4)


@pytest.mark.parametrize("side,missing", [("left", np.s_[:, :8]), ("right", np.s_[:, 8:]),
                                          ("top", np.s_[:8, :]), ("bottom", np.s_[8:, :])])
def test_half_masks(side, missing):
    mask, _ = masks.make_mask("half", 16, side=side)
    expected = np.ones((16, 16, 1), np.float32)
    expected[missing] = 0
    np.testing.assert_array_equal(mask, expected)


def test_pattern_mask_is_a_few_blobs_of_a_quarter_of_the_image():
    for seed in range(5):
        mask, _ = masks.make_mask("pattern", 64, rng=np.random.default_rng(seed))
        assert (mask == 0).sum() == round(0.25 * 64 * 64)
        _, regions = scipy.ndimage.label(mask[..., 0] == 0)
        assert 1 <= regions <= 6                         # a few blobs, not scattered pixels
    again, _ = masks.make_mask("pattern", 64, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(mask, again)


def _save(array, path):
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return str(path)


def test_mask_file_convention_resize_and_errors(tmp_path):
    drawing = np.full((40, 40, 3), 255, np.uint8)
    drawing[10:30, 0:20] = 0                             # black = missing
    drawing[0:2, 30:40] = 100                            # dark gray counts as missing too
    mask = mask_files.load_mask(_save(drawing, tmp_path / "m.png"), 16)
    expected = np.ones((16, 16), np.float32)
    expected[4:12, 0:8] = 0                              # nearest: 40 -> 16, x2.5
    expected[0, 12:16] = 0
    np.testing.assert_array_equal(mask[..., 0], expected)

    with pytest.raises(CompletionError, match="square"):
        mask_files.load_mask(_save(np.zeros((10, 20)), tmp_path / "wide.png"), 16)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(CompletionError, match="cannot read mask.*text.png"):
        mask_files.load_mask(str(tmp_path / "text.png"), 16)


def test_mask_dir_matches_by_name(tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    _save(np.zeros((8, 8)), folder / "a.png")
    _save(np.full((8, 8), 255), folder / "b.jpg")         # same stem, other extension
    stack = mask_files.masks_from_dir(str(folder), ["x/a.png", "y/b.png"], 16)
    assert stack.shape == (2, 16, 16, 1) and not stack[0].any() and stack[1].all()
    with pytest.raises(CompletionError, match="no mask in .* for z/c.png"):
        mask_files.masks_from_dir(str(folder), ["x/a.png", "z/c.png"], 16)
    with pytest.raises(CompletionError, match="not a folder"):
        mask_files.masks_from_dir(str(tmp_path / "none"), ["x/a.png"], 16)
