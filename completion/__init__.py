"""Completing images with a trained DCGAN (Yeh, Chen et al.; Amos 2016).

The search (``search.py``: ``complete()``, a pure loop that yields snapshots) and its
settings (``config.py``), the learned start (``encoder.py``); the inputs: masks
(``masks.py``, ``mask_files.py``, ``photo_masks.py``) and faces (``faces.py``: read,
align, paste back); the outputs (``outputs.py``, Poisson ``blending.py``); the flags
complete.py, serve.py and evaluate.py share (``flags.py``); one completion job
(``job.py``: options, inputs, search, outputs), which complete.py, the demo
(``demo.py``), evaluate.py and serve.py call.

Nothing is imported here, so that ``from completion import config`` stays free of
TensorFlow (``--help`` answers at once)."""
