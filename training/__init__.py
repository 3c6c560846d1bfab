"""Training a DCGAN: the loop (``loop.py``: ``train_dcgan.py``'s ``train()``), its
compiled step (``train_step.py``), the input pipeline (``pipeline.py``), checkpoints
(``checkpoints.py``: what they hold, finding and loading them; completion reads them
too) and the ``tf.distribute`` strategy (``distribute.py``).

Nothing is imported here, so that ``from training import checkpoints`` loads only what
it names."""
