"""Measuring completions (``evaluate.py``, ``bench/``): PSNR and SSIM over the whole
image and over the hole (``metrics.py``), identity distance (``identity.py``)."""
