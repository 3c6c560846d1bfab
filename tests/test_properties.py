"""Property-based tests (hypothesis): hostile files, any image shape and mode, any mask
parameters, any input names. The code under test never raises anything but its documented
errors, and what it returns is always usable."""
import io
import os

import numpy as np
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from PIL import Image

from completion import masks
import utils

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00",
         b"RIFF\x00\x00\x00\x00WEBP", b"P6\n"]
MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F", "YCbCr"]
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "BMP": ".bmp", "GIF": ".gif",
           "WEBP": ".webp"}


def _is_usable_rgb(array):
    return (isinstance(array, np.ndarray) and array.dtype == np.uint8 and array.ndim == 3
            and array.shape[2] == 3 and array.shape[0] >= 1 and array.shape[1] >= 1)


def _encoded(mode, width, height, image_format, seed):
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    elif mode == "F":
        image = Image.fromarray(rng.random((height, width), dtype=np.float32))
    else:
        image = image.convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=image_format)
        Image.open(io.BytesIO(buffer.getvalue())).load()
    except (OSError, ValueError, KeyError):
        # this format cannot store this mode, or Pillow cannot read back what it wrote
        # (Pillow 12.3's YCbCr TIFF: "image file is truncated"), which no reader can mend
        return None
    return buffer.getvalue()


@SETTINGS
@given(prefix=st.sampled_from(MAGIC), body=st.binary(max_size=400))
def test_random_bytes_give_an_image_or_image_read_error(tmp_path, prefix, body):
    path = tmp_path / "random.png"
    path.write_bytes(prefix + body)
    try:
        array = utils.load_rgb(path)
    except utils.ImageReadError as error:
        assert "random.png" in str(error)
    else:
        assert _is_usable_rgb(array)
    check = utils.check_training_image(str(path), 16)          # never raises
    assert check.problem is None or "random.png" in check.problem


@SETTINGS
@given(mode=st.sampled_from(MODES), width=st.integers(1, 40), height=st.integers(1, 40),
       image_format=st.sampled_from(sorted(FORMATS)), seed=st.integers(0, 2**16),
       damage=st.sampled_from(["none", "truncate", "flip"]), where=st.floats(0, 1))
def test_any_mode_and_shape_loads_as_rgb_of_that_shape(tmp_path, mode, width, height,
                                                        image_format, seed, damage, where):
    data = _encoded(mode, width, height, image_format, seed)
    assume(data is not None)                    # this format cannot store this mode
    position = int(where * (len(data) - 1))
    if damage == "truncate":
        data = data[:position]
    elif damage == "flip":
        data = data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1:]
    path = tmp_path / ("image" + FORMATS[image_format])
    path.write_bytes(data)
    try:
        array = utils.load_rgb(path)
        reduced = utils.load_rgb(path, min_size=8)   # a JPEG may decode at 1/2, 1/4, 1/8 scale
    except utils.ImageReadError as error:
        assert damage != "none", error          # an intact file always loads
        assert str(path) in str(error)
        return
    assert _is_usable_rgb(array) and _is_usable_rgb(reduced)
    assert min(reduced.shape[:2]) >= min(8, *array.shape[:2])
    if damage == "none":
        assert array.shape[:2] == (height, width)


@SETTINGS
@given(mask_type=st.sampled_from(list(masks.MASK_TYPES) + ["bogus", ""]),
       size=st.sampled_from([8, 16, 32, 64, 128, 256]),
       scale=st.one_of(st.floats(-1, 2), st.just(float("nan"))),
       fraction=st.one_of(st.floats(-1, 2), st.just(float("nan"))),
       seed=st.integers(0, 1000))
def test_mask_builders_return_a_valid_mask_or_value_error(mask_type, size, scale, fraction, seed):
    try:
        mask, low = masks.make_mask(mask_type, size, scale, fraction, np.random.default_rng(seed))
    except ValueError as error:
        # exactly the documented refusals, each naming what is wrong
        message = str(error)
        if mask_type not in masks.MASK_TYPES:
            assert message.startswith(f"unknown mask type {mask_type!r}"), message
        elif mask_type == "random":
            assert not 0 <= fraction <= 1, message
            assert message.startswith("fraction of missing pixels must be in [0, 1]"), message
        elif mask_type == "center":
            assert not 0 < scale <= 0.5, message
            assert message.startswith("centerScale must be in (0, 0.5]"), message
        else:
            raise AssertionError(f"{mask_type!r} takes no parameter that can be wrong: {message}")
        return
    assert mask_type in masks.MASK_TYPES
    assert mask.shape == (size, size, 1) and mask.dtype == np.float32
    assert low.shape == (size // masks.LOWRES_FACTOR, size // masks.LOWRES_FACTOR, 1)
    assert set(np.unique(mask)) <= {0.0, 1.0} and set(np.unique(low)) <= {0.0, 1.0}
    if mask_type == "center":
        lower, upper = int(size * scale), int(size * (1 - scale))
        assert 0 < scale <= 0.5 and size * size - mask.sum() == (upper - lower) ** 2
    if mask_type == "random":
        assert 0 <= fraction <= 1


@SETTINGS
@given(st.lists(st.text(st.characters(blacklist_categories=["Cs"]), max_size=30), max_size=12))
def test_output_names_stay_inside_the_folder_and_are_unique(tmp_path, paths):
    names = utils.unique_output_names(paths)
    assert len(names) == len(paths)
    assert len({name.casefold() for name in names}) == len(names)
    for name in names:
        assert name and "/" not in name and "\\" not in name and "\x00" not in name
        assert not name.startswith(".") and len(name) <= utils.MAX_NAME_LENGTH + 4
        target = os.path.realpath(tmp_path / "out" / (name + ".png"))
        assert os.path.dirname(target) == os.path.realpath(tmp_path / "out")
