"""OpenFace-compatible face alignment with dlib: detect, landmark, warp.

This is the algorithm of OpenFace's ``openface/align_dlib.py`` (Amos et al.,
Apache-2.0), which the DCGAN-completion blog used to make its 64x64 training
faces, ported to Python 3 and made to run offline:

1. dlib's HOG frontal face detector, upsampling the image once;
2. the largest detected face (or none, with ``skipMulti``, if there are several);
3. dlib's 68-point shape predictor (iBUG 300-W scheme) on that face;
4. the exact affine transform that maps three landmarks -- inner eye corners and
   bottom lip (39, 42, 57) or outer eye corners and nose tip (36, 45, 33) --
   onto ``size`` times OpenFace's mean landmark template, min-max normalised to
   the unit square per axis;
5. a bilinear ``cv2.warpAffine`` of the photo with a black border.

Additions over OpenFace: the default predictor is the one that the
``face-recognition-models`` wheel ships (no download), the transform can be
returned (to paste a completed face back with its inverse), an optional
padding before detection finds tightly cropped faces, the warp can repeat the
photo's edge pixels instead of filling with black where the aligned square
reaches past the photo (``border="replicate"``), and :meth:`AlignDlib.process`
reports *why* an image was not aligned and how long each stage took.

Images are ``uint8`` RGB arrays ``(H, W, 3)``, as in OpenFace's API.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import time
from typing import Sequence

import cv2
import dlib
import numpy as np

INNER_EYES_AND_BOTTOM_LIP = (39, 42, 57)
OUTER_EYES_AND_NOSE = (36, 45, 33)

# Name on the command line -> landmark indices (OpenFace's names).
LANDMARK_SETS = {
    "innerEyesAndBottomLip": INNER_EYES_AND_BOTTOM_LIP,
    "outerEyesAndNose": OUTER_EYES_AND_NOSE,
}

TEMPLATE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "openface_mean_landmarks.csv")


def _load_template(path: str = TEMPLATE_PATH) -> np.ndarray:
    """OpenFace's mean 68-point landmark template (``models/dlib/mean.csv``), ``(68, 2)``."""
    template = np.loadtxt(path, delimiter=",", dtype=np.float32)
    if template.shape != (68, 2):
        raise ValueError(f"{path}: expected 68 rows of x,y, got shape {template.shape}")
    return template


TEMPLATE = _load_template()
# Min-max normalised per axis, in float32 exactly as OpenFace computes it.
MINMAX_TEMPLATE = ((TEMPLATE - TEMPLATE.min(axis=0))
                   / (TEMPLATE.max(axis=0) - TEMPLATE.min(axis=0))).astype(np.float32)

PAD_MODES = ("replicate", "black")
# How the warp fills the parts of the aligned square that lie outside the photo:
# black (OpenFace's) or the photo's nearest edge pixel.
BORDER_MODES = ("black", "replicate")


def dlib_model_file(name: str) -> str | None:
    """The path of dlib's model file ``name`` in the ``face-recognition-models`` package, or
    None without the package or the file. Found without importing the package: its
    ``__init__`` needs ``pkg_resources``, which recent setuptools no longer ship (84 does not)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", name)
    return path if os.path.isfile(path) else None


def default_predictor_path() -> str:
    """The 68-landmark model shipped by the ``face-recognition-models`` package."""
    path = dlib_model_file("shape_predictor_68_face_landmarks.dat")
    if path is None:  # pragma: no cover - a requirement
        raise FileNotFoundError(
            "no dlib face predictor: install face-recognition-models "
            "(pip install face-recognition-models) or pass --dlibFacePredictor PATH")
    return path


def template_points(img_dim: int, landmark_indices: Sequence[int] = INNER_EYES_AND_BOTTOM_LIP) -> np.ndarray:
    """Where the chosen landmarks land in an ``img_dim`` x ``img_dim`` output, ``(3, 2)`` float32."""
    return (img_dim * MINMAX_TEMPLATE[np.asarray(landmark_indices)]).astype(np.float32)


def alignment_transform(landmarks, img_dim: int,
                        landmark_indices: Sequence[int] = INNER_EYES_AND_BOTTOM_LIP) -> np.ndarray:
    """The 2x3 affine matrix mapping photo coordinates to the aligned ``img_dim`` square.

    Exact on the three chosen landmarks (``cv2.getAffineTransform``), as OpenFace.
    Invert with ``cv2.invertAffineTransform`` to map the aligned face back.
    """
    points = np.asarray(landmarks, dtype=np.float32)
    indices = np.asarray(landmark_indices)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] <= indices.max():
        raise ValueError(f"landmarks must be (68, 2) points, got shape {points.shape}")
    if len(indices) != 3:
        raise ValueError(f"an affine alignment needs exactly 3 landmark indices, got {list(indices)}")
    return cv2.getAffineTransform(points[indices], template_points(img_dim, indices))


def warp(rgb: np.ndarray, transform: np.ndarray, img_dim: int, border: str = "black") -> np.ndarray:
    """Bilinear warp into an ``img_dim`` square.

    ``border`` "black" is OpenFace's warp: what lies outside the photo is black.
    "replicate" repeats the photo's edge pixels there instead. Tightly cropped
    photos (UTKFace's) put the chin at the photo's bottom edge, so their aligned
    faces end in black rows, which a GAN trained on them learns to draw.
    """
    return cv2.warpAffine(rgb, transform, (img_dim, img_dim), borderMode=_border_mode(border))


def _border_mode(border: str) -> int:
    """OpenCV's border mode for a ``BORDER_MODES`` name; a clear error for any other."""
    if border not in BORDER_MODES:
        raise ValueError(f"border must be one of {BORDER_MODES}, got {border!r}")
    return cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT


def pad_image(rgb: np.ndarray, pad: float, mode: str = "replicate") -> tuple[np.ndarray, int, int]:
    """Pad ``pad`` x height rows above and below, ``pad`` x width columns left and right.

    Returns the padded image and the (left, top) offset of the original in it.
    ``mode`` "replicate" repeats the edge pixels (a tight face crop then looks like
    a face with a plausible surround, which dlib's HOG detector finds far more
    often); "black" pads with zeros.
    """
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    if mode not in PAD_MODES:
        raise ValueError(f"pad mode must be one of {PAD_MODES}, got {mode!r}")
    height, width = rgb.shape[:2]
    top, left = int(round(pad * height)), int(round(pad * width))
    if top == 0 and left == 0:
        return rgb, 0, 0
    border = cv2.BORDER_REPLICATE if mode == "replicate" else cv2.BORDER_CONSTANT
    padded = cv2.copyMakeBorder(rgb, top, top, left, left, border, value=(0, 0, 0))
    return padded, left, top


def _shift(rect: dlib.rectangle, dx: int, dy: int) -> dlib.rectangle:
    return dlib.rectangle(rect.left() + dx, rect.top() + dy, rect.right() + dx, rect.bottom() + dy)


@dataclasses.dataclass
class Alignment:
    """Everything :meth:`AlignDlib.process` found out about one image.

    ``status`` is "aligned", "no face" or "several faces"; on "aligned",
    ``thumbnail`` is the ``(size, size, 3)`` face and ``transform`` the 2x3 matrix
    from photo coordinates (of the unpadded photo) to thumbnail coordinates.
    ``box`` and ``landmarks`` are in photo coordinates too. ``seconds`` holds
    the time spent in "detect", "landmarks" and "warp".
    """
    status: str
    num_faces: int = 0
    box: dlib.rectangle | None = None
    landmarks: np.ndarray | None = None
    transform: np.ndarray | None = None
    thumbnail: np.ndarray | None = None
    seconds: dict = dataclasses.field(default_factory=dict)


class AlignDlib:
    """OpenFace's ``AlignDlib``: dlib face detection, landmarks and alignment.

    Method names and arguments follow OpenFace so that code written for it
    works; ``pad``, ``pad_mode``, ``border`` and ``return_transform`` are additions.
    """

    INNER_EYES_AND_BOTTOM_LIP = list(INNER_EYES_AND_BOTTOM_LIP)
    OUTER_EYES_AND_NOSE = list(OUTER_EYES_AND_NOSE)

    def __init__(self, facePredictor: str | os.PathLike | None = None, upsample: int = 1):
        facePredictor = os.fspath(facePredictor) if facePredictor is not None else default_predictor_path()
        if not os.path.isfile(facePredictor):
            raise FileNotFoundError(
                f"dlib face predictor {facePredictor!r} not found; pass --dlibFacePredictor "
                "PATH to a shape_predictor_68_face_landmarks.dat, or omit it to use the one "
                "from the face-recognition-models package")
        self.facePredictor = facePredictor
        self.upsample = upsample
        self.detector = dlib.get_frontal_face_detector()
        try:
            self.predictor = dlib.shape_predictor(facePredictor)
        except RuntimeError as error:
            raise ValueError(f"{facePredictor}: not a dlib shape predictor ({error})") from None

    # --- OpenFace's API -------------------------------------------------------------

    def getAllFaceBoundingBoxes(self, rgbImg: np.ndarray, pad: float = 0.0,
                                pad_mode: str = "replicate") -> list[dlib.rectangle]:
        """All faces dlib's HOG detector finds (one upsample), in ``rgbImg`` coordinates."""
        image, left, top = pad_image(_as_rgb(rgbImg), pad, pad_mode)
        return [_shift(rect, -left, -top) for rect in self.detector(image, self.upsample)]

    def getLargestFaceBoundingBox(self, rgbImg: np.ndarray, skipMulti: bool = False,
                                  pad: float = 0.0, pad_mode: str = "replicate") -> dlib.rectangle | None:
        """The largest face; None if there is none, or if ``skipMulti`` and there are several."""
        faces = self.getAllFaceBoundingBoxes(rgbImg, pad, pad_mode)
        if (not skipMulti and len(faces) > 0) or len(faces) == 1:
            return max(faces, key=lambda rect: rect.width() * rect.height())
        return None

    def findLandmarks(self, rgbImg: np.ndarray, bb: dlib.rectangle, pad: float = 0.0,
                      pad_mode: str = "replicate") -> list[tuple[int, int]]:
        """The 68 (x, y) landmarks of the face in box ``bb`` (``rgbImg`` coordinates)."""
        if bb is None:
            raise ValueError("findLandmarks needs a face box; detection found none")
        image, left, top = pad_image(_as_rgb(rgbImg), pad, pad_mode)
        shape = self._predict(image, _shift(bb, left, top))
        return [(point.x - left, point.y - top) for point in shape.parts()]

    def _predict(self, image: np.ndarray, box: dlib.rectangle) -> dlib.full_object_detection:
        shape = self.predictor(image, box)
        if shape.num_parts != 68:
            raise ValueError(f"{self.facePredictor}: predicts {shape.num_parts} landmarks; "
                             "the alignment needs the 68-landmark model")
        return shape

    def align(self, imgDim: int, rgbImg: np.ndarray, bb: dlib.rectangle | None = None,
              landmarks=None, landmarkIndices: Sequence[int] = INNER_EYES_AND_BOTTOM_LIP,
              skipMulti: bool = False, *, pad: float = 0.0, pad_mode: str = "replicate",
              border: str = "black", return_transform: bool = False):
        """Align the largest face (or the face in ``bb``) to ``imgDim`` x ``imgDim``.

        Returns the RGB thumbnail, or None when no face is found (OpenFace's
        contract). With ``return_transform=True`` returns ``(thumbnail, H)``
        (``(None, None)`` without a face) where ``H`` is the 2x3 affine matrix
        from ``rgbImg`` coordinates to thumbnail coordinates.
        """
        rgbImg = _as_rgb(rgbImg)
        if bb is None and landmarks is None:
            bb = self.getLargestFaceBoundingBox(rgbImg, skipMulti, pad, pad_mode)
            if bb is None:
                return (None, None) if return_transform else None
        if landmarks is None:
            landmarks = self.findLandmarks(rgbImg, bb, pad, pad_mode)
        transform = alignment_transform(landmarks, imgDim, landmarkIndices)
        thumbnail = warp(rgbImg, transform, imgDim, border)
        return (thumbnail, transform) if return_transform else thumbnail

    # --- additions --------------------------------------------------------------------

    def process(self, rgbImg: np.ndarray, imgDim: int,
                landmarkIndices: Sequence[int] = INNER_EYES_AND_BOTTOM_LIP,
                skipMulti: bool = False, pad: float = 0.0,
                pad_mode: str = "replicate", border: str = "black") -> Alignment:
        """Align like :meth:`align`, but say why not and time each stage."""
        rgbImg = _as_rgb(rgbImg)
        _border_mode(border)  # a bad name fails before the slow detection
        seconds = {}
        start = time.perf_counter()
        image, left, top = pad_image(rgbImg, pad, pad_mode)
        faces = list(self.detector(image, self.upsample))
        seconds["detect"] = time.perf_counter() - start
        if not faces:
            return Alignment("no face", 0, seconds=seconds)
        if skipMulti and len(faces) > 1:
            return Alignment("several faces", len(faces), seconds=seconds)
        box = max(faces, key=lambda rect: rect.width() * rect.height())

        start = time.perf_counter()
        shape = self._predict(image, box)
        landmarks = np.array([(p.x - left, p.y - top) for p in shape.parts()], dtype=np.float32)
        seconds["landmarks"] = time.perf_counter() - start

        start = time.perf_counter()
        transform = alignment_transform(landmarks, imgDim, landmarkIndices)
        thumbnail = warp(rgbImg, transform, imgDim, border)
        seconds["warp"] = time.perf_counter() - start
        return Alignment("aligned", len(faces), _shift(box, -left, -top), landmarks,
                         transform, thumbnail, seconds)


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    """dlib wants a C-contiguous uint8 (H, W, 3) or (H, W) array."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {rgb.dtype}; use utils.load_rgb to read photos")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {rgb.shape}")
    return np.ascontiguousarray(rgb)
