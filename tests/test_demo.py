"""The demo: complete.py with no images completes scikit-image's astronaut() offline."""
import argparse
import os

import numpy as np
import pytest
from PIL import Image
from skimage import data

import complete
from completion import masks

SIZE = 16
LABELS = ["center", "left", "half-bottom", "random80", "grid", "pattern"]
NAMES = [f"astronaut_{label}.png" for label in LABELS]


def _demo(trained_run, out, *extra):
    return complete.main(["--checkpointDir", str(trained_run / "checkpoint"), "--outDir", str(out),
                          "--seed", "1", "--precision", "float32", *map(str, extra)])


def _png(path):
    return np.asarray(Image.open(path)).astype(np.int16)


@pytest.fixture(scope="module")
def demo_out(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    assert _demo(trained_run, out, "--nIter", 3, "--featureIter", 1, "--outInterval", 2) == 0
    return out


@pytest.fixture(scope="module")
def face16():
    """The astronaut aligned here, as align/ does (largest face, innerEyesAndBottomLip, 16x16)."""
    from align import AlignDlib, INNER_EYES_AND_BOTTOM_LIP
    face = AlignDlib().align(SIZE, data.astronaut(), landmarkIndices=INNER_EYES_AND_BOTTOM_LIP)
    assert face is not None and face.shape == (SIZE, SIZE, 3)
    return face.astype(np.int16)


def expected_masks():
    """The demo's masks, drawn as documented: in order, from one generator seeded with --seed."""
    rng = np.random.default_rng(1)
    kinds = [("center", {}), ("left", {}), ("half", {"side": "bottom"}), ("random", {}),
             ("grid", {}), ("pattern", {"pattern_fraction": 0.25})]
    return [masks.make_mask(kind, SIZE, 0.25, 0.8, rng, **extra)[0][..., 0] > 0.5
            for kind, extra in kinds]


def test_the_largest_face_in_the_photo_is_the_astronauts():
    """dlib also finds the mission patch on the suit; the (largest) face chosen is her head."""
    from align import AlignDlib
    aligner = AlignDlib()
    photo = data.astronaut()
    box = aligner.getLargestFaceBoundingBox(photo)
    assert box.bottom() < photo.shape[0] // 2                     # the head, not the patch
    points = np.array(aligner.findLandmarks(photo, box))
    eyes, nose, mouth = points[36:48, 1].mean(), points[30, 1], points[48:68, 1].mean()
    assert eyes < nose < mouth                                    # upright face
    assert points[36:42, 0].mean() < points[42:48, 0].mean()      # her right eye left in the image


def test_demo_writes_every_output_per_mask(demo_out):
    np.testing.assert_array_equal(np.asarray(Image.open(demo_out / "demo_photo/astronaut.png")),
                                  data.astronaut())
    for folder in ("completed/images", "blended", "pasted"):
        assert sorted(n for n in os.listdir(demo_out / folder) if n.endswith(".png")) == sorted(NAMES)
    assert sorted(os.listdir(demo_out / "hats_imgs")) == ["0000.png", "0002.png", "0003.png",
                                                              "0004.png"]
    for name in NAMES:
        assert _png(demo_out / "pasted" / name).shape == data.astronaut().shape


def _tile(grid_path, index):
    """Tile ``index`` of a one-row grid of the 6 masks (hats_imgs/, completed/NNNN.png)."""
    grid = _png(grid_path)
    assert grid.shape == (SIZE, 6 * SIZE, 3)
    return grid[:, index * SIZE:(index + 1) * SIZE]


def test_completions_keep_the_known_pixels_and_fill_the_hole_with_g(demo_out, face16):
    """The original's grid completed/NNNN.png pastes G(z) into the hole; the per-image
    files (blended by default) keep the known pixels too."""
    for index, (name, known) in enumerate(zip(NAMES, expected_masks())):
        plain = _tile(demo_out / "completed/0004.png", index)
        generated = _tile(demo_out / "hats_imgs/0004.png", index)
        assert np.all(np.abs(plain[known] - face16[known]) <= 1), name
        assert np.all(np.abs(plain[~known] - generated[~known]) <= 1), name
        final = _png(demo_out / "completed/images" / name)
        assert np.all(np.abs(final[known] - face16[known]) <= 1), name


def test_blended_differs_from_plain_only_in_the_hole(demo_out):
    changed = 0
    for index, (name, known) in enumerate(zip(NAMES, expected_masks())):
        plain = _tile(demo_out / "completed/0004.png", index)
        blended = _png(demo_out / "blended" / name)
        # --blend is the default: the per-image completions are the blended ones
        np.testing.assert_array_equal(_png(demo_out / "completed/images" / name), blended)
        assert np.all(np.abs(blended[known] - plain[known]) <= 1), name
        changed += np.count_nonzero(np.abs(blended[~known] - plain[~known]) > 1)
    assert changed > 0


def test_figure_is_a_row_per_mask_of_five_scaled_tiles(demo_out, face16):
    figure = _png(demo_out / "demo.png")
    tile, step = 3 * SIZE, 3 * SIZE + 6
    assert figure.shape == (6 * step - 6, 5 * step - 6, 3)
    for row, (name, known) in enumerate(zip(NAMES, expected_masks())):
        tiles = [figure[row * step:row * step + tile, col * step:col * step + tile]
                 for col in range(5)]
        big = lambda image: image.repeat(3, axis=0).repeat(3, axis=1)
        assert np.all(np.abs(tiles[0] - big(face16)) <= 1)                     # aligned face
        hole = big(~known)
        assert np.all(np.abs(tiles[1][hole] - 128) <= 1)                        # masked: gray
        assert np.all(np.abs(tiles[3] - big(_tile(demo_out / "completed/0004.png", row))) <= 1)
        assert np.all(np.abs(tiles[4] - big(_png(demo_out / "blended" / name))) <= 1)
    assert np.all(figure[tile:step] == 255)                                     # white gaps


def test_gif_has_a_frame_per_snapshot(demo_out):
    from completion import outputs

    gif = Image.open(demo_out / "completion.gif")
    # iterations 0, 2 (--outInterval), 3 (the z search's last) and 4 (the feature search's,
    # the last). Pillow merges a frame identical to the
    # one before into it (adding its duration): with the tiny model one step of the default
    # search can leave the uint8 grid unchanged, so count the time, which merging keeps.
    durations = []
    for index in range(gif.n_frames):
        gif.seek(index)
        durations.append(gif.info["duration"])
    assert 2 <= gif.n_frames <= 4
    assert sum(durations) == 3 * outputs.GIF_FRAME_MS + outputs.GIF_LAST_FRAME_MS
    assert gif.size == (6 * SIZE, SIZE)


def test_an_explicit_mask_type_gives_one_completion(trained_run, tmp_path, face16):
    out = tmp_path / "one"
    assert _demo(trained_run, out, "--nIter", 1, "--maskType", "half") == 0
    assert sorted(os.listdir(out / "completed/images")) == ["astronaut.png", "index.csv"]
    assert _png(out / "demo.png").shape == (3 * SIZE, 5 * 3 * SIZE + 4 * 6, 3)
    known = masks.half_mask(SIZE, "bottom")[..., 0] > 0.5                      # the demo's side
    completed = _png(out / "completed/images/astronaut.png")
    assert np.all(np.abs(completed[known] - face16[known]) <= 1)


def test_mask_parameters_name_the_outputs():
    from completion import demo
    args = argparse.Namespace(centerScale=0.25, fractionMasked=0.5, halfSide="top",
                              patternFraction=0.25)
    labels, stack, lowres = demo.mask_set(args, SIZE, np.random.default_rng(0))
    assert labels == ["center", "left", "half-top", "random50", "grid", "pattern"]
    assert stack.shape == (6, SIZE, SIZE, 1) and not lowres.any()
    np.testing.assert_array_equal(stack[2], masks.half_mask(SIZE, "top"))


def test_demo_errors_are_one_clear_line(trained_run, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert complete.main(["--checkpointDir", str(tmp_path / "empty"),
                          "--outDir", str(tmp_path / "o")]) == 1
    assert "no checkpoint" in capsys.readouterr().err
    assert _demo(trained_run, tmp_path / "o", "--shard", "0/2") == 1
    err = capsys.readouterr().err
    assert "--shard" in err and "demo" in err and "Traceback" not in err


def test_the_demo_search_defaults_and_the_blogs(trained_run, demo_out, tmp_path, capsys):
    import json
    from completion import demo

    options = json.loads((demo_out / "options.json").read_text())
    # the demo searches as complete.py does by default (momentum, lr 1 on the loss per
    # known value), with complete.py's iteration caps unless --nIter is given
    assert (options["approach"], options["lr"], options["sumLoss"]) == ("momentum", 1.0, False)
    assert options["nIter"] == 3 and "nIter" not in demo.DEFAULTS
    # a chosen approach gets its own default step size
    assert _demo(trained_run, tmp_path / "m", "--nIter", 1, "--maskType", "center",
                 "--approach", "adam") == 0
    options = json.loads((tmp_path / "m" / "options.json").read_text())
    assert (options["approach"], options["lr"]) == ("adam", 0.03)
    args = complete.build_parser().parse_args(["x.png"])
    # the real defaults, shown by --help; lr None: the approach's (resolved in Options)
    # nIter and featureIter None: the start's (0 and 25 from the encoder, 1000 and 200 from
    # noise), resolved once the model is loaded (tests/test_encoder.py)
    assert (args.approach, args.lr, args.nIter, args.featureIter) == ("momentum", None, None,
                                                                      None)
    face = tmp_path / "face.png"
    Image.fromarray(data.astronaut()[:16, :16]).save(face)
    assert _demo(trained_run, tmp_path / "n", "--nIter", 0, str(face)) == 0
    options = json.loads((tmp_path / "n" / "options.json").read_text())
    assert (options["approach"], options["lr"]) == ("momentum", 1.0)
    demo = complete.build_parser(demo=True).parse_args([])
    assert (demo.nIter, demo.fractionMasked, demo.halfSide) == (None, 0.8, "bottom")
