"""DiffAugment: differentiable augmentation of every image D sees, real or generated.

Zhao, Liu, Lin, Zhu and Han, "Differentiable Augmentation for Data-Efficient GAN
Training" (NeurIPS 2020), Sec. 3 and Appendix: the same family of random
transformations T is applied to the real images and to G(z) before D, in D's
update and in G's, so D never sees an unaugmented image and G's gradient flows
back through T. Each call draws its own transformation for every image. The three
policies, on images in [-1, 1] (B, S, S, C), as the paper defines them:

* ``color``: brightness ``x + b``, b ~ U[-0.5, 0.5); saturation
  ``(x - mean_c x) * s + mean_c x`` (mean over channels), s ~ U[0, 2); contrast
  ``(x - mean x) * c + mean x`` (mean over the image), c ~ U[0.5, 1.5); in that order.
* ``translation``: a shift of (dy, dx) pixels, each an integer uniform in
  [-S/8, S/8] (S/8 rounded), the uncovered border filled with zeros.
* ``cutout``: a square of S/2 (rounded) zeroed, its centre uniform over the image
  (so it may lie partly outside), as Cutout (DeVries & Taylor 2017).

The draws are stateless (``tf.random.stateless_*``) from a seed the caller gives, so
a step's augmentations follow from (run seed, step, call) and a resumed run draws
what an uninterrupted one would have. Written from the paper's definitions with
the authors' ``DiffAugment_tf.py`` (mit-han-lab/data-efficient-gans) as a reference.
"""
from __future__ import annotations

import tensorflow as tf

from shared.defaults import DIFFAUG_OPS

TRANSLATION_RATIO = 0.125   # the largest shift, a share of the image side
CUTOUT_RATIO = 0.5          # the square's side, a share of the image side


def policy_from(names) -> tuple[str, ...]:
    """The ops of ``names`` (a comma list like 'color,cutout', or a sequence), in the order
    applied (:data:`DIFFAUG_OPS`); '' or () is none. Unknown names raise ValueError."""
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in names if name not in DIFFAUG_OPS]
    if unknown:
        raise ValueError(f"unknown DiffAugment op {unknown[0]!r}; choose from "
                         f"{', '.join(DIFFAUG_OPS)}")
    return tuple(name for name in DIFFAUG_OPS if name in names)


# ------------------------------------------------------------------ the ops, given their draws
def brightness(images, offsets):
    """x + b per image: images (B, S, S, C), offsets (B,)."""
    return images + offsets[:, None, None, None]


def saturation(images, factors):
    """(x - m) * s + m per image, m the mean over channels at each pixel: factors (B,)."""
    mean = tf.reduce_mean(images, axis=3, keepdims=True)
    return (images - mean) * factors[:, None, None, None] + mean


def contrast(images, factors):
    """(x - m) * c + m per image, m the image's mean over pixels and channels: factors (B,)."""
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * factors[:, None, None, None] + mean


def translate(images, shift_y, shift_x):
    """out[b, i, j] = images[b, i - dy_b, j - dx_b], zero where that is outside the image:
    the content moves dy pixels down and dx right. shift_y, shift_x (B,) int32, |d| < S."""
    size_y, size_x = tf.shape(images)[1], tf.shape(images)[2]

    def shift(images, shifts, size, axis):
        # One zero row (or column) on each side; out-of-range sources read a zero.
        padding = [[0, 0]] * 4
        padding[axis] = [1, 1]
        padded = tf.pad(images, padding)
        source = tf.range(size)[None, :] - shifts[:, None]                  # (B, size)
        inside = (source >= 0) & (source < size)
        index = tf.where(inside, source + 1, 0)                             # padded index
        return tf.gather(padded, index, axis=axis, batch_dims=1)

    return shift(shift(images, shift_y, size_y, 1), shift_x, size_x, 2)


def cutout(images, top, left, size):
    """Zero rows top..top+size-1 and columns left..left+size-1 of each image (the part inside
    the image): top, left (B,) int32, may be negative; ``size`` the square's side."""
    rows = tf.range(tf.shape(images)[1])[None, :]                           # (1, S)
    cols = tf.range(tf.shape(images)[2])[None, :]
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)         # (B, S)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)
    hole = in_rows[:, :, None] & in_cols[:, None, :]                        # (B, S, S)
    return images * tf.cast(~hole, images.dtype)[..., None]


def max_shift(image_size) -> int:
    """The largest translation: S/8 rounded (8 pixels at 64x64)."""
    return int(image_size * TRANSLATION_RATIO + 0.5)


def cutout_size(image_size) -> int:
    """The cutout square's side: S/2 rounded (32 pixels at 64x64)."""
    return int(image_size * CUTOUT_RATIO + 0.5)


# ------------------------------------------------------------------ the draws
def draw(policy, batch, image_size: int, seed) -> dict:
    """Each image's random transformation for ``policy``: {name: (B,) tensor}. ``seed`` is a
    stateless seed, an int tensor of shape (2,)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    params = {}
    if "color" in policy:
        params["brightness"] = tf.random.stateless_uniform([batch], seeds[0]) - 0.5
        params["saturation"] = tf.random.stateless_uniform([batch], seeds[1]) * 2.0
        params["contrast"] = tf.random.stateless_uniform([batch], seeds[2]) + 0.5
    if "translation" in policy:
        shift = max_shift(image_size)
        shifts = tf.random.stateless_uniform([2, batch], seeds[3], minval=-shift,
                                             maxval=shift + 1, dtype=tf.int32)
        params["shift_y"], params["shift_x"] = shifts[0], shifts[1]
    if "cutout" in policy:
        side = cutout_size(image_size)
        # The centre over [0, S] for an even side (the authors' range), [0, S) for an odd one.
        centres = tf.random.stateless_uniform([2, batch], seeds[4], minval=0,
                                              maxval=image_size + (1 - side % 2), dtype=tf.int32)
        params["top"], params["left"] = centres[0] - side // 2, centres[1] - side // 2
    return params


def apply(images, policy, params: dict):
    """``policy``'s ops on ``images`` with the draws ``params`` (:func:`draw`)."""
    if "color" in policy:
        images = brightness(images, params["brightness"])
        images = saturation(images, params["saturation"])
        images = contrast(images, params["contrast"])
    if "translation" in policy:
        images = translate(images, params["shift_y"], params["shift_x"])
    if "cutout" in policy:
        images = cutout(images, params["top"], params["left"], cutout_size(images.shape[1]))
    return images


def diff_augment(images, policy, seed):
    """T(images) for the ops of ``policy`` (:func:`policy_from`), drawn from ``seed`` (int
    tensor (2,)); the identity (the same tensor) for no ops. images (B, S, S, C), static S."""
    if not policy:
        return images
    return apply(images, policy, draw(policy, tf.shape(images)[0], images.shape[1], seed))
