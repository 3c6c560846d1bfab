"""Defaults shared by the library and the command lines, each written once.

Plain values, no imports: :mod:`flags` (and so every ``--help``) reads them without
loading TensorFlow, and the library's own defaults are these same values.
"""

# complete.py's flags the demo (no images given, :mod:`demo`) sets otherwise. nIter: the
# default search has converged by then on held-out faces (docs/EXPERIMENTS.md, "Choosing the
# search"), and the demo stays quick. maskType None: every one of demo.MASK_TYPES.
DEMO = {"nIter": 300, "fractionMasked": 0.8, "halfSide": "bottom", "maskType": None,
        "align": True, "pasteBack": True, "gif": True}
