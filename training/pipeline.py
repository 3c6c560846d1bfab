"""The input pipeline: ``tf.data`` batches of the training files.

Every file is decoded once at start-up (:mod:`training.image_check`; unusable
ones are skipped with a warning). :func:`make_dataset` then decodes in
parallel, centre-crops and resizes to the model's size, flips at random (the
paper's only augmentation), scales to [-1, 1] and batches. Each epoch's order
and flips are a pure function of (seed, epoch), so a resumed run reads the same
batches an uninterrupted one would have.
"""
from __future__ import annotations

import functools
import os
import sys

import numpy as np
import tensorflow as tf

import utils


def steps_per_epoch(count: int, batch_size: int, train_size: float) -> tuple[int, int]:
    """(steps, batch size) of an epoch. Full batches only, as the original (the last
    partial batch is dropped); a dataset smaller than one batch trains on one
    batch of all its images."""
    used = int(min(count, train_size))
    if used >= batch_size:
        return used // batch_size, batch_size
    return (1, used) if used > 0 else (0, 0)


def read_rgb(path: bytes, image_size: int) -> np.ndarray:
    """Decode one file with Pillow as uint8 RGB (H, W, 3), as :func:`utils.load_rgb` does.

    Runs inside ``tf.data`` (``tf.numpy_function``), so training and completion
    see the same pixels for every mode (CMYK, 16-bit, alpha) and never fail an
    epoch. The files were all decoded once at start-up; one that breaks later
    (deleted or rewritten during training) is replaced by a black image with a
    warning naming it, so the step counter and exact resume stay intact.
    """
    try:
        return utils.load_rgb(os.fsdecode(path), min_size=image_size)
    except utils.ImageReadError as error:
        print(f"warning: {error}; a black image takes its place", file=sys.stderr, flush=True)
        return np.zeros((image_size, image_size, 3), np.uint8)


def decode_image(path, image_size: int, channels: int, plain=True):
    """Read and decode one file to uint8 (S, S, channels), centre-cropped and resized.

    ``plain`` files (see :func:`utils.check_training_image`) are decoded by
    TensorFlow in parallel; the rest (CMYK, 16-bit, alpha, EXIF-rotated, other
    formats) by Pillow through :func:`read_rgb`.
    """
    def with_tensorflow():
        raw = tf.io.read_file(path)
        return tf.io.decode_image(raw, channels=3, expand_animations=False, dtype=tf.uint8)

    def with_pillow():
        return tf.numpy_function(functools.partial(read_rgb, image_size=image_size), [path],
                                 tf.uint8, stateful=False)

    image = tf.cond(plain, with_tensorflow, with_pillow)
    image = tf.ensure_shape(image, [None, None, 3])
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    side = tf.minimum(height, width)
    image = tf.image.crop_to_bounding_box(image, (height - side) // 2, (width - side) // 2,
                                          side, side)

    def resize():
        resized = tf.image.resize(image, [image_size, image_size], method="bicubic",
                                  antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    image = tf.cond(tf.equal(side, image_size), lambda: image, resize)
    return tf.ensure_shape(image, [image_size, image_size, channels])


PREFETCH_BATCHES = 2   # batches decoded ahead of the step


def make_dataset(paths, image_size: int, batch_size: int, seed: int, steps: int,
                 start_step: int = 0, epochs: int | None = None, channels: int = 3,
                 flip: bool = True, plain=None):
    """Batches of float32 images (B, S, S, C) in [-1, 1], from global step ``start_step``.

    One pipeline for all epochs: parallel decode (``plain[i]`` says TensorFlow
    may decode ``paths[i]``; default: Pillow decodes all), a new shuffle every epoch,
    random horizontal flip (the paper's only augmentation), prefetch. Each
    epoch uses ``steps * batch_size`` images; its order and flips are a pure
    function of (seed, epoch), so resuming at any step reproduces the batches.
    """
    count = len(paths)
    per_epoch = steps * batch_size
    all_paths = tf.constant([os.fsencode(path) for path in paths], tf.string)
    all_plain = tf.constant([False] * count if plain is None else list(plain), tf.bool)
    first_epoch = start_step // steps if steps else 0

    # The functions below use tf.cond where they branch on a tensor, so autograph has
    # nothing to convert; skipping its conversion saves about 0.3 s of every start.
    @tf.autograph.experimental.do_not_convert
    def epoch_files(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
        order = order[:per_epoch]
        return tf.data.Dataset.from_tensor_slices(
            (tf.gather(all_paths, order), tf.gather(all_plain, order), order,
             tf.fill([per_epoch], epoch)))

    last_epoch = tf.int64.max if epochs is None else epochs
    files = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(epoch_files)
    files = files.skip((start_step - first_epoch * steps) * batch_size)

    @tf.autograph.experimental.do_not_convert
    def load(path, path_is_plain, index, epoch):
        image = decode_image(path, image_size, channels, path_is_plain)
        if flip:
            image = tf.image.stateless_random_flip_left_right(
                image, seed=tf.stack([tf.cast(seed, tf.int64) * 1000003 + epoch, index]))
        return tf.cast(image, tf.float32) / 127.5 - 1.0

    dataset = files.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=True).prefetch(PREFETCH_BATCHES)
    # No autotuning model: with it, deleting the iterator at the end of a run waited up to
    # 40 s in about half of the runs (TensorFlow 2.21: the iterator's destructor waits for
    # the model thread's timed wait; docs/CPU_SPEED.md). Without it the map uses one
    # call per CPU core, which decodes far faster than a step consumes.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


