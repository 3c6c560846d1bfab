"""Training: the input pipeline and the loop that trains, samples, logs and checkpoints.

``train_dcgan.py`` parses flags and calls :func:`train`. The loop is the
original's (Radford et al. 2016; Amos 2016): per step one discriminator update
and ``g_steps`` generator updates on a batch of real faces and a batch of z
drawn uniformly from [-1, 1]; Adam with lr 2e-4 and beta1 0.5.

Resuming is exact: the checkpoint holds the networks, both optimizers, the step,
the z generator's state, the data seed and the fixed sample z; each epoch's
order and flips are a function of (data seed, epoch), so a resumed run reads the
same batches an uninterrupted one would have.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import signal
import sys
import threading
import time

import numpy as np
import tensorflow as tf

import checkpoints
import distribute
import utils
from errors import TrainingError, TrainingInterrupted
from model import Architecture, DCGAN
from precision import resolve_precision

keras = tf.keras

SAMPLE_COUNT = 64  # the original's 8x8 sample grid


@dataclasses.dataclass
class TrainConfig:
    dataset: str
    epoch: int = 25
    learning_rate: float = 0.0002
    d_learning_rate: float | None = None   # None: learning_rate
    g_learning_rate: float | None = None   # None: learning_rate
    ema_decay: float = 0.999
    beta1: float = 0.5
    train_size: float = math.inf
    batch_size: int = 64
    image_size: int = 64
    z_dim: int = 100
    gf_dim: int = 64
    df_dim: int = 64
    c_dim: int = 3
    g_steps: int = 2
    checkpoint_dir: str = "checkpoint"
    sample_dir: str = "samples"
    log_dir: str = "logs"
    seed: int | None = None
    sample_interval: int = 100
    checkpoint_interval: int = 500
    log_interval: int = 10
    precision: str = "auto"
    strategy: str = "auto"
    max_to_keep: int = 3

    @property
    def architecture(self) -> Architecture:
        return Architecture(self.image_size, self.z_dim, self.gf_dim, self.df_dim, self.c_dim)


# -------------------------------------------------------------------- data
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

    def load(path, path_is_plain, index, epoch):
        image = decode_image(path, image_size, channels, path_is_plain)
        if flip:
            image = tf.image.stateless_random_flip_left_right(
                image, seed=tf.stack([tf.cast(seed, tf.int64) * 1000003 + epoch, index]))
        return tf.cast(image, tf.float32) / 127.5 - 1.0

    dataset = files.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


# -------------------------------------------------------------------- loop
LOSS_KEYS = ("d_loss", "d_loss_real", "d_loss_fake", "g_loss")


class StopSignals:
    """Within ``with``: SIGINT and SIGTERM set ``self.signal`` instead of killing the process.

    The loop checks it after every step, saves a checkpoint and stops. A second
    signal stops at once (``KeyboardInterrupt``); the checkpoints already on
    disk stay loadable, as after any kill. Outside the main thread (where
    Python cannot install handlers) signals keep their default behaviour.
    """

    def __init__(self):
        self.signal: int | None = None
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number, frame):
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = number  # no printing here: the main thread may be inside print()

    def __exit__(self, *exc_info):
        for number, handler in self.previous.items():
            signal.signal(number, handler)


class IOFailure(Exception):
    """Writing ``what`` (or reading the training data) failed; :meth:`Trainer.run` turns it
    into a clear TrainingError."""

    def __init__(self, what: str, error: Exception):
        super().__init__(what)
        self.what = what
        self.reason = getattr(error, "strerror", None) or str(error).splitlines()[0]


@contextlib.contextmanager
def writing(what: str):
    """Report an OSError or TensorFlow I/O error raised inside as a :class:`IOFailure`."""
    try:
        yield
    except (OSError, tf.errors.OpError) as error:
        raise IOFailure(what, error) from error


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


class Trainer:
    """Owns the model, its checkpoint and the output writers for one training run."""

    def __init__(self, config: TrainConfig, images: list[utils.ImageCheck], log=print):
        self.config = config
        self.images = images
        self.log = log
        arch = config.architecture
        # The strategy comes first: MultiWorkerMirroredStrategy must exist before other ops.
        self.strategy = distribute.make_strategy(config.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % self.replicas:
            raise TrainingError(f"--batch_size {config.batch_size} must be a multiple of the "
                                f"{self.replicas} replicas of --strategy {config.strategy}")
        worker_index, self.is_chief = (distribute.worker() if config.strategy == "multiworker"
                                       else (0, True))
        # Every worker saves (saving is collective); only the chief into --checkpoint_dir.
        self.checkpoint_dir = (config.checkpoint_dir if self.is_chief else
                               os.path.join(config.checkpoint_dir, f"worker_{worker_index}"))
        seed = config.seed if config.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        keras.utils.set_random_seed(seed)  # the initial weights, reproducible from the seed
        with self.strategy.scope():
            self.dcgan = DCGAN(arch, config.learning_rate, config.beta1, config.g_steps,
                               config.precision, d_learning_rate=config.d_learning_rate,
                               g_learning_rate=config.g_learning_rate,
                               ema_decay=config.ema_decay)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.data_seed = tf.Variable(seed, dtype=tf.int64, trainable=False)
        self.z_rng = tf.random.Generator.from_seed(seed)
        sample_z = np.random.default_rng(seed).uniform(-1, 1, (SAMPLE_COUNT, arch.z_dim))
        self.sample_z = tf.Variable(sample_z.astype(np.float32), trainable=False)
        self.checkpoint = checkpoints.training_checkpoint(self.dcgan, **self._checkpointed())
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.checkpoint_dir, max_to_keep=config.max_to_keep,
            checkpoint_name=checkpoints.CHECKPOINT_NAME)
        self.last_saved: str | None = None
        self.resumed_from = self._resume()
        log(f"Model: {arch.image_size}x{arch.image_size}, z_dim {arch.z_dim}, gf_dim "
            f"{arch.gf_dim}, df_dim {arch.df_dim}, precision {self.dcgan.precision}, "
            f"{self.replicas} replica(s)")

    def _checkpointed(self) -> dict:
        return dict(step=self.step, data_seed=self.data_seed, z_rng=self.z_rng,
                    sample_z=self.sample_z)

    def _checkpoint_without_ema(self) -> tf.train.Checkpoint:
        return checkpoints.training_checkpoint(self.dcgan, with_ema=False, **self._checkpointed())

    def _resume(self) -> str | None:
        prefix = checkpoints.latest_loadable(self.checkpoint_dir, warn=self.log)
        if prefix is None:
            return None
        stored = checkpoints.read_architecture(prefix)
        if stored != self.config.architecture:
            raise TrainingError(
                f"the checkpoint in '{self.config.checkpoint_dir}' is of another model "
                f"({stored}) than the flags ask for ({self.config.architecture}); pass the "
                "same --image_size/--z_dim/--gf_dim/--df_dim/--c_dim to resume it, or a new "
                "--checkpoint_dir to start afresh")
        if checkpoints.is_inference_only(prefix):
            # An export (e.g. the shipped model): fine-tune it, as the 2016 code continued
            # from the checkpoint it shipped. Its steps count; optimizer state starts afresh.
            checkpoints.restore(checkpoints.networks_checkpoint(self.dcgan, prefix), prefix,
                                partial=True)
            if self.dcgan.generator_ema is not None:
                self.dcgan.reset_ema()
            self.step.assign(checkpoints.read_step(prefix))
            self.log(f"Starting from {prefix}, a model exported for completion (step "
                     f"{int(self.step.numpy())}): its generator and discriminator weights, with "
                     "fresh optimizer state. To train from scratch instead, pass another "
                     "--checkpoint_dir.")
        elif self.dcgan.generator_ema is not None and not checkpoints.has_ema(prefix):
            # A run that kept no average of G (--ema_decay 0, or an older version) goes on
            # with one, started from G's weights.
            checkpoints.restore(self._checkpoint_without_ema(), prefix)
            self.dcgan.reset_ema()
            self.last_saved = prefix
            self.log(f"{prefix} has no moving average of G's weights: starting one from G "
                     f"(--ema_decay {self.config.ema_decay}).")
        else:
            checkpoints.restore(self.checkpoint, prefix, partial=True)
            self.last_saved = prefix
        return prefix

    def save(self) -> str:
        """Write a checkpoint of the current step, unless the weights went non-finite.

        A checkpoint is only written from finite weights, so the last checkpoint
        is always one to resume from. Old checkpoints are removed only after the
        new one is complete (``CheckpointManager``).
        """
        step = int(self.step.numpy())
        if not self._weights_finite():
            raise TrainingError(
                f"non-finite weights at step {step}: training diverged, so no checkpoint of it "
                f"is written. {self._kept()} Try a lower --learning_rate or --precision float32")
        with writing("checkpoint"):
            self.last_saved = self.manager.save(checkpoint_number=step)
        return self.last_saved

    def _weights_finite(self) -> bool:
        variables = self.dcgan.generator.variables + self.dcgan.discriminator.variables
        return bool(tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in variables]))

    def _kept(self) -> str:
        if self.last_saved is None:
            return "No checkpoint had been written yet."
        return f"The last good checkpoint, {self.last_saved}, is kept."

    def sample(self) -> np.ndarray:
        return self.dcgan.sample(self.sample_z).numpy()

    def run(self) -> dict:
        """Train to ``config.epoch`` epochs; returns the last logged losses.

        Stops early, with a checkpoint, on SIGINT/SIGTERM (raises
        :class:`TrainingInterrupted`); stops without writing one on non-finite
        losses or weights, and reports failed writes and reads (after saving
        what can be saved), as :class:`TrainingError`.
        """
        try:
            with StopSignals() as stop:
                last = self._loop(stop)
        except IOFailure as failure:
            raise self._io_error(failure) from None
        if stop.signal is not None:
            raise TrainingInterrupted(
                f"Stopped at step {int(self.step.numpy())}; checkpoint {self.last_saved}. Run "
                "the same command again to resume from it.", stop.signal)
        return last

    def _loop(self, stop: StopSignals) -> dict:
        config = self.config
        steps, batch_size = steps_per_epoch(len(self.images), config.batch_size, config.train_size)
        batch_size -= batch_size % self.replicas  # a small dataset's one batch, split evenly
        if steps == 0 or batch_size == 0:
            raise TrainingError(f"no training images in '{config.dataset}'")
        start_step = int(self.step.numpy())
        total_steps = steps * config.epoch
        if self.resumed_from:
            self.log(f"Resuming from {self.resumed_from} at step {start_step} "
                     f"(epoch {start_step // steps}).")
        if start_step >= total_steps:
            self.log(f"Nothing to train: step {start_step} already reaches --epoch "
                     f"{config.epoch} ({total_steps} steps of {steps} per epoch here); raise "
                     "--epoch to train further.")
        if self.is_chief:
            with writing("samples"):
                os.makedirs(config.sample_dir, exist_ok=True)
            with writing("logs"):
                writer = tf.summary.create_file_writer(config.log_dir)
        else:
            writer = tf.summary.create_noop_writer()
        dataset = make_dataset([image.path for image in self.images], config.image_size,
                               batch_size, int(self.data_seed.numpy()), steps, start_step,
                               config.epoch, config.c_dim,
                               plain=[image.plain for image in self.images])
        last = {}
        started = time.time()
        with writer.as_default():
            for images in reading(dataset.take(max(total_steps - start_step, 0))):
                z = self.z_rng.uniform([batch_size, config.z_dim], -1.0, 1.0)
                outputs = self.dcgan.train_step(images, z)
                step = int(self.step.assign_add(1).numpy())
                epoch, index = (step - 1) // steps, (step - 1) % steps + 1
                losses = {key: float(outputs[key]) for key in LOSS_KEYS}  # cheap: the step is done
                self._check_finite(losses, step)
                if step % config.log_interval == 0 or index == steps:
                    last = losses
                    self.log(f"Epoch: [{epoch:2d}] [{index:4d}/{steps:4d}] step: {step} "
                             f"time: {time.time() - started:.1f}s, d_loss: "
                             f"{last['d_loss']:.8f}, g_loss: {last['g_loss']:.8f}")
                    with writing("logs"):
                        for key, value in last.items():
                            tf.summary.scalar(key, value, step=step)
                if step % config.sample_interval == 0:
                    self._write_samples(epoch, index, step, z, outputs)
                if step % config.checkpoint_interval == 0:
                    self.log(f"Saved checkpoint {self.save()}")
                if stop.signal is not None:
                    self.log(f"Received {signal.Signals(stop.signal).name}: saving a checkpoint "
                             "and stopping (signal again to stop without saving)")
                    break
            final_step = int(self.step.numpy())
            if final_step != start_step or not self.resumed_from:
                if self.last_saved is None or checkpoints.step_of(self.last_saved) != final_step:
                    self.log(f"Saved checkpoint {self.save()}")
                if final_step % config.sample_interval and stop.signal is None:
                    self._write_samples((final_step - 1) // steps if final_step else 0,
                                        (final_step - 1) % steps + 1 if final_step else 0,
                                        final_step, None, None)
        with writing("logs"):
            writer.close()
        return last

    def _io_error(self, failure: IOFailure) -> TrainingError:
        """The message for a failed write or read; unless a checkpoint failed, save one first."""
        kept = self._kept()
        if failure.what != "checkpoint":
            try:
                kept = f"Checkpoint {self.save()} was saved."
            except (IOFailure, TrainingError):
                pass
        if failure.what == "training data":
            return TrainingError(
                f"cannot read the training data at step {int(self.step.numpy())} "
                f"({failure.reason}): was a file changed or deleted during training? {kept} "
                "Run the same command again to resume; the images are checked again first.")
        folder = {"checkpoint": self.config.checkpoint_dir, "samples": self.config.sample_dir,
                  "logs": self.config.log_dir}[failure.what]
        return TrainingError(
            f"cannot write {failure.what} to '{folder}' ({failure.reason}) at step "
            f"{int(self.step.numpy())}. {kept} Free some space or fix the folder's "
            "permissions, then run the same command again to resume.")

    def _check_finite(self, losses: dict, step: int) -> None:
        bad = [key for key, value in losses.items() if not math.isfinite(value)]
        if bad:
            raise TrainingError(
                f"non-finite {', '.join(bad)} at step {step}: training diverged, so no "
                f"checkpoint of it is written. {self._kept()} Try a lower --learning_rate "
                "or --precision float32")

    def _write_samples(self, epoch, index, step, z, outputs) -> None:
        if not self.is_chief:
            return
        samples = self.sample()
        path = os.path.join(self.config.sample_dir, f"train_{epoch:02d}_{index:04d}.png")
        with writing("samples"):
            utils.save_grid(samples, path, (8, 8) if len(samples) == 64 else None)
        with writing("logs"):
            tf.summary.image("samples", utils.make_grid(samples)[None], step=step)
            if z is not None:
                tf.summary.histogram("z", z, step=step)
                tf.summary.histogram("d_real", outputs["d_real"], step=step)
                tf.summary.histogram("d_fake", outputs["d_fake"], step=step)


IMAGE_CHECK_CACHE = "image-check.json"  # in --checkpoint_dir: see utils.usable_training_images


def list_training_images(dataset: str) -> list[str]:
    """The image files under ``dataset``; a missing or empty folder is a TrainingError."""
    if not os.path.isdir(dataset):
        raise TrainingError(
            f"dataset folder '{dataset}' does not exist: pass --dataset with a folder of "
            "aligned faces (see align/ and data/README.md)")
    paths = utils.list_images(dataset)
    if not paths:
        raise TrainingError(f"dataset folder '{dataset}' holds no .png/.jpg/.jpeg images")
    return paths


def usable_training_images(config: TrainConfig, paths: list[str],
                           log=print) -> list[utils.ImageCheck]:
    """The images of ``paths`` that can be trained on; the others are skipped with a warning."""
    started = time.time()
    usable = utils.usable_training_images(
        paths, config.image_size, warn=log,
        cache_path=os.path.join(config.checkpoint_dir, IMAGE_CHECK_CACHE))
    log(f"Found {len(paths)} images in {config.dataset}; {len(usable)} usable "
        f"(checked in {time.time() - started:.1f}s)")
    if not usable:
        raise TrainingError(f"none of the {len(paths)} images in '{config.dataset}' can be used "
                            "(see the warnings above)")
    return usable


def check_output_folders(config: TrainConfig) -> None:
    """Fail before any model is built if an output folder cannot be written."""
    for flag, folder in (("--checkpoint_dir", config.checkpoint_dir),
                         ("--sample_dir", config.sample_dir), ("--log_dir", config.log_dir)):
        problem = utils.ensure_writable_dir(folder)
        if problem:
            raise TrainingError(f"{flag}: {problem}")


def train(config: TrainConfig, log=print) -> dict:
    """Train a DCGAN as ``config`` says; returns the last logged losses.

    Raises :class:`TrainingError` for bad input or a failure (with the last
    good checkpoint kept) and :class:`TrainingInterrupted` after a signal.
    """
    config = dataclasses.replace(config, precision=resolve_precision(config.precision))
    paths = list_training_images(config.dataset)
    check_output_folders(config)
    images = usable_training_images(config, paths, log)
    trainer = Trainer(config, images, log)
    options = dataclasses.asdict(config) | {"seed": int(trainer.data_seed.numpy())}
    try:
        utils.write_json(options, os.path.join(trainer.checkpoint_dir, "options.json"))
    except OSError as error:
        raise TrainingError(f"cannot write options.json to '{trainer.checkpoint_dir}' "
                            f"({error.strerror or error})") from None
    return trainer.run()
