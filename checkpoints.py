"""Checkpoints: what they hold, how they are found, and how they load.

A checkpoint is TensorFlow's own object-based format (``tf.train.Checkpoint``;
never a pickle) written as ``<dir>/DCGAN.model-<step>.{index,data-*}`` with
TensorFlow's ``checkpoint`` state file naming the newest. It holds

* ``generator/...`` and ``discriminator/...``: the weights, keyed by the
  original's layer names (``g_h0_lin``, ``g_bn0``, ``d_h0_conv``, ...);
* ``architecture``: the :class:`model.Architecture` as JSON, so any checkpoint
  rebuilds its own networks without the user repeating training flags;
* for training only: ``optimizer_g``/``optimizer_d`` (Adam state), ``step``,
  the z random generator's state and the fixed sample z, so training resumes
  exactly where it stopped.
"""
from __future__ import annotations

import glob
import os
import re

import tensorflow as tf

from errors import CheckpointError
from model import Architecture, DCGAN

CHECKPOINT_NAME = "DCGAN.model"
ARCHITECTURE_KEY = "architecture/.ATTRIBUTES/VARIABLE_VALUE"
STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"


def training_checkpoint(dcgan: DCGAN, **extra) -> tf.train.Checkpoint:
    """Everything training needs to resume; ``extra`` adds step, RNG state, sample z."""
    return tf.train.Checkpoint(generator=dcgan.generator, discriminator=dcgan.discriminator,
                               optimizer_g=dcgan.g_optimizer, optimizer_d=dcgan.d_optimizer,
                               architecture=tf.Variable(dcgan.arch.to_json()), **extra)


def inference_checkpoint(dcgan: DCGAN, **extra) -> tf.train.Checkpoint:
    """The networks and the architecture record only (what completion needs)."""
    return tf.train.Checkpoint(generator=dcgan.generator, discriminator=dcgan.discriminator,
                               architecture=tf.Variable(dcgan.arch.to_json()), **extra)


def _step_of(prefix: str) -> int:
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else -1


def latest(directory: str) -> str | None:
    """Prefix of the newest complete checkpoint in ``directory``, or None.

    TensorFlow's ``checkpoint`` state file is trusted only if the files it names
    exist; otherwise the highest-numbered ``*.index`` with its data files wins.
    """
    if not os.path.isdir(directory):
        return None
    prefix = tf.train.latest_checkpoint(directory)
    if prefix and os.path.exists(prefix + ".index"):
        return prefix
    candidates = []
    for index in glob.glob(os.path.join(glob.escape(directory), "*.index")):
        prefix = index[:-len(".index")]
        if glob.glob(glob.escape(prefix) + ".data-*"):
            candidates.append(prefix)
    return max(candidates, key=_step_of) if candidates else None


def find(directory: str) -> str:
    """Like :func:`latest`, but a missing checkpoint is a :class:`CheckpointError`."""
    if not os.path.exists(directory):
        raise CheckpointError(
            f"checkpoint directory '{directory}' does not exist: train a model with "
            f"'train_dcgan.py --checkpoint_dir {directory}' or pass --checkpointDir")
    prefix = latest(directory)
    if prefix is None:
        raise CheckpointError(
            f"no checkpoint in '{directory}': train a model with "
            f"'train_dcgan.py --checkpoint_dir {directory}' or pass the right --checkpointDir")
    return prefix


def read_architecture(prefix: str) -> Architecture:
    """The architecture record stored in a checkpoint."""
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint '{prefix}': {error}") from None
    if not reader.has_tensor(ARCHITECTURE_KEY):
        raise CheckpointError(
            f"'{prefix}' has no architecture record, so it was not written by this toolkit "
            "(checkpoints of the 2016 TensorFlow 1 code cannot be loaded): train a new model "
            "with train_dcgan.py")
    try:
        return Architecture.from_json(reader.get_tensor(ARCHITECTURE_KEY).decode())
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"'{prefix}' has an unusable architecture record: {error}") from None


def read_step(prefix: str) -> int:
    reader = tf.train.load_checkpoint(prefix)
    return int(reader.get_tensor(STEP_KEY)) if reader.has_tensor(STEP_KEY) else 0


def restore(checkpoint: tf.train.Checkpoint, prefix: str, partial: bool = False) -> None:
    """Restore ``checkpoint`` from ``prefix``; every object it tracks must be found there.

    ``partial`` allows the file to hold more than we ask for (optimizer state
    when only the networks are needed).
    """
    try:
        status = checkpoint.restore(prefix)
        if partial:
            status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, tf.errors.OpError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint '{prefix}' does not fit the model it describes "
            f"({str(error).splitlines()[0]}); it may come from an incompatible version") from None


def load_for_completion(directory: str, precision: str = "float32") -> tuple[DCGAN, str]:
    """Build the DCGAN a checkpoint describes and load its weights: (dcgan, prefix)."""
    prefix = find(directory)
    arch = read_architecture(prefix)
    dcgan = DCGAN(arch, precision=precision)
    restore(tf.train.Checkpoint(generator=dcgan.generator, discriminator=dcgan.discriminator),
            prefix, partial=True)
    return dcgan, prefix
