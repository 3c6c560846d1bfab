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
  exactly where it stopped; with ``--ema_decay``, ``generator_ema/...`` (the
  moving average of G's weights) and ``ema_updates``; ``recipe``, the training
  flags as JSON (``training.loop.RECIPE_FLAGS``; an export keeps it in its
  ``export_info``).

Spectral normalisation (``--d_spectral_norm``, recorded in the architecture) adds
each of D's layers' power-iteration vector, ``discriminator/<layer>/sn_u``, and
removes D's batch norm; an architecture record without the field (every checkpoint
before it, the shipped one) rebuilds D as before.

Completion and exports take the average of G's weights when a checkpoint has
one: :func:`networks_checkpoint` maps ``generator_ema/...`` onto the generator.
An export holds it as ``generator/...``, so every checkpoint loads the same way.
"""
from __future__ import annotations

import glob
import json
import os
import re
from typing import TYPE_CHECKING

import tensorflow as tf

from model import Architecture, DCGAN, recalibrate_batch_norm
from shared.errors import CheckpointError

if TYPE_CHECKING:
    from training.train_step import TrainStep

CHECKPOINT_NAME = "DCGAN.model"
ARCHITECTURE_KEY = "architecture/.ATTRIBUTES/VARIABLE_VALUE"
STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"
TRAINED_STEPS_KEY = "trained_steps/.ATTRIBUTES/VARIABLE_VALUE"
OPTIMIZER_PREFIX = "optimizer_g/"
EMA_PREFIX = "generator_ema/"
EXPORT_INFO_KEY = "export_info/.ATTRIBUTES/VARIABLE_VALUE"
RECIPE_KEY = "recipe/.ATTRIBUTES/VARIABLE_VALUE"


def training_checkpoint(train_step: TrainStep, with_ema: bool = True,
                        **extra) -> tf.train.Checkpoint:
    """Everything training needs to resume; ``extra`` adds step, RNG state, sample z.

    ``with_ema=False`` leaves the average of G out (to restore a checkpoint written
    without one)."""
    gan = train_step.gan
    if train_step.generator_ema is not None and with_ema:
        extra = dict(extra, generator_ema=train_step.generator_ema,
                     ema_updates=train_step.ema_updates)
    return tf.train.Checkpoint(generator=gan.generator, discriminator=gan.discriminator,
                               optimizer_g=train_step.g_optimizer,
                               optimizer_d=train_step.d_optimizer,
                               architecture=tf.Variable(gan.arch.to_json()), **extra)


def has_ema(prefix: str) -> bool:
    """True if the checkpoint holds a moving average of G's weights (``--ema_decay``)."""
    reader = tf.train.load_checkpoint(prefix)
    return any(name.startswith(EMA_PREFIX) for name in reader.get_variable_to_shape_map())


def networks_checkpoint(dcgan: DCGAN, prefix: str, ema: bool | None = None) -> tf.train.Checkpoint:
    """A checkpoint object that restores ``prefix``'s networks into ``dcgan.generator`` and
    ``dcgan.discriminator``; the generator gets the average of G's weights if ``prefix``
    has one (the weights to sample and complete with). ``ema``: :func:`has_ema` of
    ``prefix``, if the caller already knows it."""
    if has_ema(prefix) if ema is None else ema:
        return tf.train.Checkpoint(generator_ema=dcgan.generator,
                                   discriminator=dcgan.discriminator)
    return tf.train.Checkpoint(generator=dcgan.generator, discriminator=dcgan.discriminator)


def read_export_info(prefix: str) -> dict:
    """What :func:`export` recorded about how it made ``prefix`` ({} for other checkpoints)."""
    reader = tf.train.load_checkpoint(prefix)
    if not reader.has_tensor(EXPORT_INFO_KEY):
        return {}
    return json.loads(reader.get_tensor(EXPORT_INFO_KEY).decode())


def inference_checkpoint(dcgan: DCGAN, **extra) -> tf.train.Checkpoint:
    """The networks and the architecture record only (what completion needs)."""
    return tf.train.Checkpoint(generator=dcgan.generator, discriminator=dcgan.discriminator,
                               architecture=tf.Variable(dcgan.arch.to_json()), **extra)


def step_of(prefix: str) -> int:
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else -1


def candidates(directory: str) -> list[str]:
    """Prefixes of the checkpoints in ``directory`` that look complete, newest first.

    A checkpoint looks complete when its ``.index`` and ``.data-*`` files
    exist. TensorFlow's ``checkpoint`` state file is only a hint (it is written
    last, so a kill can leave it naming an older checkpoint, or naming one whose
    files a later failure removed); the highest step present wins.
    """
    if not os.path.isdir(directory):
        return []
    found = set()
    for index in glob.glob(os.path.join(glob.escape(directory), "*.index")):
        prefix = index[:-len(".index")]
        if glob.glob(glob.escape(prefix) + ".data-*"):
            found.add(prefix)
    try:
        named = tf.train.latest_checkpoint(directory)
    except (tf.errors.OpError, ValueError, UnicodeDecodeError):
        named = None  # a damaged state file: the files themselves decide
    if named and os.path.normpath(named) not in map(os.path.normpath, found) and \
            os.path.exists(named + ".index"):
        found.add(named)
    return sorted(found, key=step_of, reverse=True)


def latest(directory: str) -> str | None:
    """Prefix of the newest checkpoint in ``directory`` that looks complete, or None."""
    found = candidates(directory)
    return found[0] if found else None


def verify(prefix: str) -> None:
    """Read every tensor of a checkpoint (TensorFlow checks each one's CRC32C checksum).

    Raises :class:`CheckpointError` if any is missing, truncated or corrupt, as
    a process killed while writing, or a full disk, can leave it.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as error:  # noqa: BLE001 -- the reader raises OpError, IndexError, ValueError...
        raise CheckpointError(
            f"checkpoint '{prefix}' is damaged ({str(error).splitlines()[0]})") from None


def latest_loadable(directory: str, warn=print) -> str | None:
    """The newest checkpoint in ``directory`` that :func:`verify` accepts, or None.

    Damaged newer ones are skipped with a warning each (and left on disk: the
    next save of that step replaces them).
    """
    for prefix in candidates(directory):
        try:
            verify(prefix)
        except CheckpointError as error:
            warn(f"warning: {error}; trying an older one")
            continue
        return prefix
    return None


def find(directory: str, warn=print) -> str:
    """Like :func:`latest_loadable`, but a missing checkpoint is a :class:`CheckpointError`."""
    if not os.path.exists(directory):
        raise CheckpointError(
            f"checkpoint directory '{directory}' does not exist: train a model with "
            f"'train_dcgan.py --checkpoint_dir {directory}' or pass --checkpointDir")
    prefix = latest_loadable(directory, warn)
    if prefix is None:
        raise CheckpointError(
            f"no checkpoint in '{directory}' that can be loaded: train a model with "
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


def read_recipe(prefix: str) -> dict:
    """The training recipe a checkpoint records ({} for one written before recipes were
    recorded); an export's is in its export info."""
    reader = tf.train.load_checkpoint(prefix)
    if reader.has_tensor(RECIPE_KEY):
        return json.loads(reader.get_tensor(RECIPE_KEY).decode())
    return read_export_info(prefix).get("recipe", {})


def read_step(prefix: str) -> int:
    """Training steps behind a checkpoint: its step counter, or an export's record of it."""
    reader = tf.train.load_checkpoint(prefix)
    for key in (STEP_KEY, TRAINED_STEPS_KEY):
        if reader.has_tensor(key):
            return int(reader.get_tensor(key))
    return 0


def is_inference_only(prefix: str) -> bool:
    """True for a checkpoint without optimizer state (an :func:`export`): fine-tuned, not resumed."""
    reader = tf.train.load_checkpoint(prefix)
    return not any(name.startswith(OPTIMIZER_PREFIX)
                   for name in reader.get_variable_to_shape_map())


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


def load_for_completion(directory: str, precision: str = "float32",
                        warn=print) -> tuple[DCGAN, str]:
    """Build the DCGAN the newest intact checkpoint describes and load its weights: (dcgan, prefix).

    ``dcgan.generator`` is the average of G's weights when the checkpoint has one."""
    prefix = find(directory, warn)
    arch = read_architecture(prefix)
    dcgan = DCGAN(arch, precision=precision)
    restore(networks_checkpoint(dcgan, prefix), prefix, partial=True)
    return dcgan, prefix


def export(directory: str, out_dir: str, step: int | None = None, real_batches=None,
           z_batches=None) -> str:
    """Copy a trained model's networks and architecture, without optimizer state, to ``out_dir``.

    Takes the newest intact checkpoint of ``directory`` (or the one of
    ``step``) and writes ``out_dir/DCGAN.model-<step>``, float32 as trained
    (a 64x64 model is 37.8 MB instead of 113 MB). Returns the new prefix.
    Checkpoints already in ``out_dir`` are replaced. The generator is the
    average of G's weights if the run kept one. ``real_batches`` (images in
    [-1, 1]) recompute D's batch-norm statistics on real faces and ``z_batches``
    those of the average of G on z (not used for a run without one)
    (:func:`model.recalibrate_batch_norm`); the export records what was done.
    """
    if step is None:
        prefix = find(directory)
    else:
        prefix = os.path.join(directory, f"{CHECKPOINT_NAME}-{step}")
        if prefix not in candidates(directory):
            raise CheckpointError(f"no checkpoint of step {step} in '{directory}' (it has: "
                                  + ", ".join(map(str, sorted(map(step_of, candidates(directory)))))
                                  + ")")
        verify(prefix)
    dcgan = DCGAN(read_architecture(prefix))
    ema = has_ema(prefix)
    restore(networks_checkpoint(dcgan, prefix, ema), prefix, partial=True)
    trained = read_step(prefix)
    info = dict(read_export_info(prefix), source=os.path.basename(prefix))
    recipe = read_recipe(prefix)
    if recipe:
        info["recipe"] = recipe
    info["generator"] = "ema" if ema else info.get("generator", "trained")
    if real_batches is not None:
        real_batches = list(real_batches)
        info["d_batch_norm_images"] = sum(len(batch) for batch in real_batches)
        recalibrate_batch_norm(dcgan.discriminator, real_batches)
    if z_batches is not None and info["generator"] == "ema":
        z_batches = list(z_batches)
        info["g_batch_norm_z"] = sum(len(batch) for batch in z_batches)
        recalibrate_batch_norm(dcgan.generator, z_batches)
    os.makedirs(out_dir, exist_ok=True)
    for old in candidates(out_dir):
        for path in glob.glob(glob.escape(old) + ".*"):
            os.remove(path)
    checkpoint = inference_checkpoint(dcgan, trained_steps=tf.Variable(trained, dtype=tf.int64),
                                      export_info=tf.Variable(json.dumps(info, sort_keys=True)))
    # No TensorFlow "checkpoint" state file: training in out_dir (fine-tuning the export)
    # then never lists the export among the checkpoints it rotates out and deletes.
    state = os.path.join(out_dir, "checkpoint")
    if os.path.exists(state):
        os.remove(state)
    checkpoint.save_counter.assign(1)     # saved like every checkpoint, which restore expects
    return checkpoint.write(os.path.join(out_dir, f"{CHECKPOINT_NAME}-{trained}"))
