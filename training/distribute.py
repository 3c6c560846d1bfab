"""Choosing a ``tf.distribute`` strategy for training (``train_dcgan.py --strategy``).

* ``default``: one device (TensorFlow's default strategy).
* ``mirrored``: ``MirroredStrategy`` over all visible GPUs (or, without GPUs, all
  logical CPU devices): each step's global batch is split across the replicas.
* ``multiworker``: ``MultiWorkerMirroredStrategy`` across processes or machines,
  configured by the standard ``TF_CONFIG`` environment variable.
* ``auto``: ``mirrored`` when more than one GPU is visible, else ``default``.

The model built in the strategy's scope synchronises batch norm and averages
gradients over the global batch (see ``training/train_step.py``). :func:`place` also
decides this process's role: every worker trains and saves (saving is
collective), only the chief into ``--checkpoint_dir`` and only the chief writes
samples and logs.
"""
from __future__ import annotations

import dataclasses
import json
import os

import tensorflow as tf

from shared.errors import TrainingError

STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def choose_strategy(name: str, gpu_count: int) -> str:
    """The strategy ``name`` means on a machine with ``gpu_count`` GPUs: ``auto`` resolved."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "auto":
        return "mirrored" if gpu_count > 1 else "default"
    return name


def make_strategy(name: str) -> tf.distribute.Strategy:
    name = choose_strategy(name, len(tf.config.list_physical_devices("GPU")))
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = ([d.name for d in tf.config.list_logical_devices("GPU")]
                   or [d.name for d in tf.config.list_logical_devices("CPU")])
        return tf.distribute.MirroredStrategy(devices)
    if "TF_CONFIG" not in os.environ:
        raise TrainingError(
            "--strategy multiworker needs the TF_CONFIG environment variable (the cluster's "
            "worker addresses and this process's task), see the README's 'Several machines'")
    return tf.distribute.MultiWorkerMirroredStrategy()


def worker() -> tuple[int, bool]:
    """(task index, is chief) of this process under TF_CONFIG; (0, True) without it."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    has_chief = "chief" in config.get("cluster", {})
    return index, (kind == "chief") or (kind == "worker" and index == 0 and not has_chief)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where this process trains: the strategy, its replicas, and this worker's role."""
    strategy: tf.distribute.Strategy
    replicas: int
    is_chief: bool        # writes samples and logs, and checkpoints into --checkpoint_dir
    checkpoint_dir: str   # the chief's: --checkpoint_dir; another worker's: a folder in it


def place(name: str, batch_size: int, checkpoint_dir: str) -> Placement:
    """Make the strategy ``name`` (before any other TensorFlow op: MultiWorkerMirroredStrategy
    must come first) and check that ``batch_size`` splits evenly across its replicas."""
    strategy = make_strategy(name)
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise TrainingError(f"--batch_size {batch_size} must be a multiple of the {replicas} "
                            f"replicas of --strategy {name}")
    index, is_chief = worker() if name == "multiworker" else (0, True)
    if not is_chief:
        checkpoint_dir = os.path.join(checkpoint_dir, f"worker_{index}")
    return Placement(strategy, replicas, is_chief, checkpoint_dir)
