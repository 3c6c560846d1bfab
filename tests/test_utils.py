"""Image loading converts every mode it should and names the file it cannot read."""
import numpy as np
import pytest
from PIL import Image

import utils


def test_modes_are_converted_to_rgb(tmp_path):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    out = utils.load_rgb(tmp_path / "gray.png")
    assert out.shape == (8, 8, 3) and np.all(out[..., 0] == gray) and np.all(out[..., 2] == gray)

    wide = (gray.astype(np.uint16) * 257)                       # 16-bit: 0..65535
    Image.fromarray(wide).save(tmp_path / "wide.png")
    out = utils.load_rgb(tmp_path / "wide.png")
    np.testing.assert_allclose(out[..., 1], gray, atol=1)

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 128                                          # half transparent red on black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = utils.load_rgb(tmp_path / "rgba.png")
    assert abs(int(out[0, 0, 0]) - 100) <= 1 and out[0, 0, 1] == 0

    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    out = utils.load_rgb(tmp_path / "cmyk.jpg")
    assert out[0, 0, 0] > 200 and out[0, 0, 1] < 60            # CMYK (0,255,255,0) is red


def test_unreadable_files_name_the_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    Image.new("RGB", (64, 64), "white").save(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:len(data) // 2])
    for name, reason in [("empty.jpg", "empty"), ("text.jpg", "cannot read"),
                         ("cut.jpg", "cannot read"), ("gone.jpg", "no such file")]:
        with pytest.raises(utils.ImageReadError, match=reason) as info:
            utils.load_rgb(tmp_path / name)
        assert name in str(info.value)


def test_grid_layout_and_range():
    images = np.stack([np.full((2, 3, 3), value, np.float32) for value in (-1.0, 0.0, 1.0)])
    grid = utils.make_grid(images, (1, 3))
    assert grid.shape == (2, 9, 3)
    assert grid[0, 0, 0] == 0 and grid[0, 3, 0] == 128 and grid[0, 6, 0] == 255
    assert utils.grid_shape(64) == (8, 8) and utils.grid_shape(10) == (2, 8)   # 8 per row
    assert utils.grid_shape(3) == (1, 3)
    with pytest.raises(ValueError):
        utils.make_grid(images, (1, 2))


def test_center_crop_resize():
    image = np.zeros((10, 20, 3), np.uint8)
    image[:, 5:15] = 255                                        # the central square is white
    out = utils.center_crop_resize(image, 5)
    assert out.shape == (5, 5, 3) and out.min() > 240


def test_expand_image_args(tmp_path):
    for name in ("b.png", "a.jpg", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.jpeg").write_bytes(b"x")
    folder = utils.expand_image_args([str(tmp_path)])
    assert [p.split("/")[-1] for p in folder] == ["a.jpg", "b.png", "d.jpeg"]
    globbed = utils.expand_image_args([str(tmp_path / "*.png"), str(tmp_path / "b.png")])
    assert globbed == [str(tmp_path / "b.png")]                 # duplicates dropped
    assert utils.expand_image_args([str(tmp_path / "*.gif")]) == [str(tmp_path / "*.gif")]
