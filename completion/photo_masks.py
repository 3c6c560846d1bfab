"""Masks drawn on the photo itself: warp them into the aligned face, paste back only there.

A mask in *photo coordinates* marks the pixels of the raw photo to fill (the
brush of ``serve.py``'s page, or ``complete.py --align --maskFile m.png`` with
``m.png`` the photo's size: white keeps, black is missing, as every mask file).
The face is aligned by an affine transform ``T`` (:mod:`completion.faces`, :mod:`align`);
the hole goes through the same ``T``:

* :func:`face_mask` warps the photo's hole into the aligned ``S x S`` face. A
  face pixel is missing when *any* brushed photo pixel falls inside it: the
  hole is sampled (nearest) on a grid ``k`` times finer than the face, with
  ``k`` chosen so that the grid is at most half a photo pixel apart, and each
  ``k x k`` block is max-pooled. A thin stroke therefore never slips between
  the face's pixel centres, however much larger the face is in the photo.
* :func:`paste_into_hole` warps the completed face back (bilinear, the inverse
  of ``T``) and copies it into the photo **only on brushed pixels inside the
  face's square**. Every other pixel of the photo keeps its exact value, so the
  pasted photo differs from the upload only where the user brushed.

An empty mask, one that misses the face, and one that leaves less than
:data:`MIN_KNOWN_FRACTION` of the face known are refused with a
:class:`errors.CompletionError` saying what to change.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from completion import mask_files
from shared.errors import CompletionError
import utils

MIN_KNOWN_FRACTION = 0.05     # the search needs pixels to match; the grid mask keeps 6.25%
MAX_SUPERSAMPLE = 32          # at most a 2048-pixel grid for a 64-pixel face


def hole_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """(H, W) bool, True = missing: the mask-file convention (gray < 128 is missing)."""
    return rgb.astype(np.float32).mean(axis=2) < mask_files.KEEP_THRESHOLD


def _homogeneous(transform) -> np.ndarray:
    return np.vstack([np.asarray(transform, np.float64), [0.0, 0.0, 1.0]])


def supersampling(transform, max_factor: int = MAX_SUPERSAMPLE) -> int:
    """Sub-samples per face pixel and axis so that they are at most half a photo pixel apart."""
    linear = np.asarray(transform, np.float64)[:, :2]
    # The largest distance in the photo between neighbouring face pixels: 1 / the smallest
    # singular value of the photo -> face map.
    smallest = np.linalg.svd(linear, compute_uv=False).min()
    if smallest <= 0:
        raise ValueError(f"the alignment transform is singular: {transform}")
    return int(min(max(math.ceil(2.0 / smallest), 1), max_factor))


def face_mask(photo_hole: np.ndarray, transform, size: int) -> np.ndarray:
    """Warp a photo hole ((H, W) bool, True = missing) into the aligned face.

    ``transform`` (2x3) maps photo to face coordinates. Returns float32
    ``(size, size, 1)``, 1 = known, 0 = missing (the toolkit's mask convention):
    a face pixel is missing if any brushed photo pixel lies inside it.
    Raises :class:`CompletionError` for an empty hole, a hole outside the face,
    or one leaving less than :data:`MIN_KNOWN_FRACTION` of the face known.
    """
    photo_hole = np.asarray(photo_hole, bool)
    if not photo_hole.any():
        raise CompletionError("the mask is empty: brush over the part of the face to fill "
                              "(or choose one of the mask types)")
    factor = supersampling(transform)
    # Sub-pixel u of the fine grid sits at face coordinate (u + 0.5) / factor - 0.5.
    fine = np.array([[factor, 0.0, (factor - 1) / 2.0], [0.0, factor, (factor - 1) / 2.0],
                     [0.0, 0.0, 1.0]]) @ _homogeneous(transform)
    side = size * factor
    warped = cv2.warpAffine(photo_hole.astype(np.uint8), fine[:2], (side, side),
                            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    missing = warped.reshape(size, factor, size, factor).max(axis=(1, 3)) > 0
    if not missing.any():
        raise CompletionError("the mask does not touch the face: brush over the face itself "
                              "(the model sees only the aligned face, shown under 'Faces')")
    known_fraction = 1.0 - missing.mean()
    if known_fraction < MIN_KNOWN_FRACTION:
        raise CompletionError(
            f"the mask covers {100 * missing.mean():.0f}% of the aligned face: the search needs "
            f"at least {100 * MIN_KNOWN_FRACTION:.0f}% of it known to match "
            "(the grid mask keeps 6%); brush a smaller region")
    return (~missing).astype(np.float32)[:, :, None]


def face_footprint(transform, size: int, shape, box=None) -> np.ndarray:
    """(h, w) bool over ``box`` (x0, y0, x1, y1; default the whole photo of ``shape``):
    the photo pixels whose nearest face pixel lies inside the ``size`` square."""
    x0, y0, x1, y1 = box if box is not None else (0, 0, shape[1], shape[0])
    inverse = cv2.invertAffineTransform(np.asarray(transform, np.float64))
    inverse[:, 2] -= (x0, y0)
    ones = np.ones((size, size), np.uint8)
    return cv2.warpAffine(ones, inverse, (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0


def brushed_outside_face(photo_hole: np.ndarray, transform, size: int) -> float:
    """The share of the brushed photo pixels that lie outside the face's square (never pasted)."""
    photo_hole = np.asarray(photo_hole, bool)
    total = int(photo_hole.sum())
    if total == 0:
        return 0.0
    inside = face_footprint(transform, size, photo_hole.shape)
    return 1.0 - float((photo_hole & inside).sum()) / total


def paste_into_hole(photo: np.ndarray, face: np.ndarray, photo_hole: np.ndarray,
                    transform) -> np.ndarray:
    """Warp the completed ``face`` (uint8 (S, S, 3 or 1)) back into ``photo`` on the brushed pixels.

    ``photo_hole`` (H, W) bool marks them; ``transform`` maps photo to face
    coordinates. Returns a copy of ``photo`` (uint8) in which only brushed pixels
    inside the face's square changed, to the bilinearly warped face.
    """
    photo_hole = np.asarray(photo_hole, bool)
    if photo_hole.shape != photo.shape[:2]:
        raise ValueError(f"the hole is {photo_hole.shape}, the photo {photo.shape[:2]}")
    face = np.asarray(face)
    if face.ndim == 3 and face.shape[2] == 1:                 # a grayscale model's face
        face = np.repeat(face, 3, axis=2)
    size = face.shape[0]
    result = photo.copy()
    # Only the bounding box of the face's square in the photo can change: warp into it alone,
    # so a 50-megapixel photo costs no more than a small one.
    inverse = cv2.invertAffineTransform(np.asarray(transform, np.float64))
    corners = np.array([[-0.5, -0.5, 1], [size - 0.5, -0.5, 1], [-0.5, size - 0.5, 1],
                        [size - 0.5, size - 0.5, 1]]) @ inverse.T
    height, width = photo.shape[:2]
    x0, y0 = (max(int(np.floor(v)) - 1, 0) for v in corners.min(axis=0))
    x1 = min(int(np.ceil(corners[:, 0].max())) + 2, width)
    y1 = min(int(np.ceil(corners[:, 1].max())) + 2, height)
    if x0 >= x1 or y0 >= y1:
        return result
    changed = photo_hole[y0:y1, x0:x1] & face_footprint(transform, size, photo.shape,
                                                        (x0, y0, x1, y1))
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(np.ascontiguousarray(face), shifted, (x1 - x0, y1 - y0),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    region = result[y0:y1, x0:x1]
    region[changed] = warped[changed]
    return result


def masks_for_photos(mask_paths: list[str], photos: list[np.ndarray], transforms,
                     size: int) -> tuple[np.ndarray, list]:
    """``complete.py --align`` masks: (face masks (N, S, S, 1), photo holes (H, W) bool or None).

    A mask file of exactly its photo's size is in photo coordinates: it is warped
    into the face (:func:`face_mask`) and its hole is returned for
    :func:`paste_into_hole`. Any other mask is an aligned-face mask
    (:func:`mask_files.load_mask`: square, resized to the face) with no photo hole.
    """
    face_masks, holes, cache = [], [], {}
    for path, photo, transform in zip(mask_paths, photos, transforms):
        if path not in cache:
            try:
                cache[path] = utils.load_rgb(path)
            except utils.ImageReadError as error:
                raise CompletionError(f"cannot read mask {error}") from None
        rgb = cache[path]
        if rgb.shape[:2] == photo.shape[:2]:
            hole = hole_from_rgb(rgb)
            try:
                face_masks.append(face_mask(hole, transform, size))
            except CompletionError as error:
                raise CompletionError(f"mask {path}: {error}") from None
            holes.append(hole)
        elif rgb.shape[0] == rgb.shape[1]:
            face_masks.append(mask_files.load_mask(path, size))
            holes.append(None)
        else:
            height, width = photo.shape[:2]
            raise CompletionError(
                f"mask {path} is {rgb.shape[1]}x{rgb.shape[0]}: with --align a mask is either "
                f"the photo's size ({width}x{height}, drawn on the photo) or square (drawn on "
                "the aligned face); white = keep, black = missing")
    return np.stack(face_masks), holes
