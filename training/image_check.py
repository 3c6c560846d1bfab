"""Which training files can be used: checked once, before TensorFlow is needed.

Every file is decoded once at start-up, so a truncated or unreadable file is
reported (and skipped) before training, never in the middle of an epoch. This
module does not import TensorFlow: ``train_dcgan.py`` starts the check
(:func:`start`) before it imports TensorFlow, and with many files the check runs
in worker processes while TensorFlow loads (Pillow's Python code holds the GIL,
so threads of this process would wait for the import instead). The results are
kept in ``checkpoint_dir``/:data:`IMAGE_CHECK_CACHE`, keyed by path, size and
modification time, so a resumed run re-checks only new or changed files.
"""
from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import signal
import time
from typing import Sequence

from shared.errors import TrainingError
import utils

IMAGE_CHECK_CACHE = "image-check.json"  # in --checkpoint_dir
CHECK_CACHE_VERSION = 1
# Files to check below which worker processes do not pay: a worker takes about 0.3 s to
# start, and this process checks about 3,000 small JPEGs a second (AMD EPYC, docs/CPU_SPEED.md).
PROCESS_MIN_FILES = 2000
CHUNKS_PER_WORKER = 8


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


def check_output_folders(folders: dict[str, str]) -> None:
    """Fail before any model is built if an output folder ({flag: folder}) cannot be written."""
    for flag, folder in folders.items():
        problem = utils.ensure_writable_dir(folder)
        if problem:
            raise TrainingError(f"{flag}: {problem}")


def _stamp(path: str) -> list | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [status.st_size, status.st_mtime_ns]


def _check_files(paths: Sequence[str], image_size: int) -> list[tuple[str | None, bool]]:
    """(problem, plain) of each file; runs in a worker process or a thread."""
    results = []
    for path in paths:
        result = utils.check_training_image(path, image_size)
        results.append((result.problem, result.plain))
    return results


def _ignore_interrupts() -> None:
    """Worker processes leave Ctrl-C to the main process, which stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ImageCheck:
    """The check of ``paths`` at ``image_size``, started at construction; :meth:`result`
    waits for it.

    Cached files cost a stat. With ``processes`` (default: when at least
    :data:`PROCESS_MIN_FILES` files need a decode and there are several CPUs), the others
    are decoded in worker processes from the start; otherwise in threads of this
    process, in :meth:`result`.
    """

    def __init__(self, dataset: str, paths: Sequence[str], image_size: int, cache_dir: str,
                 workers: int | None = None, processes: bool | None = None):
        self.started = time.time()
        self.dataset, self.paths, self.image_size = dataset, list(paths), image_size
        self.cache_path = os.path.join(cache_dir, IMAGE_CHECK_CACHE)
        self.workers = workers or min(8, os.cpu_count() or 1)
        cached = _read_check_cache(self.cache_path, image_size)
        self.stamps = [_stamp(path) for path in self.paths]
        self.known: dict[int, tuple[str | None, bool]] = {}
        self.todo: list[int] = []
        for index, (path, stamp) in enumerate(zip(self.paths, self.stamps)):
            hit = cached.get(path)
            if stamp and hit and hit[:2] == stamp:
                self.known[index] = (hit[2], hit[3])
            else:
                self.todo.append(index)
        self.cache_changed = bool(self.todo) or len(cached) != len(self.paths)
        if processes is None:
            processes = len(self.todo) >= PROCESS_MIN_FILES and (os.cpu_count() or 1) > 1
        self.pool, self.futures = None, []
        if processes and self.todo:
            self.pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_ignore_interrupts)
            for chunk in self._chunks(self.workers * CHUNKS_PER_WORKER):
                self.futures.append((chunk, self.pool.submit(
                    _check_files, [self.paths[i] for i in chunk], image_size)))

    def _chunks(self, count: int) -> list[list[int]]:
        size = max(1, -(-len(self.todo) // count))
        return [self.todo[i:i + size] for i in range(0, len(self.todo), size)]

    def _finish(self) -> None:
        if self.pool is not None:
            try:
                for chunk, future in self.futures:
                    self.known.update(zip(chunk, future.result()))
            finally:
                self.pool.shutdown(wait=True, cancel_futures=True)
                self.pool = None
        elif len(self.known) < len(self.paths):
            with concurrent.futures.ThreadPoolExecutor(self.workers) as threads:
                checked = threads.map(lambda chunk: _check_files(
                    [self.paths[i] for i in chunk], self.image_size),
                    self._chunks(self.workers * CHUNKS_PER_WORKER))
                for chunk, results in zip(self._chunks(self.workers * CHUNKS_PER_WORKER),
                                          checked):
                    self.known.update(zip(chunk, results))

    def cancel(self) -> None:
        """Stop the worker processes (on an error before :meth:`result`)."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    def result(self, log=print) -> list[utils.ImageCheck]:
        """The usable images, in order; each refused file gets one warning naming it and
        why, a count follows. A TrainingError if none is usable."""
        self._finish()
        results = [utils.ImageCheck(path, *self.known[i]) for i, path in enumerate(self.paths)]
        if self.cache_changed:
            entries = {r.path: (stamp or [None, None]) + [r.problem, r.plain]
                       for r, stamp in zip(results, self.stamps)}
            try:
                utils.write_json({"version": CHECK_CACHE_VERSION, "image_size": self.image_size,
                                  "files": entries}, self.cache_path)
            except OSError:
                pass  # only a cache; the output folder's own check reports an unwritable folder
        usable = []
        for result in results:
            if result.problem is None:
                usable.append(result)
            else:
                log(f"warning: skipping {result.problem}")
        skipped = len(results) - len(usable)
        if skipped:
            log(f"warning: skipped {skipped} of {len(results)} files that are not usable images")
        log(f"Found {len(results)} images in {self.dataset}; {len(usable)} usable "
            f"(checked in {time.time() - self.started:.1f}s)")
        if not usable:
            raise TrainingError(f"none of the {len(results)} images in '{self.dataset}' can be "
                                "used (see the warnings above)")
        return usable


def usable_training_images(dataset: str, paths: Sequence[str], image_size: int, cache_dir: str,
                           log=print, workers: int | None = None,
                           processes: bool | None = None) -> list[utils.ImageCheck]:
    """The images of ``paths`` (found in ``dataset``) that can be trained on at
    ``image_size`` (:func:`utils.check_training_image` accepts them), in order: an
    :class:`ImageCheck` waited for at once."""
    return ImageCheck(dataset, paths, image_size, cache_dir, workers, processes).result(log)


def start(dataset: str, image_size: int, checkpoint_dir: str, sample_dir: str,
          log_dir: str) -> ImageCheck:
    """What training checks before it needs TensorFlow: the dataset folder and its files,
    the output folders (TrainingError naming the flag), then the files' check, started."""
    paths = list_training_images(dataset)
    check_output_folders({"--checkpoint_dir": checkpoint_dir, "--sample_dir": sample_dir,
                          "--log_dir": log_dir})
    return ImageCheck(dataset, paths, image_size, checkpoint_dir)


def _read_check_cache(path: str, image_size: int) -> dict:
    """{path: [size, mtime_ns, problem, plain]} from a cache file; {} if none or unusable."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("version") == CHECK_CACHE_VERSION and data.get("image_size") == image_size:
            return dict(data["files"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    return {}
