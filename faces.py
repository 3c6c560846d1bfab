"""Faces in, faces out: read aligned faces or align raw photos for completion, and paste
completed faces back.

:func:`read_faces` reads aligned faces (``complete.py`` without ``--align``,
``evaluate.py``). A grayscale model gets the gray values training gives it
(:func:`model_images`: ``tf.image.rgb_to_grayscale``, ITU-R 601 luma).

``complete.py --align`` accepts unaligned photos: each is aligned with
:mod:`align` exactly as the training faces were (OpenFace's
``innerEyesAndBottomLip``, at the model's image size), the aligned face is
completed, and with ``--pasteBack`` the completed face is warped back into the
photo with the inverse of the alignment's affine transform. Only the completed
region changes: the hole (1 - mask) is warped with the same transform (bilinear,
so its edge is anti-aliased) and used as the alpha of the pasted face; every
photo pixel the warped hole does not touch keeps its value exactly.
"""
from __future__ import annotations

import cv2
import numpy as np

import photo_masks
import utils
from align import INNER_EYES_AND_BOTTOM_LIP, AlignDlib
from errors import CompletionError


def model_images(rgb: np.ndarray, channels: int) -> np.ndarray:
    """uint8 RGB (N, S, S, 3) -> model images (N, S, S, channels) float32 in [-1, 1].

    One channel: the gray training reads (``pipeline.decode_image``): TensorFlow's
    ``rgb_to_grayscale`` (0.2989 R + 0.5870 G + 0.1140 B) on the uint8 pixels.
    """
    rgb = np.asarray(rgb, np.uint8)
    if channels == 1:
        # TensorFlow loads here, for gray models only: the web page and --help start without it.
        import tensorflow as tf

        rgb = tf.image.rgb_to_grayscale(rgb).numpy()
    return utils.to_model(rgb)


def read_faces(paths: list[str], size: int, channels: int, warn=print) -> np.ndarray:
    """Read aligned faces as model images (N, size, size, channels) in [-1, 1].

    Faces of another size are centre-cropped and resized, with a warning. Files
    that cannot be read are refused together, naming each.
    """
    faces, unreadable = [], []
    for path in paths:
        try:
            rgb = utils.load_rgb(path)
        except utils.ImageReadError as error:
            unreadable.append(str(error))
            continue
        if rgb.shape[:2] != (size, size):
            warn(f"warning: {path} is {rgb.shape[1]}x{rgb.shape[0]}, not {size}x{size}: "
                 "centre-cropped and resized (align raw photos with align/ first)")
            rgb = utils.center_crop_resize(rgb, size)
        faces.append(rgb)
    if unreadable:
        raise CompletionError("cannot read " + ("these images:\n  " if len(unreadable) > 1 else "")
                              + "\n  ".join(unreadable))
    return model_images(np.stack(faces), channels)


def align_photos(paths: list[str], size: int, pad: float = 0.0, log=print):
    """Align the largest face of every photo: (faces uint8 (N, size, size, 3), photos, transforms).

    ``transforms[i]`` is the 2x3 matrix from ``photos[i]`` to face coordinates.
    Photos without a face or that cannot be read are refused, naming them.
    """
    aligner = AlignDlib()
    faces, photos, transforms, problems = [], [], [], []
    for path in paths:
        try:
            photo = utils.load_rgb(path)
        except utils.ImageReadError as error:
            problems.append(f"{error}")
            continue
        face, transform = aligner.align(size, photo, landmarkIndices=INNER_EYES_AND_BOTTOM_LIP,
                                        pad=pad, return_transform=True)
        if face is None:
            problems.append(f"{path}: no face found")
            continue
        faces.append(face)
        photos.append(photo)
        transforms.append(transform)
    if problems:
        raise CompletionError("--align cannot use " + ("these photos:\n  " if len(problems) > 1
                                                       else "") + "\n  ".join(problems))
    log(f"Aligned {len(faces)} face(s) to {size}x{size} (innerEyesAndBottomLip)")
    return np.stack(faces), photos, transforms


def warped_hole(mask: np.ndarray, transform: np.ndarray, photo_shape) -> np.ndarray:
    """The hole (1 - mask) of an (S, S, 1) face mask warped into the photo: alpha (H, W) in [0, 1]."""
    height, width = photo_shape[:2]
    inverse = cv2.invertAffineTransform(np.asarray(transform, np.float64))
    hole = np.ascontiguousarray(1.0 - np.asarray(mask, np.float32)[..., 0])
    alpha = cv2.warpAffine(hole, inverse, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return np.clip(alpha, 0.0, 1.0)


def paste_back(photo: np.ndarray, face: np.ndarray, mask: np.ndarray, transform,
               photo_hole: np.ndarray | None = None) -> np.ndarray:
    """Warp the completed ``face`` (uint8 (S, S, 3) or (S, S, 1)) back into ``photo``.

    ``mask`` (S, S, 1) is 1 on known pixels; ``transform`` maps photo to face
    coordinates. Returns a uint8 copy of ``photo`` changed only where :func:`warped_hole`
    is above 0, or, for a mask drawn on the photo (``photo_hole``, (H, W) bool, True =
    missing), only on its pixels (:func:`photo_masks.paste_into_hole`).
    """
    if face.ndim == 3 and face.shape[2] == 1:                 # a grayscale model's face
        face = np.repeat(face, 3, axis=2)
    if photo_hole is not None:
        return photo_masks.paste_into_hole(photo, face, photo_hole, transform)
    height, width = photo.shape[:2]
    inverse = cv2.invertAffineTransform(np.asarray(transform, np.float64))
    warped_face = cv2.warpAffine(np.ascontiguousarray(face), inverse, (width, height),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = warped_hole(mask, transform, photo.shape)
    changed = alpha > 0
    weight = alpha[changed][:, None]
    mixed = photo[changed].astype(np.float32) * (1.0 - weight) + warped_face[changed] * weight
    result = photo.copy()
    result[changed] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
    return result
