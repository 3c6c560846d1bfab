"""Faces in, faces out: read aligned faces or align raw photos for completion, and paste
completed faces back.

:func:`read_faces` reads aligned faces (``complete.py`` without ``--align``,
``evaluate.py``). A grayscale model gets the gray values training gives it
(:func:`model_images`: ``tf.image.rgb_to_grayscale``, ITU-R 601 luma).

``complete.py --align`` and the web page accept unaligned photos: each is aligned by
:func:`find_faces` with :mod:`align` as the training faces were (OpenFace's
``innerEyesAndBottomLip``, at the model's image size; the faces dlib finds on the
full photo, found faster on a large one: :func:`detect`), the aligned face is
completed, and with ``--pasteBack`` the completed face is warped back into the
photo with the inverse of the alignment's affine transform. Only the completed
region changes: the hole (1 - mask) is warped with the same transform (bilinear,
so its edge is anti-aliased) and used as the alpha of the pasted face; every
photo pixel the warped hole does not touch keeps its value exactly.
"""
from __future__ import annotations

import dataclasses
import threading

import cv2
import dlib
import numpy as np

from align import AlignDlib, INNER_EYES_AND_BOTTOM_LIP, alignment_transform, pad_image, warp
from completion import photo_masks
from shared import defaults
from shared.errors import CompletionError
import utils


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


def read_face(path: str, size: int, warn=print) -> np.ndarray:
    """Read one aligned face as uint8 RGB (size, size, 3); a face of another size is
    centre-cropped and resized, with a warning. A file that cannot be read raises
    :class:`utils.ImageReadError` naming it."""
    rgb = utils.load_rgb(path)
    if rgb.shape[:2] != (size, size):
        warn(f"warning: {path} is {rgb.shape[1]}x{rgb.shape[0]}, not {size}x{size}: "
             "centre-cropped and resized (align raw photos with align/ first)")
        rgb = utils.center_crop_resize(rgb, size)
    return rgb


def read_faces(paths: list[str], size: int, channels: int, warn=print) -> np.ndarray:
    """Read aligned faces as model images (N, size, size, channels) in [-1, 1].

    Faces of another size are centre-cropped and resized, with a warning. Files
    that cannot be read are refused together, naming each (complete.py skips them
    instead, one by one: :func:`read_face`).
    """
    faces, unreadable = [], []
    for path in paths:
        try:
            faces.append(read_face(path, size, warn))
        except utils.ImageReadError as error:
            unreadable.append(str(error))
    if unreadable:
        raise CompletionError("cannot read " + ("these images:\n  " if len(unreadable) > 1 else "")
                              + "\n  ".join(unreadable))
    return model_images(np.stack(faces), channels)


DETECT_SIDE = defaults.DEFAULT_DETECT_SIDE  # dlib's detector sees a photo downscaled to this
MIN_FACE_FRACTION = 0.5  # a face narrower than this times the model's size is "too small"
DETECTOR_WINDOW = 80     # pixels: dlib's frontal face detector's window
DETECTOR_BOX = 72        # its box's right - left (and bottom - top) at the level that finds it
LEVEL_MARGIN = 1.5       # detect() starts where the smallest face is this many windows wide


@dataclasses.dataclass
class Face:
    """A face found in a photo (:func:`find_faces`), aligned as training's faces were."""
    box: tuple[int, int, int, int]     # x0, y0, x1, y1 in photo pixels
    transform: np.ndarray              # 2x3: photo -> aligned-face coordinates
    aligned: np.ndarray                # uint8 (S, S, 3)


def downscale(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` with its longer side at most ``side`` (area averaging), or itself."""
    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return rgb
    size = (max(round(width * scale), 1), max(round(height * scale), 1))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


_ALIGNER = None
_ALIGNER_LOCK = threading.Lock()


def aligner() -> AlignDlib:
    """The process's one aligner, made on first use (it reads dlib's landmark model)."""
    global _ALIGNER
    with _ALIGNER_LOCK:
        if _ALIGNER is None:
            _ALIGNER = AlignDlib()
        return _ALIGNER


def detect(image: np.ndarray, detect_side: int = DETECT_SIDE) -> list:
    """dlib's face boxes in ``image`` (uint8 RGB): those its detector with one upsampling
    finds on the whole image (``AlignDlib``, complete.py before issue 30), found at a
    fraction of the cost on a large photo.

    The detector scans a pyramid: the image upsampled twice (``pyramid_up``), then
    downsampled by 5/6 per level, each face found at the level where it is about
    :data:`DETECTOR_WINDOW` pixels wide. A photo whose longer side is over
    ``detect_side`` (0: never) is first searched on a copy downscaled to it, which says
    how large its faces are; the pyramid is then built exactly as dlib builds it (its own
    resize and ``pyramid_down(6)``) but the detector only runs from the deepest level at
    which the smallest of those faces is still :data:`LEVEL_MARGIN` times the window:
    the levels it scans are the very images of the full run, so it finds the same
    boxes, mapped up from the level that found each in one step, as dlib maps them
    (:func:`native_box`; a box cut by the photo's border, whose level cannot be told,
    makes it scan the whole pyramid). Faces too small for the downscaled copy (about 40
    pixels there) are not found.
    """
    detector = aligner().detector
    height, width = image.shape[:2]
    if not detect_side or max(height, width) <= detect_side:
        return list(detector(image, 1))
    small = downscale(image, detect_side)
    scale = width / small.shape[1]
    rough = list(detector(small, 1))
    if not rough:
        return []
    smallest = min(min(rect.width(), rect.height()) for rect in rough) * scale
    # the face's width at pyramid level L is smallest * 2 * (5/6)^L
    level = max(0, int(np.floor(np.log(2 * smallest / (DETECTOR_WINDOW * LEVEL_MARGIN))
                                / np.log(6 / 5))))
    up, down = dlib.pyramid_down(2), dlib.pyramid_down(6)
    bounds = up.rect_up(dlib.rectangle(0, 0, width - 1, height - 1))
    layer = dlib.resize_image(np.ascontiguousarray(image), bounds.bottom() + 1,
                              bounds.right() + 1)             # dlib's pyramid_up
    for _ in range(level):
        layer = down(layer)
    exact = []
    for rect in detector(layer, 0):
        native = native_box(rect, down)
        if native is None:          # a box cut by the photo's border: the whole pyramid
            return list(detector(image, 1))
        exact.append(up.rect_down(down.rect_up(native[0], level + native[1])))
    if exact:
        return exact
    return [dlib.rectangle(*(int(round(value * scale)) for value in
                             (rect.left(), rect.top(), rect.right(), rect.bottom())))
            for rect in rough]                                 # not refound: the rough boxes


def native_box(rect, down) -> tuple:
    """``(box, levels)``: a box the detector found in some pyramid level, given in that
    level's coordinates (``rect``), as it was where the face was found, ``levels`` levels
    deeper. The detector's box is :data:`DETECTOR_BOX` pixels wide where it finds a face;
    mapping it up from there in one step, as the full run does, rounds once (mapping
    ``rect`` up would round twice and move the box a pixel or two, and dlib's landmarks
    follow the box that closely). None if no level fits (a face cut by the photo's border
    has a box of another shape)."""
    as_double = dlib.drectangle(rect.left(), rect.top(), rect.right(), rect.bottom())
    for levels in range(0, 40):
        box = down.rect_down(as_double, levels)
        native = dlib.rectangle(*(int(round(value)) for value in
                                  (box.left(), box.top(), box.right(), box.bottom())))
        if (native.right() - native.left() == DETECTOR_BOX
                and native.bottom() - native.top() == DETECTOR_BOX
                and down.rect_up(native, levels) == rect):
            return native, levels
    return None


def find_faces(rgb: np.ndarray, size: int, detect_side: int = DETECT_SIDE,
               pad: float = 0.0) -> list[Face]:
    """Every face dlib finds in the photo ``rgb``, largest first, aligned to ``size``
    (``innerEyesAndBottomLip``): the one alignment of ``complete.py --align`` and the
    web page.

    The boxes come from :func:`detect` (a large photo is searched on a copy downscaled
    to ``detect_side`` first, 0: never); the landmarks, the transform and the aligned
    face come from the full photo. ``pad``: the fraction of the photo's size added
    around it (edge pixels repeated) before detection and landmarks, for faces cut by
    the border (:func:`align.pad_image`).
    """
    detector = aligner()
    padded, left, top = pad_image(rgb, pad)
    boxes = sorted((dlib.rectangle(rect.left() - left, rect.top() - top,
                                   rect.right() - left, rect.bottom() - top)
                    for rect in detect(padded, detect_side)),
                   key=lambda rect: rect.width() * rect.height(), reverse=True)
    found = []
    for rect in boxes:
        landmarks = detector.findLandmarks(rgb, rect, pad)
        transform = alignment_transform(landmarks, size, INNER_EYES_AND_BOTTOM_LIP)
        found.append(Face((rect.left(), rect.top(), rect.right(), rect.bottom()), transform,
                          warp(rgb, transform, size)))
    return found


@dataclasses.dataclass(frozen=True)
class AlignedPhoto:
    """The largest face of one photo (:func:`align_photo`), or why there is none."""
    path: str
    face: np.ndarray | None = None         # uint8 (S, S, 3)
    transform: np.ndarray | None = None    # 2x3: photo -> face
    shape: tuple = ()                      # the photo's (H, W, 3)
    skipped: str | None = None             # the reason it cannot be used


def align_photo(path: str, size: int, pad: float = 0.0,
                detect_side: int = DETECT_SIDE) -> AlignedPhoto:
    """Read the photo at ``path`` and align its largest face (:func:`find_faces`); a file
    that cannot be read, a photo without a face or with a face under
    :data:`MIN_FACE_FRACTION` of ``size`` pixels wide gives the reason instead. The photo
    is not kept: paste-back reads it again, so memory does not grow with a folder."""
    try:
        photo = utils.load_rgb(path)
    except utils.ImageReadError as error:
        return AlignedPhoto(path, skipped=str(error).replace(f"{path}: ", "", 1))
    found = find_faces(photo, size, detect_side, pad)
    if not found:
        return AlignedPhoto(path, shape=photo.shape, skipped="no face found")
    face = found[0]
    width = face.box[2] - face.box[0]
    if width < MIN_FACE_FRACTION * size:
        return AlignedPhoto(path, shape=photo.shape, skipped=(
            f"face too small ({width} pixels wide; the {size}x{size} model needs at least "
            f"{int(np.ceil(MIN_FACE_FRACTION * size))})"))
    return AlignedPhoto(path, face.aligned, face.transform, photo.shape)


def align_photos(paths: list[str], size: int, pad: float = 0.0, log=print):
    """Align the largest face of every photo: (faces uint8 (N, size, size, 3), photos, transforms).

    ``transforms[i]`` is the 2x3 matrix from ``photos[i]`` to face coordinates.
    Photos without a face or that cannot be read are refused, naming them (complete.py
    skips them instead: :func:`align_photo`).
    """
    faces, photos, transforms, problems = [], [], [], []
    for path in paths:
        aligned = align_photo(path, size, pad)
        if aligned.skipped:
            problems.append(f"{path}: {aligned.skipped}")
            continue
        faces.append(aligned.face)
        photos.append(utils.load_rgb(path))
        transforms.append(aligned.transform)
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
