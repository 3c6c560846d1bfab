"""photo_masks: a mask drawn on the photo, warped into the aligned face, pasted back only there."""
import os

import cv2
import numpy as np
import pytest

from completion import photo_masks
from shared.errors import CompletionError
import utils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 64


def similarity(scale, angle_degrees, tx, ty):
    """A 2x3 photo -> face transform: rotate, scale, shift."""
    angle = np.deg2rad(angle_degrees)
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]], np.float64)


@pytest.fixture(scope="module")
def aligned_photo(photos_dir):
    """A real photo, its mouth (photo coordinates) and dlib's alignment of its largest face."""
    from align import AlignDlib, alignment_transform

    photo = utils.load_rgb(photos_dir / "face_recognition" / "examples" / "obama.jpg")
    aligner = AlignDlib()
    landmarks = np.array(aligner.findLandmarks(photo, aligner.getLargestFaceBoundingBox(photo)))
    return photo, landmarks, alignment_transform(landmarks, SIZE)


def mouth_hole(photo, landmarks, grow=8):
    """The mouth's outline (landmarks 48-59), filled and grown by ``grow`` pixels: (H, W) bool."""
    hole = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(hole, [landmarks[48:60].astype(np.int32)], 1)
    return cv2.dilate(hole, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0


def test_known_pixels_of_a_real_photo_stay_byte_identical(aligned_photo):
    photo, landmarks, transform = aligned_photo
    hole = mouth_hole(photo, landmarks)
    mask = photo_masks.face_mask(hole, transform, SIZE)
    assert mask.shape == (SIZE, SIZE, 1) and mask.dtype == np.float32
    missing = mask[..., 0] == 0
    assert 0.02 < missing.mean() < 0.3            # the mouth, not the face
    assert missing[SIZE // 2:].sum() > 0.9 * missing.sum()     # in the face's lower half
    # A completed face that differs from the photo everywhere: the inverted aligned face.
    from align import warp
    face = 255 - warp(photo, transform, SIZE)
    pasted = photo_masks.paste_into_hole(photo, face, hole, transform)
    assert pasted.shape == photo.shape and pasted.dtype == np.uint8
    np.testing.assert_array_equal(pasted[~hole], photo[~hole])
    changed = (pasted != photo).any(axis=2)
    assert changed[hole].mean() > 0.95           # the brushed pixels got the (inverted) face


def test_a_thin_stroke_on_a_large_face_is_not_lost():
    # The face is 1,000 photo pixels wide (transform scale 0.064): a 2-pixel line falls between
    # the face's pixel centres, which a plain nearest warp would sample 15 pixels apart.
    transform = similarity(SIZE / 1000, 10, -20, 5)
    hole = np.zeros((1400, 1400), bool)
    hole[700:702, 400:900] = True
    naive = cv2.warpAffine(hole.astype(np.uint8), transform, (SIZE, SIZE),
                           flags=cv2.INTER_NEAREST)
    mask = photo_masks.face_mask(hole, transform, SIZE)
    missing = mask[..., 0] == 0
    assert naive.sum() < missing.sum()
    assert missing.sum() >= 500 * SIZE / 1000 * 0.9    # a face pixel per 15.6 photo pixels of line


def test_every_brushed_pixel_inside_the_face_is_pasted():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    transform = similarity(0.4, -20, -40, 30)
    hole = np.zeros(photo.shape[:2], bool)
    hole[120:180, 100:260] = True
    face = np.full((SIZE, SIZE, 3), 7, np.uint8)
    pasted = photo_masks.paste_into_hole(photo, face, hole, transform)
    np.testing.assert_array_equal(pasted[~hole], photo[~hole])
    inside = photo_masks.face_footprint(transform, SIZE, photo.shape)
    assert (pasted[hole & inside] == 7).all()
    np.testing.assert_array_equal(pasted[hole & ~inside], photo[hole & ~inside])
    assert photo_masks.brushed_outside_face(hole, transform, SIZE) == pytest.approx(
        (hole & ~inside).sum() / hole.sum())


def test_an_empty_brush_is_an_error():
    with pytest.raises(CompletionError, match="empty"):
        photo_masks.face_mask(np.zeros((100, 100), bool), similarity(0.5, 0, 0, 0), SIZE)


def test_a_brush_covering_the_whole_face_is_an_error(aligned_photo):
    photo, _, transform = aligned_photo
    with pytest.raises(CompletionError, match="covers 100% of the aligned face"):
        photo_masks.face_mask(np.ones(photo.shape[:2], bool), transform, SIZE)


def test_a_brush_missing_the_face_is_an_error(aligned_photo):
    photo, _, transform = aligned_photo
    hole = np.zeros(photo.shape[:2], bool)
    hole[:20, :20] = True                              # the photo's corner
    with pytest.raises(CompletionError, match="does not touch the face"):
        photo_masks.face_mask(hole, transform, SIZE)


def test_masks_for_photos_tells_photo_masks_from_face_masks(tmp_path, aligned_photo):
    photo, landmarks, transform = aligned_photo
    hole = mouth_hole(photo, landmarks)
    drawn = tmp_path / "drawn.png"
    utils.save_rgb(np.where(hole[..., None], 0, 255).astype(np.uint8).repeat(3, axis=2), drawn)
    square = tmp_path / "square.png"
    utils.save_rgb(np.full((128, 128, 3), 255, np.uint8), square)
    wide = tmp_path / "wide.png"
    utils.save_rgb(np.full((10, 30, 3), 255, np.uint8), wide)
    found, holes = photo_masks.masks_for_photos([str(drawn), str(square)], [photo, photo],
                                                [transform, transform], SIZE)
    assert found.shape == (2, SIZE, SIZE, 1)
    np.testing.assert_array_equal(holes[0], hole)
    assert holes[1] is None and found[1].min() == 1.0
    with pytest.raises(CompletionError, match=r"wide.png is 30x10: with --align a mask is either "
                                              r"the photo's size \(910x1137"):
        photo_masks.masks_for_photos([str(wide)], [photo], [transform], SIZE)


@pytest.mark.parametrize("flag", ["--maskFile", "--maskDir"])
@pytest.mark.slow
def test_complete_cli_with_a_mask_the_size_of_the_photo(tmp_path, photos_dir, aligned_photo,
                                                        flag):
    import complete

    photo, landmarks, _ = aligned_photo
    hole = mouth_hole(photo, landmarks)
    (tmp_path / "masks").mkdir()
    mask_path = tmp_path / "masks" / "obama.png"          # --maskDir matches it by name
    utils.save_rgb(np.where(hole[..., None], 0, 255).astype(np.uint8).repeat(3, axis=2),
                   mask_path)
    source = photos_dir / "face_recognition" / "examples" / "obama.jpg"
    given = mask_path if flag == "--maskFile" else mask_path.parent
    code = complete.main([str(source), "--align", "--pasteBack", flag, str(given),
                          "--nIter", "3", "--outInterval", "3", "--seed", "0",
                          "--checkpointDir", os.path.join(ROOT, "checkpoint"),
                          "--outDir", str(tmp_path / "out"), "--precision", "float32"])
    assert code == 0
    pasted = utils.load_rgb(tmp_path / "out" / "pasted" / "obama.png")
    np.testing.assert_array_equal(pasted[~hole], photo[~hole])
    assert (pasted != photo).any(axis=2)[hole].mean() > 0.5
    masked = utils.load_rgb(tmp_path / "out" / "masked.png")        # the hole reached the face
    assert (masked == 128).all(axis=2).sum() > 50


def test_complete_cli_refuses_a_mask_covering_the_face(tmp_path, photos_dir, capsys):
    import complete

    source = photos_dir / "face_recognition" / "examples" / "obama.jpg"
    height, width = utils.load_rgb(source).shape[:2]
    black = tmp_path / "black.png"
    utils.save_rgb(np.zeros((height, width, 3), np.uint8), black)
    code = complete.main([str(source), "--align", "--pasteBack", "--maskFile", str(black),
                          "--nIter", "1", "--checkpointDir", os.path.join(ROOT, "checkpoint"),
                          "--outDir", str(tmp_path / "out")])
    assert code == 1
    assert "covers 100% of the aligned face" in capsys.readouterr().err
