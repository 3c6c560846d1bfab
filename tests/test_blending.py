"""Poisson blending on real faces: known pixels exact, G(z)'s gradients kept in the hole."""
import numpy as np
import pytest

from completion import blending, masks
import utils


@pytest.fixture(scope="module")
def real_pairs(faces_dir):
    """(image, generated) pairs of different real 64x64 aligned faces, in [-1, 1]."""
    import conftest
    folder = conftest.require_path(faces_dir / "celeba10k")
    paths = sorted(folder.iterdir())[:6]
    faces = [utils.to_model(utils.center_crop_resize(utils.load_rgb(p), 64)) for p in paths]
    return list(zip(faces[:3], faces[3:]))


MASKS = [masks.make_mask("center", 64)[0], masks.half_mask(64, "left"), masks.half_mask(64, "bottom"),
         masks.pattern_mask(64, 0.25, np.random.default_rng(1)),
         masks.make_mask("random", 64, fraction=0.8, rng=np.random.default_rng(2))[0]]


@pytest.mark.parametrize("mask_index", range(len(MASKS)))
def test_known_pixels_exact_and_laplacian_kept_in_the_hole(real_pairs, mask_index):
    mask = MASKS[mask_index]
    known = mask[..., 0] > 0.5
    for image, generated in real_pairs:
        result = blending.poisson_blend(image, generated, mask)
        np.testing.assert_array_equal(result[known], image[known])          # bit-exact
        lap_result = blending.laplacian(result)[~known]
        lap_generated = blending.laplacian(generated)[~known]
        np.testing.assert_allclose(lap_result, lap_generated, atol=1e-9)
        # and it is not the naive paste: the seam moves the hole's values
        assert np.abs(result[~known] - generated[~known]).max() > 0.05


def test_a_colour_offset_is_removed_entirely(real_pairs):
    """G(z) = truth + constant has the truth's gradients, so blending recovers the truth."""
    image, _ = real_pairs[0]
    mask = MASKS[0]
    result = blending.poisson_blend(image, image + np.array([0.3, -0.2, 0.1]), mask)
    np.testing.assert_allclose(result, image, atol=1e-9)


def test_laplacian_is_the_hand_computed_stencil():
    image = np.arange(9, dtype=float).reshape(3, 3, 1) ** 2   # 0 1 4 / 9 16 25 / 36 49 64
    lap = blending.laplacian(image)[..., 0]
    assert lap[1, 1] == 4 * 16 - (1 + 9 + 25 + 49)            # interior: 4 neighbours
    assert lap[0, 0] == 2 * 0 - (1 + 9)                       # corner: 2 in-image neighbours
    assert lap[0, 1] == 3 * 1 - (0 + 4 + 16)                  # edge: 3


def test_no_known_pixel_keeps_generated_and_batch_broadcasts(real_pairs):
    image, generated = real_pairs[0]
    np.testing.assert_array_equal(blending.poisson_blend(image, generated, np.zeros((64, 64, 1))),
                                  generated)
    batch = blending.blend_batch(np.stack([image, image]), np.stack([generated, generated]),
                                 MASKS[0][None])
    assert batch.shape == (2, 64, 64, 3) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[1], blending.poisson_blend(image, generated, MASKS[0]),
                               atol=1e-6)
