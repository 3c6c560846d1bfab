"""Image I/O, grids and dataset listing shared by the toolkit's commands.

Everything here works on NumPy arrays; nothing imports TensorFlow, so the
command-line tools can answer ``--help`` and report bad input quickly.

Conventions:
  * an *RGB image* is ``uint8`` of shape ``(H, W, 3)``;
  * a *model image* is ``float32`` in ``[-1, 1]`` of shape ``(H, W, C)``,
    the range the generator's ``tanh`` produces.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import re
import unicodedata
import warnings
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps
from skimage.util import montage

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")

# Refuse images larger than this many pixels (Pillow's decompression-bomb guard
# raises an error at twice its MAX_IMAGE_PIXELS; we turn its warning into an error
# too, so a bomb is reported instead of eating all memory).
MAX_IMAGE_PIXELS = 8192 * 8192
EXIF_ORIENTATION = 0x0112


class ImageReadError(ValueError):
    """An input file is not a usable image. The message names the file and why."""


def load_rgb(path: str | os.PathLike, min_size: int | None = None) -> np.ndarray:
    """Read any image Pillow understands as ``uint8`` RGB ``(H, W, 3)``.

    Grayscale, palette, RGBA/LA (composited on black, as most viewers show a
    transparent face crop), CMYK and 16-bit images are converted, EXIF rotation
    is applied. Unreadable, truncated, empty or absurdly large files raise
    :class:`ImageReadError` naming the file; so does any other failure of a
    decoder on a malformed file (Pillow's plugins raise many exception types on
    hostile input, and the caller only needs to know the file is unusable).

    ``min_size``: the caller only needs both sides to be at least this large;
    a large JPEG is then decoded at a reduced scale (1/2, 1/4 or 1/8), which is
    much faster for a 24-megapixel photo going into a 64x64 model.
    """
    return _read(path, min_size)[0]


def _read(path: str | os.PathLike, min_size: int | None) -> tuple[np.ndarray, bool]:
    """:func:`load_rgb`, and whether the file is *plain*: an 8-bit RGB or gray PNG/JPEG
    without transparency or EXIF rotation, which TensorFlow's decoders read the same."""
    path = os.fspath(path)
    try:
        if os.path.getsize(path) == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise ImageReadError(
                        f"{path}: {image.width}x{image.height} is larger than "
                        f"{MAX_IMAGE_PIXELS} pixels; downscale it first")
                if image.width < 1 or image.height < 1:
                    raise ImageReadError(f"{path}: has no pixels ({image.width}x{image.height})")
                args = image.tile[0].args if len(image.tile) == 1 else None
                raw_mode = args if isinstance(args, str) else args[0] if args else None
                plain = (image.format in ("PNG", "JPEG") and raw_mode in ("RGB", "L")
                         and image.mode in ("RGB", "L") and "transparency" not in image.info)
                if min_size and image.format == "JPEG":
                    image.draft(None, (min_size, min_size))
                image.load()
                plain = plain and image.getexif().get(EXIF_ORIENTATION, 1) == 1
                image = ImageOps.exif_transpose(image)
                return to_rgb_array(image), plain
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a directory, not an image") from None
    except MemoryError:
        raise ImageReadError(f"{path}: too large to decode in memory") from None
    except (NameError, ImportError):
        raise  # a bug or a broken installation, not a bad file
    except Exception as error:  # noqa: BLE001 -- any decoder failure means "unusable file"
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageReadError(f"{path}: cannot read image ({reason})") from None


@dataclasses.dataclass(frozen=True)
class ImageCheck:
    """What :func:`check_training_image` found out about one file."""
    path: str
    problem: str | None = None  # why it cannot be used; None if it can
    plain: bool = False         # TensorFlow's own decoders read it as Pillow does


def check_training_image(path: str, image_size: int) -> ImageCheck:
    """Whether ``path`` can be a training image.

    The file is fully decoded (so truncated files are caught here, once, and
    not in the middle of an epoch). Images whose shorter side is under a
    quarter of ``image_size`` are refused: blown up 4x or more they are blur.
    """
    try:
        rgb, plain = _read(path, min_size=image_size)
    except ImageReadError as error:
        return ImageCheck(path, str(error))
    height, width = rgb.shape[:2]
    smallest = max(image_size // 4, 1)
    if min(height, width) < smallest:
        return ImageCheck(path, f"{path}: {width}x{height} is too small for "
                                f"{image_size}x{image_size} images (the shorter side needs at "
                                f"least {smallest} pixels)")
    return ImageCheck(path, plain=plain)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert a Pillow image of any mode to ``uint8`` RGB ``(H, W, 3)``."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit grayscale: scale the full range down to 8 bits.
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(array[:, :, None], 3, axis=2)
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        top = 1.0 if array.max() <= 1.0 else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(array[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def center_crop_resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop an RGB image to a square and resize it to ``size`` x ``size``."""
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = rgb[top:top + side, left:left + side]
    if side == size:
        return np.ascontiguousarray(crop)
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BICUBIC))


def to_model(rgb: np.ndarray) -> np.ndarray:
    """``uint8`` [0, 255] -> ``float32`` [-1, 1]."""
    return rgb.astype(np.float32) / 127.5 - 1.0


def from_model(images: np.ndarray) -> np.ndarray:
    """``float`` [-1, 1] -> ``uint8`` [0, 255] (rounded, clipped)."""
    return np.clip((np.asarray(images, dtype=np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


GRID_COLUMNS = 8  # the original's grids: 8 images per row (8x8 for 64 samples)


def grid_shape(count: int) -> tuple[int, int]:
    """Rows and columns of the original's grids: :data:`GRID_COLUMNS` images per row."""
    return int(math.ceil(count / GRID_COLUMNS)), min(GRID_COLUMNS, count)


def make_grid(images: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Tile ``(N, H, W, C)`` images (uint8 or [-1, 1] floats) into one uint8 RGB image,
    row by row (``skimage.util.montage``); ``shape`` (rows, columns) defaults to
    :func:`grid_shape`. Empty cells are black. Single-channel images are shown as gray.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = from_model(images)
    if images.ndim == 3:
        images = images[..., None]
    rows, columns = shape or grid_shape(len(images))
    if rows * columns < len(images):
        raise ValueError(f"a {rows}x{columns} grid cannot hold {len(images)} images")
    grid = montage(images, fill=[0] * images.shape[-1], grid_shape=(rows, columns),
                   channel_axis=-1)
    if grid.shape[2] == 1:
        grid = np.repeat(grid, 3, axis=2)
    return grid


def save_rgb(rgb: np.ndarray, path: str | os.PathLike) -> None:
    """Write a uint8 RGB (or float [-1, 1]) image atomically: a reader never sees half a file."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        rgb = from_model(rgb)
    if rgb.ndim == 3 and rgb.shape[2] == 1:
        rgb = rgb[:, :, 0]
    path = os.fspath(path)
    image = Image.fromarray(rgb)
    atomic_write(path, lambda temporary: image.save(temporary, format=_format_for(path)))


def write_json(data, path: str | os.PathLike) -> None:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, default=str)
    atomic_write(os.fspath(path), lambda temporary: _write_text(temporary, text))


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def atomic_write(path: str, write) -> None:
    """Call ``write(temporary_path)``, then rename the result to ``path``.

    If writing fails (a full disk, a permission), the old ``path`` is untouched
    and the temporary file is removed; the error propagates.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def ensure_writable_dir(path: str | os.PathLike) -> str | None:
    """Create folder ``path`` if needed and check a file can be written in it.

    Returns None if it can, else the reason (for an error message naming the
    flag). Checked before any work starts, so a typo does not cost an hour.
    """
    path = os.fspath(path)
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test.{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as error:
        return f"cannot write to '{path}': {error.strerror or error}"
    return None


def save_grid(images: np.ndarray, path: str | os.PathLike,
              shape: tuple[int, int] | None = None) -> None:
    save_rgb(make_grid(images, shape), path)


def _format_for(path: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF"}.get(extension, "PNG")


def is_image_file(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[str]:
    """Sorted paths of the png/jpg/jpeg files in ``folder`` (and its subfolders).

    Hidden files are left out. Symbolic links to folders are followed, each
    real folder once, so a link back to a parent cannot make the walk endless.
    """
    folder = os.fspath(folder)
    found = []
    if recursive:
        visited = set()
        for root, directories, files in os.walk(folder, followlinks=True):
            real = os.path.realpath(root)
            if real in visited:
                directories[:] = []
                continue
            visited.add(real)
            directories.sort()
            found.extend(os.path.join(root, name) for name in files
                         if is_image_file(name) and not name.startswith("."))
    else:
        found = [os.path.join(folder, name) for name in os.listdir(folder)
                 if is_image_file(name) and not name.startswith(".")]
    return sorted(found)


MAX_NAME_LENGTH = 100  # characters of a stem; file systems allow 255 bytes per name


def unique_output_names(paths: Sequence[str]) -> list[str]:
    """A safe, unique file stem for each input path, for outputs named after inputs.

    The stem is the file name without folders and extension, so no input
    (``../../x.png``, ``/etc/x``) can place an output outside the output folder.
    Characters that are unsafe or awkward in file names (separators, control
    characters, ``:*?"<>|``) become ``_``; leading dots and spaces are dropped
    (no hidden files, no ``..``); an empty result becomes ``image``; long
    stems are cut. Stems that collide, also when compared case-insensitively
    (as on macOS and Windows), get ``-2``, ``-3``, ... in input order.
    """
    names: list[str] = []
    taken: set[str] = set()
    for path in paths:
        stem = os.path.splitext(os.path.basename(os.fspath(path).replace("\\", "/").rstrip("/")))[0]
        stem = unicodedata.normalize("NFC", stem)
        stem = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]', "_", stem).lstrip(". ").rstrip(". ")
        stem = stem[:MAX_NAME_LENGTH] or "image"
        name, number = stem, 1
        while name.casefold() in taken:
            number += 1
            name = f"{stem}-{number}"
        taken.add(name.casefold())
        names.append(name)
    return names


def expand_image_args(patterns: Iterable[str]) -> list[str]:
    """Expand command-line image arguments: files, globs (quoted on the shell) and folders.

    Order is kept; duplicates are dropped. Patterns that match nothing are
    returned as-is so the caller can report them by name.
    """
    paths: list[str] = []
    seen = set()
    for pattern in patterns:
        if os.path.isdir(pattern):
            matches = list_images(pattern)
        elif glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            matches = [m for m in matches if not os.path.isdir(m)] or [pattern]
        else:
            matches = [pattern]
        for match in matches:
            if match not in seen:
                seen.add(match)
                paths.append(match)
    return paths


def shard_slice(items: Sequence, index: int, count: int) -> Sequence:
    """The ``index``-th (from 0) of ``count`` contiguous, near-equal slices of ``items``."""
    return items[index * len(items) // count:(index + 1) * len(items) // count]

