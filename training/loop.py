"""Training: build or restore, then one loop that trains and logs, samples and saves.

``train_dcgan.py`` resolves the flags into a :class:`TrainConfig` and calls
:func:`train`. The path of a batch: :mod:`training.pipeline` decodes, crops, flips and
scales the files to (B, S, S, C) in [-1, 1]; :class:`training.train_step.TrainStep`
(one D update, ``g_steps`` G updates, the moving average of G) trains on it
with z drawn uniformly from [-1, 1]; this loop then, on its intervals, logs the
losses (a line and TensorBoard), writes a sample grid of G(fixed z), measures the face
FID (:mod:`evaluation.face_fid`, with ``--fid_interval``) and saves a checkpoint
(:mod:`training.checkpoints`). :mod:`training.distribute` places the run (one device,
several GPUs, several workers).

Resuming is exact: the checkpoint holds the networks, both optimizers, the step,
the z generator's state, the data seed and the fixed sample z; each epoch's
order and flips are a function of (data seed, epoch), so a resumed run reads the
same batches an uninterrupted one would have.

The loop never waits for a step to finish just to read its losses: they are
read (and checked for NaN and infinity) every ``--log_interval`` steps, at
every checkpoint interval and before the final save, and the weights are
checked before every save, so no checkpoint of a diverged model is written.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from model import Architecture, DCGAN
from shared import defaults, speed
from shared.errors import (IOFailure, StopSignals, TrainingError, TrainingInterrupted,
                           UserError, writing)
from shared.precision import resolve_precision
from evaluation import face_fid
from training import checkpoints, distribute, pipeline
from training.train_step import LOSS_KEYS, TrainStep
import utils

keras = tf.keras

SAMPLE_COUNT = 64  # the original's 8x8 sample grid
IO_ERRORS = (OSError, tf.errors.OpError)   # what a failed write raises (errors.writing)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every training option, resolved (``train_dcgan.py --help`` describes each); the
    defaults are its flags' (:mod:`shared.defaults`)."""
    dataset: str
    epoch: int = defaults.DEFAULT_EPOCH
    learning_rate: float = defaults.DEFAULT_LEARNING_RATE
    d_learning_rate: float = defaults.DEFAULT_LEARNING_RATE
    g_learning_rate: float = defaults.DEFAULT_LEARNING_RATE
    ema_decay: float = defaults.DEFAULT_EMA_DECAY
    beta1: float = defaults.DEFAULT_BETA1
    train_size: float = math.inf
    batch_size: int = defaults.DEFAULT_BATCH_SIZE
    image_size: int = defaults.DEFAULT_IMAGE_SIZE
    z_dim: int = defaults.DEFAULT_Z_DIM
    gf_dim: int = defaults.DEFAULT_GF_DIM
    df_dim: int = defaults.DEFAULT_DF_DIM
    c_dim: int = defaults.DEFAULT_C_DIM
    g_steps: int = defaults.DEFAULT_G_STEPS    # the original's 2: docs/EXPERIMENTS.md, "The recipe"
    checkpoint_dir: str = defaults.DEFAULT_CHECKPOINT_DIR
    sample_dir: str = defaults.DEFAULT_SAMPLE_DIR
    log_dir: str = defaults.DEFAULT_LOG_DIR
    seed: int = dataclasses.field(default_factory=defaults.random_seed)
    sample_interval: int = defaults.DEFAULT_SAMPLE_INTERVAL
    checkpoint_interval: int = defaults.DEFAULT_CHECKPOINT_INTERVAL
    log_interval: int = defaults.DEFAULT_LOG_INTERVAL
    fid_interval: int = 0                      # the face FID every this many steps; 0: never
    fid_faces: str | None = None               # its held-out real aligned faces
    fid_samples: int = defaults.DEFAULT_FID_SAMPLES
    precision: str = defaults.DEFAULT_PRECISION
    strategy: str = defaults.DEFAULT_STRATEGY
    max_to_keep: int = 3
    # Regularised training (docs/TRAINING_RECIPES.md); every default is the original's.
    loss: str = defaults.DEFAULT_LOSS
    d_spectral_norm: bool = defaults.DEFAULT_D_SPECTRAL_NORM
    r1_gamma: float = defaults.DEFAULT_R1_GAMMA
    r1_interval: int = defaults.DEFAULT_R1_INTERVAL
    diffaug: tuple = defaults.DEFAULT_DIFFAUG
    lr_decay: str = defaults.DEFAULT_LR_DECAY
    lr_decay_start: int = defaults.DEFAULT_LR_DECAY_START

    @property
    def architecture(self) -> Architecture:
        return Architecture(self.image_size, self.z_dim, self.gf_dim, self.df_dim, self.c_dim,
                            d_spectral_norm=self.d_spectral_norm, loss=self.loss)

    @property
    def recipe(self) -> dict:
        """How the model is trained, as stored in each checkpoint and options.json:
        :data:`RECIPE_FLAGS` and their values (lists for tuples, as JSON reads them back)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in ((name, getattr(self, name)) for name in RECIPE_FLAGS)}


# The training recipe a checkpoint records. A resume that changes one of the first two (part
# of the model: D's layers, and the loss completion's perceptual term follows) is refused;
# the others may change, with a note.
MODEL_RECIPE_FLAGS = ("d_spectral_norm", "loss")
RECIPE_FLAGS = MODEL_RECIPE_FLAGS + (
    "r1_gamma", "r1_interval", "diffaug", "lr_decay", "lr_decay_start", "g_steps",
    "ema_decay", "learning_rate", "d_learning_rate", "g_learning_rate", "beta1")


# ---------------------------------------------------------------- the entry point
def train(config: TrainConfig, log=print, check: image_check.ImageCheck | None = None) -> dict:
    """Train a DCGAN as ``config`` says; returns the last logged losses.

    ``check`` is the check of the training files (:func:`image_check.start`), if it was
    started before TensorFlow was imported; else it starts here.

    Raises :class:`TrainingError` for bad input or a failure (with the last
    good checkpoint kept; a failed write or read of files is translated here,
    once) and :class:`TrainingInterrupted` after SIGINT/SIGTERM (with a checkpoint).
    """
    try:
        face_fid.check_options(config.fid_interval, config.fid_faces, config.fid_samples,
                               flag=lambda name: f"--{name}")
    except UserError:
        if check is not None:
            check.cancel()                        # the files' check need not finish
        raise
    config = dataclasses.replace(config, precision=resolve_precision(config.precision))
    if check is None:
        check = start_checks(config)
    images = check.result(log)
    placement = distribute.place(config.strategy, config.batch_size, config.checkpoint_dir)
    steps, _ = pipeline.steps_per_epoch(len(images), config.batch_size, config.train_size)
    state = TrainingState(config, placement, log, total_steps=steps * config.epoch)
    resumed_from = state.restore()
    arch = config.architecture
    fid = (face_fid.Monitor(config.fid_faces, arch.image_size, arch.c_dim, arch.z_dim,
                            config.fid_samples, state.checkpoint_dir, log)
           if config.fid_interval and placement.is_chief else None)
    log(f"Model: {arch.image_size}x{arch.image_size}, z_dim {arch.z_dim}, gf_dim "
        f"{arch.gf_dim}, df_dim {arch.df_dim}, precision {config.precision}, "
        f"{placement.replicas} replica(s)")
    options = dataclasses.asdict(config) | {"seed": int(state.data_seed.numpy()),
                                            "recipe": config.recipe,
                                            "cpu_kernels": speed.report()}
    try:
        with writing("options.json", IO_ERRORS):
            utils.write_json(options, os.path.join(state.checkpoint_dir, "options.json"))
        with StopSignals() as stop:
            last = train_loop(config, state, placement, images, resumed_from, stop, log, fid)
    except IOFailure as failure:
        raise io_error(failure, state) from None
    if stop.signal is not None:
        raise TrainingInterrupted(
            f"Stopped at step {int(state.step.numpy())}; checkpoint {state.last_saved}. Run "
            "the same command again to resume from it.", stop.signal)
    return last


def start_checks(config: TrainConfig) -> image_check.ImageCheck:
    """:func:`image_check.start` for ``config``: the dataset and output folders checked,
    the files' check started."""
    return image_check.start(config.dataset, config.image_size, config.checkpoint_dir,
                             config.sample_dir, config.log_dir)


# ---------------------------------------------------------------- the loop
def train_loop(config: TrainConfig, state: TrainingState, placement: distribute.Placement,
               images: list[utils.ImageCheck], resumed_from: str | None, stop: StopSignals,
               log=print, fid: face_fid.Monitor | None = None) -> dict:
    """Train from the restored step to ``--epoch`` epochs; log, sample, measure the face
    FID (``fid``, the chief's) and save on their intervals, and save at the end (or at a
    signal). Returns the last logged losses."""
    steps, batch_size = pipeline.steps_per_epoch(len(images), config.batch_size,
                                                 config.train_size)
    batch_size -= batch_size % placement.replicas  # a small dataset's one batch, split evenly
    if steps == 0 or batch_size == 0:
        raise TrainingError(f"no training images in '{config.dataset}'")
    start_step = step = int(state.step.numpy())
    total_steps = steps * config.epoch
    if resumed_from:
        log(f"Resuming from {resumed_from} at step {start_step} (epoch {start_step // steps}).")
    if start_step >= total_steps:
        log(f"Nothing to train: step {start_step} already reaches --epoch {config.epoch} "
            f"({total_steps} steps of {steps} per epoch here); raise --epoch to train further.")
    outputs = Outputs(config, placement.is_chief)
    dataset = pipeline.make_dataset([image.path for image in images], config.image_size,
                                    batch_size, int(state.data_seed.numpy()), steps, start_step,
                                    config.epoch, config.c_dim,
                                    plain=[image.plain for image in images])
    last, result, started = {}, None, time.time()
    with progress_bar(start_step, total_steps, enabled=placement.is_chief) as bar:
        log = beside(bar, log)                           # lines above the bar
        for batch in reading(dataset.take(max(total_steps - start_step, 0))):
            z = state.z_rng.uniform([batch_size, config.z_dim], -1.0, 1.0)
            result = state.train_step(batch, z)          # tensors: nothing waits for the step
            step += 1
            state.step.assign(step)
            bar.update()
            epoch, index = position(step, steps)
            if step % config.log_interval == 0 or index == steps:
                last = state.read_losses(result, step)   # waits for the step; checks NaN/inf
                log(f"Epoch: [{epoch:2d}] [{index:4d}/{steps:4d}] step: {step} time: "
                    f"{time.time() - started:.1f}s, d_loss: {last['d_loss']:.8f}, "
                    f"g_loss: {last['g_loss']:.8f}")
                outputs.losses(last, step)
            if step % config.sample_interval == 0:
                outputs.samples(state.sample, epoch, index, step, z, result)
            if fid is not None and step % config.fid_interval == 0:
                value, seconds = fid.measure(lambda z: state.train_step.sample(z).numpy())
                log(f"step: {step} face_fid: {value:.4f} ({config.fid_samples} samples, "
                    f"{seconds:.1f}s)")
                outputs.losses({"face_fid": value}, step)
            if step % config.checkpoint_interval == 0:
                state.read_losses(result, step)
                log(f"Saved checkpoint {state.save()}")
            if stop.signal is not None:
                log(f"Received {signal.Signals(stop.signal).name}: saving a checkpoint and "
                    "stopping (signal again to stop without saving)")
                break
        if step != start_step or not resumed_from:
            if result is not None:
                state.read_losses(result, step)
            if state.last_saved is None or checkpoints.step_of(state.last_saved) != step:
                log(f"Saved checkpoint {state.save()}")
            if step % config.sample_interval and stop.signal is None:
                outputs.samples(state.sample, *position(step, steps), step)
    outputs.close()
    return last


def position(step: int, steps: int) -> tuple[int, int]:
    """(epoch from 0, step within it from 1) of global step ``step`` (from 1; 0 -> (0, 0))."""
    if step == 0:
        return 0, 0
    return (step - 1) // steps, (step - 1) % steps + 1


def progress_bar(start_step: int, total_steps: int, enabled: bool = True) -> tqdm:
    """A bar over the training steps with their rate and the time left, on stderr; in a
    log file (not a terminal) one update every 10 seconds."""
    interactive = getattr(sys.stderr, "isatty", lambda: False)()
    return tqdm(total=max(total_steps, start_step), initial=start_step, unit="step",
                desc="Training", dynamic_ncols=True, mininterval=0.5 if interactive else 10.0,
                disable=not enabled or start_step >= total_steps, file=sys.stderr)


def beside(bar: tqdm, log):
    """``log``, with the progress bar cleared for each line and drawn again after it."""
    def write(line: str) -> None:
        with bar.external_write_mode():
            log(line)
    return write


# ---------------------------------------------------------------- what a checkpoint holds
class TrainingState:
    """The run's networks, train step and counters; restored from its newest checkpoint,
    saved only from finite weights.

    A checkpoint holds what :func:`checkpoints.training_checkpoint` lists: G and D,
    both optimizers, the moving average of G, the step, the data seed, the z
    generator's state, the fixed sample z and the recipe (``config.recipe``).
    ``total_steps``: the run's last step (``--epoch`` epochs), where a decaying
    learning rate reaches 0.
    """

    def __init__(self, config: TrainConfig, placement: distribute.Placement, log=print,
                 total_steps: int | None = None):
        self.config = config
        self.log = log
        self.checkpoint_dir = placement.checkpoint_dir
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.data_seed = tf.Variable(config.seed, dtype=tf.int64, trainable=False)
        keras.utils.set_random_seed(config.seed)  # the initial weights, reproducible from the seed
        with placement.strategy.scope():
            gan = DCGAN(config.architecture, config.precision, sync_bn=placement.replicas > 1)
            self.train_step = TrainStep(gan, config.learning_rate, config.beta1, config.g_steps,
                                        d_learning_rate=config.d_learning_rate,
                                        g_learning_rate=config.g_learning_rate,
                                        ema_decay=config.ema_decay, r1_gamma=config.r1_gamma,
                                        r1_interval=config.r1_interval, diffaug=config.diffaug,
                                        lr_decay=config.lr_decay,
                                        lr_decay_start=config.lr_decay_start,
                                        total_steps=total_steps, step=self.step,
                                        seed=self.data_seed)
        self.z_rng = tf.random.Generator.from_seed(config.seed)
        sample_z = np.random.default_rng(config.seed).uniform(-1, 1, (SAMPLE_COUNT, config.z_dim))
        self.sample_z = tf.Variable(sample_z.astype(np.float32), trainable=False)
        self.checkpoint = checkpoints.training_checkpoint(
            self.train_step, **self._counters(),
            recipe=tf.Variable(json.dumps(config.recipe, sort_keys=True), trainable=False))
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.checkpoint_dir, max_to_keep=config.max_to_keep,
            checkpoint_name=checkpoints.CHECKPOINT_NAME)
        self.last_saved: str | None = None

    def _counters(self) -> dict:
        return dict(step=self.step, data_seed=self.data_seed, z_rng=self.z_rng,
                    sample_z=self.sample_z)

    def restore(self) -> str | None:
        """Resume from the newest loadable checkpoint, if any; returns its prefix.

        A training checkpoint resumes exactly. An export (no optimizer state, e.g. the
        shipped model) is fine-tuned: its weights and step, fresh optimizer state. A
        run that kept no average of G goes on with one, started from G.
        """
        prefix = checkpoints.latest_loadable(self.checkpoint_dir, warn=self.log)
        if prefix is None:
            return None
        self.check_recipe(prefix)
        average = self.train_step.generator_ema is not None
        if checkpoints.is_inference_only(prefix):
            # As the 2016 code continued from the checkpoint it shipped.
            checkpoints.restore(checkpoints.networks_checkpoint(self.train_step.gan, prefix),
                                prefix, partial=True)
            if average:
                self.train_step.reset_ema()
            self.step.assign(checkpoints.read_step(prefix))
            self.log(f"Starting from {prefix}, a model exported for completion (step "
                     f"{int(self.step.numpy())}): its generator and discriminator weights, with "
                     "fresh optimizer state. To train from scratch instead, pass another "
                     "--checkpoint_dir.")
        elif average and not checkpoints.has_ema(prefix):
            # --ema_decay 0 before, or an older version.
            checkpoints.restore(checkpoints.training_checkpoint(
                self.train_step, with_ema=False, **self._counters()), prefix)
            self.train_step.reset_ema()
            self.last_saved = prefix
            self.log(f"{prefix} has no moving average of G's weights: starting one from G "
                     f"(--ema_decay {self.config.ema_decay}).")
        else:
            checkpoints.restore(checkpoints.training_checkpoint(self.train_step,
                                                               **self._counters()),
                                prefix, partial=True)
            self.last_saved = prefix
        self.train_step.set_learning_rates()   # the flags' (Keras restores the checkpoint's)
        return prefix

    def check_recipe(self, prefix: str) -> None:
        """Refuse a checkpoint of another model (architecture, spectral norm, loss); note
        each other recipe flag that differs from the checkpoint's, which this run changes."""
        stored = checkpoints.read_architecture(prefix)
        config = self.config
        wanted = config.architecture
        fresh = "or a new --checkpoint_dir to start afresh"
        if dataclasses.replace(stored, d_spectral_norm=wanted.d_spectral_norm,
                               loss=wanted.loss) != wanted:
            raise TrainingError(
                f"the checkpoint in '{config.checkpoint_dir}' is of another model "
                f"({stored}) than the flags ask for ({wanted}); pass the "
                f"same --image_size/--z_dim/--gf_dim/--df_dim/--c_dim to resume it, {fresh}")
        if stored.d_spectral_norm != wanted.d_spectral_norm:
            raise TrainingError(
                f"the checkpoint in '{config.checkpoint_dir}' was trained "
                f"{'with' if stored.d_spectral_norm else 'without'} --d_spectral_norm (its "
                f"discriminator has {'no ' if stored.d_spectral_norm else ''}batch norm); "
                f"{'pass' if stored.d_spectral_norm else 'leave out'} --d_spectral_norm to "
                f"resume it, {fresh}")
        if stored.loss != wanted.loss:
            raise TrainingError(
                f"the checkpoint in '{config.checkpoint_dir}' was trained with --loss "
                f"{stored.loss}, not {wanted.loss}; pass --loss {stored.loss} to resume it, "
                f"{fresh}")
        recipe = checkpoints.read_recipe(prefix)
        for name, value in config.recipe.items():
            if name in recipe and recipe[name] != value:
                self.log(f"note: {prefix} was trained with --{name} "
                         f"{flag_text(recipe[name])}; this run goes on with --{name} "
                         f"{flag_text(value)} from step {checkpoints.read_step(prefix)}.")

    def sample(self) -> np.ndarray:
        """G(fixed sample z): (SAMPLE_COUNT, S, S, C) in [-1, 1]."""
        return self.train_step.sample(self.sample_z).numpy()

    def read_losses(self, outputs: dict, step: int) -> dict:
        """The losses of a step as floats (waits for it to finish); non-finite ones stop training."""
        losses = {key: float(outputs[key]) for key in LOSS_KEYS}
        bad = [key for key, value in losses.items() if not math.isfinite(value)]
        if bad:
            raise TrainingError(
                f"non-finite {', '.join(bad)} at step {step}: training diverged, so no "
                f"checkpoint of it is written. {self.kept()} Try a lower --learning_rate "
                "or --precision float32")
        return losses

    def save(self) -> str:
        """Write a checkpoint of the current step, unless the weights went non-finite.

        A checkpoint is only written from finite weights, so the last checkpoint
        is always one to resume from. Old checkpoints are removed only after the
        new one is complete (``CheckpointManager``).
        """
        step = int(self.step.numpy())
        gan = self.train_step.gan
        variables = gan.generator.variables + gan.discriminator.variables
        if not bool(tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in variables])):
            raise TrainingError(
                f"non-finite weights at step {step}: training diverged, so no checkpoint of it "
                f"is written. {self.kept()} Try a lower --learning_rate or --precision float32")
        with writing("checkpoint", IO_ERRORS):
            self.last_saved = self.manager.save(checkpoint_number=step)
        return self.last_saved

    def kept(self) -> str:
        if self.last_saved is None:
            return "No checkpoint had been written yet."
        return f"The last good checkpoint, {self.last_saved}, is kept."


def flag_text(value) -> str:
    """A recipe value as on the command line: a list as a comma list, '' for none."""
    if isinstance(value, (list, tuple)):
        return "'" + ",".join(value) + "'"
    return str(value)


# ---------------------------------------------------------------- what the loop writes
class Outputs:
    """Losses to TensorBoard and sample grids to ``--sample_dir``, from the chief only."""

    def __init__(self, config: TrainConfig, is_chief: bool):
        self.config = config
        self.is_chief = is_chief
        if is_chief:
            with writing("samples", IO_ERRORS):
                os.makedirs(config.sample_dir, exist_ok=True)
            with writing("logs", IO_ERRORS):
                self.writer = tf.summary.create_file_writer(config.log_dir)
        else:
            self.writer = tf.summary.create_noop_writer()

    def losses(self, losses: dict, step: int) -> None:
        with writing("logs", IO_ERRORS), self.writer.as_default():
            for key, value in losses.items():
                tf.summary.scalar(key, value, step=step)

    def samples(self, sample, epoch: int, index: int, step: int, z=None, outputs=None) -> None:
        """``samples/train_EE_IIII.png``, the 8x8 grid of ``sample()``, and its TensorBoard
        image; with the step's ``z`` and ``outputs``, histograms of z, D(x) and D(G(z))."""
        if not self.is_chief:
            return
        samples = sample()
        path = os.path.join(self.config.sample_dir, f"train_{epoch:02d}_{index:04d}.png")
        with writing("samples", IO_ERRORS):
            utils.save_grid(samples, path, (8, 8) if len(samples) == 64 else None)
        with writing("logs", IO_ERRORS), self.writer.as_default():
            tf.summary.image("samples", utils.make_grid(samples)[None], step=step)
            if z is not None:
                tf.summary.histogram("z", z, step=step)
                tf.summary.histogram("d_real", outputs["d_real"], step=step)
                tf.summary.histogram("d_fake", outputs["d_fake"], step=step)

    def close(self) -> None:
        with writing("logs", IO_ERRORS):
            self.writer.close()


# ---------------------------------------------------------------- signals and I/O failures
def reading(dataset):
    """Iterate ``dataset``; a file TensorFlow cannot read any more raises :class:`IOFailure`.

    Every file was decoded at start-up, so this only happens when one is changed
    or deleted during training; a resume checks the files again.
    """
    iterator = iter(dataset)
    while True:
        try:
            images = next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as error:
            raise IOFailure("training data", error) from error
        yield images


def io_error(failure: IOFailure, state: TrainingState) -> TrainingError:
    """The message for a failed write or read; unless a checkpoint (or the options at start)
    failed, save a checkpoint first."""
    config = state.config
    if failure.what == "options.json":
        return TrainingError(f"cannot write options.json to '{state.checkpoint_dir}' "
                             f"({failure.reason})")
    kept = state.kept()
    if failure.what != "checkpoint":
        try:
            kept = f"Checkpoint {state.save()} was saved."
        except (IOFailure, TrainingError):
            pass
    if failure.what == "training data":
        return TrainingError(
            f"cannot read the training data at step {int(state.step.numpy())} "
            f"({failure.reason}): was a file changed or deleted during training? {kept} "
            "Run the same command again to resume; the images are checked again first.")
    folder = {"checkpoint": config.checkpoint_dir, "samples": config.sample_dir,
              "logs": config.log_dir}[failure.what]
    return TrainingError(
        f"cannot write {failure.what} to '{folder}' ({failure.reason}) at step "
        f"{int(state.step.numpy())}. {kept} Free some space or fix the folder's "
        "permissions, then run the same command again to resume.")
