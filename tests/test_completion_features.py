"""complete.py's additions end to end on the tiny trained model and real faces and photos:
per-image outputs, --blend, --weighted, --maskFile/--maskDir, --nRestarts, --gif, --align/--pasteBack."""
import csv
import os

import numpy as np
import pytest
from PIL import Image

import complete
import utils

HOLE = np.s_[4:12, 4:12]          # the centre hole at 16x16


@pytest.fixture(scope="module")
def faces16(tiny_faces, tmp_path_factory):
    """Four real faces at 16x16; two of them in sub-folders under the same name."""
    folder = tmp_path_factory.mktemp("faces16")
    (folder / "sub").mkdir()
    paths = []
    for index, path in enumerate(sorted(tiny_faces.iterdir())[:4]):
        target = folder / ("sub" if index == 3 else "") / (
            "same.png" if index in (2, 3) else path.stem + ".png")
        utils.save_rgb(utils.center_crop_resize(utils.load_rgb(path), 16), target)
        paths.append(target)
    return paths


def _run(trained_run, out, *extra):
    return complete.main(["--checkpointDir", str(trained_run / "checkpoint"), "--outDir", str(out),
                          "--seed", "1", "--precision", "float32", *map(str, extra)])


def _png(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def _log_losses(out, index=0):
    lines = (out / "logs" / f"hats_{index:02d}.log").read_text().splitlines()[1:]
    return np.array([float(line.split()[1]) for line in lines])


def test_per_image_outputs_blend_weighted_and_gif(trained_run, faces16, tmp_path):
    # an input reached through "..", and two inputs called same.png
    dotted = faces16[0].parent / "sub" / ".." / faces16[0].name
    inputs = [dotted, *faces16[1:]]
    plain, fancy = tmp_path / "plain", tmp_path / "fancy"
    assert _run(trained_run, plain, "--nIter", 4, "--outInterval", 2, "--no-blend",
                "--no-weighted", "--featureIter", 2, *inputs) == 0
    # blending and the weighted loss are the defaults
    assert _run(trained_run, fancy, "--nIter", 4, "--outInterval", 2, "--featureIter", 2,
                "--gif", *inputs) == 0

    per_image = fancy / "completed" / "images"
    names = sorted(os.listdir(per_image))
    assert names == sorted([faces16[0].stem + ".png", faces16[1].stem + ".png", "same.png",
                            "same-2.png", "index.csv"])
    with open(per_image / "index.csv") as handle:
        index = {row["input"]: row["output"] for row in csv.DictReader(handle)}
    assert index[str(faces16[3])] == os.path.join("completed", "images", "same-2.png")
    # the grids are still where the original puts them, next to the per-image folder
    assert sorted(os.listdir(fancy / "completed")) == ["0000.png", "0002.png", "0004.png",
                                                       "0006.png", "images"]

    known = np.ones((16, 16), bool)
    known[HOLE] = False
    for path in inputs:
        name = os.path.basename(index[str(path)])
        truth = _png(path)
        blended, pasted = _png(per_image / name), _png(plain / "completed" / "images" / name)
        np.testing.assert_array_equal(blended[known], truth[known])      # known pixels exact
        np.testing.assert_array_equal(pasted[known], truth[known])
        assert np.abs(blended[~known] - pasted[~known]).max() > 2         # blending changed the hole
    # the plain per-image file is the last grid's tile
    np.testing.assert_array_equal(_png(plain / "completed" / "images" / name),
                                  _png(plain / "completed" / "0006.png")[:, 48:64])

    # --weighted changes the loss (same z at iteration 0: smaller weights, smaller loss) ...
    assert _log_losses(fancy)[0] < _log_losses(plain)[0]
    # ... but masked.png still shows the binary mask
    masked = _png(fancy / "masked.png")[:, :16]
    assert np.all(np.abs(masked[HOLE] - 127.5) <= 1)
    np.testing.assert_array_equal(masked[known], _png(dotted)[known])

    with Image.open(fancy / "completion.gif") as gif:
        assert gif.size == (64, 16)
        durations = []
        for frame in range(gif.n_frames):
            gif.seek(frame)
            durations.append(gif.info["duration"])
    # iterations 0, 2, 4, 6 (Pillow merges frames that did not change, adding their durations)
    assert sum(durations) == 3 * 200 + 1500


def test_mask_file_and_mask_dir(trained_run, faces16, tmp_path, capsys):
    drawing = np.full((64, 64), 255, np.uint8)
    drawing[:, 32:] = 0                                   # right half missing (black)
    Image.fromarray(drawing).save(tmp_path / "right.png")
    out = tmp_path / "file"
    assert _run(trained_run, out, "--nIter", 1, "--maskFile", tmp_path / "right.png",
                *faces16[:2]) == 0
    masked = _png(out / "masked.png")
    assert np.all(np.abs(masked[:, 8:16] - 127.5) <= 1) and np.all(np.abs(masked[:, 24:32] - 127.5) <= 1)
    np.testing.assert_array_equal(masked[:, :8], _png(faces16[0])[:, :8])

    folder = tmp_path / "masks"
    folder.mkdir()
    Image.fromarray(drawing).save(folder / (faces16[0].stem + ".png"))
    Image.fromarray(np.ascontiguousarray(drawing.T)).save(folder / "same.jpg")  # bottom half missing
    out = tmp_path / "dir"
    assert _run(trained_run, out, "--nIter", 1, "--maskDir", folder, faces16[0], faces16[2]) == 0
    masked = _png(out / "masked.png")
    assert np.all(np.abs(masked[:, 8:16] - 127.5) <= 1)                  # image 0: right half
    assert np.all(np.abs(masked[8:, 16:32] - 127.5) <= 1)                # image 1: bottom half
    np.testing.assert_array_equal(masked[:8, 16:32], _png(faces16[2])[:8])

    assert _run(trained_run, tmp_path / "x", "--nIter", 1, "--maskDir", folder, faces16[1]) == 1
    err = capsys.readouterr().err
    assert "no mask in" in err and faces16[1].name in err and "Traceback" not in err
    (tmp_path / "bad.png").write_text("not a png")
    assert _run(trained_run, tmp_path / "x", "--maskFile", tmp_path / "bad.png", faces16[0]) == 1
    assert "cannot read mask" in capsys.readouterr().err
    Image.fromarray(np.zeros((10, 30), np.uint8)).save(tmp_path / "wide.png")
    assert _run(trained_run, tmp_path / "x", "--maskFile", tmp_path / "wide.png", faces16[0]) == 1
    assert "must be square" in capsys.readouterr().err
    assert _run(trained_run, tmp_path / "x", "--pasteBack", faces16[0]) == 1
    assert "--pasteBack needs --align" in capsys.readouterr().err


def test_restarts_keep_the_lowest_final_loss(trained_run, faces16, tmp_path):
    from training import checkpoints
    from completion import masks
    from completion.search import CompletionConfig, best_of_restarts, complete, networks

    model, _ = checkpoints.load_for_completion(str(trained_run / "checkpoint"))
    images = np.stack([utils.to_model(utils.load_rgb(p)) for p in faces16])
    mask = masks.make_mask("center", 16)[0][None]
    config = CompletionConfig(n_iter=5, out_interval=5, lr=0.05, feature_iter=0, stop_tol=0)
    *_, single = complete(*networks(model), images, mask, config=config, seed=7)
    # the same seed draws the same first restart; all restarts at once, for reference
    everything = list(complete(*networks(model), np.concatenate([images] * 3),
                               np.concatenate([mask] * 12), config=config, seed=7))
    best = best_of_restarts(*networks(model), images, mask, config=config, seed=7, restarts=3)
    all_final = everything[-1].loss.reshape(3, 4)
    np.testing.assert_allclose(all_final[0], single.loss, rtol=1e-5)
    np.testing.assert_allclose(best[-1].loss, all_final.min(axis=0), rtol=1e-5)
    assert np.all(best[-1].loss <= single.loss + 1e-4)
    assert len(best) == 2 and best[-1].generated.shape == (4, 16, 16, 3)
    assert best[-1].history_z.shape == (5, 4, 16)

    out = tmp_path / "restarts"
    assert _run(trained_run, out, "--nIter", 2, "--featureIter", 1, "--nRestarts", 3,
                *faces16[:2]) == 0
    assert len(os.listdir(out / "logs")) == 2 and len(_log_losses(out, 1)) == 3
    assert _png(out / "before.png").shape == (16, 32, 3)


@pytest.mark.slow
def test_align_and_paste_back_raw_photos(trained_run, photos_dir, tmp_path, capsys):
    from completion import faces
    from conftest import require_path

    photos = [require_path(photos_dir / "openface" / "examples" / name)
              for name in ("adams.jpg", "lennon-1.jpg")]
    out = tmp_path / "photos"
    assert _run(trained_run, out, "--align", "--pasteBack", "--nIter", 2, "--blend", *photos) == 0
    mask = np.ones((16, 16, 1), np.float32)
    mask[HOLE] = 0
    for column, photo_path in enumerate(photos):
        photo = utils.load_rgb(photo_path)
        found = faces.find_faces(photo, 16)[0]          # the page's alignment, the largest face
        transform, (left, top, right, bottom) = found.transform, found.box
        np.testing.assert_array_equal(_png(out / "before.png")[:, 16 * column:16 * (column + 1)],
                                      found.aligned)                    # the aligned face completed
        pasted = _png(out / "pasted" / (photo_path.stem + ".png"))
        assert pasted.shape == photo.shape
        changed = np.any(pasted != photo, axis=2)
        region = faces.warped_hole(mask, transform, photo.shape) > 0
        assert not np.any(changed & ~region)                             # only the hole changes
        assert changed.sum() > 0.5 * region.sum()
        # the hole of the face maps onto the middle of the face in the photo
        rows, cols = np.nonzero(region)
        assert left < cols.mean() < right and top < rows.mean() < bottom

    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(tmp_path / "wall.png")
    assert _run(trained_run, tmp_path / "x", "--align", "--nIter", 1, tmp_path / "wall.png") == 1
    assert "wall.png: no face found" in capsys.readouterr().err       # nothing usable: an error


def test_a_grayscale_model_reads_the_gray_training_reads(faces16):
    """complete.py and evaluate.py read a face for a one-channel model as training does
    (tf.image.rgb_to_grayscale, ITU-R 601), not as the mean of R, G and B."""
    from completion import faces
    from training import pipeline

    paths = [str(path) for path in faces16]
    read = faces.read_faces(paths, 16, channels=1)
    assert read.shape == (4, 16, 16, 1)
    trained = np.stack([pipeline.decode_image(path, 16, 1).numpy() for path in paths])
    np.testing.assert_array_equal(utils.from_model(read), trained)
    mean = np.stack([utils.load_rgb(path).mean(axis=2, keepdims=True) for path in paths])
    assert np.abs(utils.from_model(read).astype(float) - mean).max() > 2   # not the mean
    np.testing.assert_array_equal(faces.read_faces(paths, 16, channels=3),
                                  np.stack([utils.to_model(utils.load_rgb(p)) for p in paths]))
