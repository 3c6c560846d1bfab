"""Image I/O, grids and dataset listing shared by the toolkit's commands.

Everything here works on NumPy arrays; nothing imports TensorFlow, so the
command-line tools can answer ``--help`` and report bad input quickly.

Conventions:
  * an *RGB image* is ``uint8`` of shape ``(H, W, 3)``;
  * a *model image* is ``float32`` in ``[-1, 1]`` of shape ``(H, W, C)``,
    the range the generator's ``tanh`` produces.
"""
from __future__ import annotations

import glob
import math
import os
import warnings
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")

# Refuse images larger than this many pixels (Pillow's decompression-bomb guard
# raises an error at twice its MAX_IMAGE_PIXELS; we turn its warning into an error
# too, so a bomb is reported instead of eating all memory).
MAX_IMAGE_PIXELS = 8192 * 8192


class ImageReadError(ValueError):
    """An input file is not a usable image. The message names the file and why."""


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read any image Pillow understands as ``uint8`` RGB ``(H, W, 3)``.

    Grayscale, palette, RGBA/LA (composited on black, as most viewers show a
    transparent face crop), CMYK and 16-bit images are converted, EXIF rotation
    is applied. Unreadable, truncated, empty or absurdly large files raise
    :class:`ImageReadError` naming the file.
    """
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
                image.load()
                image = ImageOps.exif_transpose(image)
                return to_rgb_array(image)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a directory, not an image") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as error:
        raise ImageReadError(f"{path}: cannot read image ({error})") from None


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


def grid_shape(count: int) -> tuple[int, int]:
    """Rows and columns of the most square grid holding ``count`` images (8x8 for 64)."""
    columns = int(math.ceil(math.sqrt(count)))
    rows = int(math.ceil(count / columns))
    return rows, columns


def make_grid(images: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Tile ``(N, H, W, C)`` images (uint8 or [-1, 1] floats) into one uint8 image.

    Empty cells are black. Single-channel images are shown as gray.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = from_model(images)
    if images.ndim == 3:
        images = images[..., None]
    count, height, width, channels = images.shape
    rows, columns = shape or grid_shape(count)
    if rows * columns < count:
        raise ValueError(f"a {rows}x{columns} grid cannot hold {count} images")
    grid = np.zeros((rows * height, columns * width, channels), np.uint8)
    for index in range(count):
        row, column = divmod(index, columns)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = images[index]
    if channels == 1:
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
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        Image.fromarray(rgb).save(temporary, format=_format_for(path))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def save_grid(images: np.ndarray, path: str | os.PathLike,
              shape: tuple[int, int] | None = None) -> None:
    save_rgb(make_grid(images, shape), path)


def _format_for(path: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF"}.get(extension, "PNG")


def is_image_file(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[str]:
    """Sorted paths of the png/jpg/jpeg files in ``folder`` (and its subfolders)."""
    folder = os.fspath(folder)
    found = []
    if recursive:
        for root, directories, files in os.walk(folder, followlinks=True):
            directories.sort()
            found.extend(os.path.join(root, name) for name in files
                         if is_image_file(name) and not name.startswith("."))
    else:
        found = [os.path.join(folder, name) for name in os.listdir(folder)
                 if is_image_file(name) and not name.startswith(".")]
    return sorted(found)


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


def batches(items: Sequence, size: int):
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
