"""evaluate.py: our completion and OpenCV's baselines scored on the same faces and masks."""
import csv
import json
import math

import cv2
import numpy as np
import pytest

import evaluate
from evaluation import metrics
import utils
from conftest import save_faces16


@pytest.fixture(scope="module")
def faces16(tiny_faces, tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval16")
    save_faces16(tiny_faces, folder, 5, suffix=None)
    return folder


def _rows(out):
    with open(out / "per_image.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_evaluate_all_methods(trained_run, faces16, tmp_path):
    out = tmp_path / "eval"
    assert evaluate.main([str(faces16), "--limit", "4", "--checkpointDir",
                          str(trained_run / "checkpoint"), "--outDir", str(out), "--nIter", "2",
                          "--maskType", "random", "--fractionMasked", "0.8", "--seed", "5",
                          "--methods", ",".join(evaluate.METHODS)]) == 0
    rows = _rows(out)
    assert len(rows) == 4 * len(evaluate.METHODS)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 4 and summary["step"] == 8
    args = evaluate.build_parser().parse_args([str(faces16), "--maskType", "random",
                                               "--fractionMasked", "0.8", "--seed", "5"])
    face_masks = evaluate.make_masks(args, 4, 16)                  # (4, 16, 16, 1), 1 = known
    hole_sizes = {str(path): int((mask == 0).sum())
                  for path, mask in zip(sorted(faces16.iterdir())[:4], face_masks)}
    assert summary["missing_fraction"] == pytest.approx(sum(hole_sizes.values()) / (4 * 256))
    for method in evaluate.METHODS:
        mine = [r for r in rows if r["method"] == method]
        for figure in evaluate.FIGURES:
            values = [float(r[figure]) for r in mine]
            assert np.all(np.isfinite(values))
            assert summary["means"][method][figure] == pytest.approx(np.mean(values))
    # Every method keeps the known pixels, so all of an image's error is in its hole |H|:
    # MSE_whole = MSE_hole * |H| / 256, i.e. psnr_whole = psnr_hole + 10 log10(256 / |H|).
    # A method that changed known pixels, or a row scored against the wrong mask, breaks it.
    for row in rows:
        expected = float(row["psnr_hole"]) + 10 * math.log10(256 / hole_sizes[row["image"]])
        assert float(row["psnr_whole"]) == pytest.approx(expected, abs=1e-9), row

    # the Telea row of the first face is cv2.inpaint of that face under its own random mask
    first = sorted(faces16.iterdir())[0]
    truth = utils.load_rgb(first)
    mask = face_masks[0]
    masks_differ = not np.array_equal(mask, face_masks[1])
    hole = (mask[..., 0] == 0).astype(np.uint8) * 255
    telea = cv2.inpaint(truth * (hole == 0)[..., None].astype(np.uint8), hole, 3.0,
                        cv2.INPAINT_TELEA)
    row = next(r for r in rows if r["method"] == "telea" and r["image"] == str(first))
    assert float(row["psnr_hole"]) == pytest.approx(metrics.psnr(telea, truth, hole > 0))
    assert masks_differ                                   # random masks are drawn per image
    assert (out / "examples.png").exists()


def test_the_weights_change_the_search_not_the_start(trained_run, faces16, tmp_path, capsys):
    """With no iteration the plain and weighted searches return the same G(z0) (same seed, so
    the same z0): the same figures. Their losses at z0 differ as the weights say: a known
    pixel weighs the fraction of missing pixels around it, at most 1 and under 1 wherever
    a known neighbour is in its window, so the weighted loss is the smaller."""
    out = tmp_path / "start"
    assert evaluate.main([str(faces16), "--limit", "4", "--checkpointDir",
                          str(trained_run / "checkpoint"), "--outDir", str(out), "--nIter", "0",
                          "--featureIter", "0", "--methods", "ours,ours_weighted",
                          "--seed", "5"]) == 0
    losses = {}
    for line in capsys.readouterr().out.splitlines():
        if "completion:" in line:
            losses[line.split()[0]] = float(line.split("mean final loss ")[1].split(",")[0])
    assert set(losses) == {"plain", "weighted"}
    assert 0 < losses["weighted"] < losses["plain"]
    plain = {r["image"]: r for r in _rows(out) if r["method"] == "ours"}
    weighted = {r["image"]: r for r in _rows(out) if r["method"] == "ours_weighted"}
    assert len(plain) == 4 and plain == {image: {**row, "method": "ours"}
                                         for image, row in weighted.items()}


def test_baselines_alone_need_no_checkpoint_and_bad_methods_fail(faces16, tmp_path, capsys):
    out = tmp_path / "base"
    assert evaluate.main([str(faces16), "--methods", "telea,ns", "--outDir", str(out),
                          "--checkpointDir", str(tmp_path / "none")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["means"]) == {"telea", "ns"} and summary["images"] == 5
    assert summary["missing_fraction"] == pytest.approx(0.25)   # the centre hole, 8x8 of 16x16
    assert evaluate.main([str(faces16), "--methods", "telea,magic"]) == 1
    assert "unknown magic" in capsys.readouterr().err


def test_model_free_fills_by_hand(tmp_path):
    mask = np.ones((16, 16, 1), np.float32)
    mask[4:12, 4:12] = 0
    # a linear ramp is harmonic: the membrane through its border is the ramp itself
    y, x = np.mgrid[0:16, 0:16]
    ramp = np.stack([10 + 5 * x, 20 + 3 * y + 2 * x, 200 - 4 * y], axis=-1).astype(np.uint8)
    np.testing.assert_array_equal(evaluate.simple_fill(ramp, mask, "harmonic"), ramp)
    # the mean fill: the known pixels' mean colour, rounded, in every missing pixel
    image = np.zeros((16, 16, 3), np.uint8)
    image[..., 0] = 90
    image[:2, :, 1] = 255                               # 32 of the 192 known pixels
    filled = evaluate.simple_fill(image, mask, "mean")
    np.testing.assert_array_equal(filled[8, 8], [90, round(255 * 32 / 192), 0])
    np.testing.assert_array_equal(filled[mask[..., 0] == 1], image[mask[..., 0] == 1])


def test_model_free_methods_need_no_checkpoint(faces16, tmp_path):
    out = tmp_path / "simple"
    assert evaluate.main([str(faces16), "--methods", "harmonic,mean,telea", "--outDir", str(out),
                          "--checkpointDir", str(tmp_path / "none")]) == 0
    means = json.loads((out / "summary.json").read_text())["means"]
    assert set(means) == {"harmonic", "mean", "telea"}
    # a smooth fill beats a flat one on real faces
    assert means["harmonic"]["psnr_hole"] > means["mean"]["psnr_hole"]


def test_baselines_take_gray_faces():
    """A grayscale model's faces (S, S, 1) go through OpenCV's inpainting and the fills."""
    truth = np.tile(np.arange(16, dtype=np.uint8)[:, None, None] * 10, (1, 16, 1))
    mask = np.ones((16, 16, 1), np.float32)
    mask[4:12, 4:12] = 0
    for result in (evaluate.inpaint_baseline(truth, mask, cv2.INPAINT_TELEA, 3.0),
                   evaluate.simple_fill(truth, mask, "harmonic"),
                   evaluate.simple_fill(truth, mask, "mean")):
        assert result.shape == (16, 16, 1) and result.dtype == np.uint8
        np.testing.assert_array_equal(result[mask[..., 0] > 0], truth[mask[..., 0] > 0])


def test_restarts_keep_each_faces_best_start(trained_run, faces16, tmp_path, capsys):
    """--nRestarts K: the first start draws the z of a single run with the same seed and each
    face keeps its lowest final loss, so the mean final loss cannot rise with K."""
    losses = {}
    for restarts in (1, 3):
        out = tmp_path / f"r{restarts}"
        assert evaluate.main([str(faces16), "--limit", "4", "--checkpointDir",
                              str(trained_run / "checkpoint"), "--outDir", str(out),
                              "--nIter", "3", "--methods", "ours", "--seed", "5",
                              "--nRestarts", str(restarts)]) == 0
        line = next(l for l in capsys.readouterr().out.splitlines() if "completion:" in l)
        losses[restarts] = float(line.split("mean final loss ")[1].split(",")[0])
        assert json.loads((out / "summary.json").read_text())["options"]["nRestarts"] == restarts
    assert losses[3] <= losses[1] + 1e-6


@pytest.mark.slow
def test_examples_grid_in_blocks_of_eight(faces16, tmp_path):
    """--examples 10 of 10 faces with two methods: blocks of 8 faces, one above the other, each
    4 rows (truth, masked, telea, mean); the second block holds faces 9-10 and 6 white tiles."""
    folder = tmp_path / "ten"
    folder.mkdir()
    sources = sorted(faces16.iterdir())
    for index in range(10):
        utils.save_rgb(utils.load_rgb(sources[index % 5]), folder / f"face_{index:02d}.png")
    out = tmp_path / "ex"
    assert evaluate.main([str(folder), "--methods", "telea,mean", "--outDir", str(out),
                          "--examples", "10"]) == 0
    grid = utils.load_rgb(out / "examples.png")
    assert grid.shape == (2 * 4 * 16, 8 * 16, 3)
    tile = lambda row, col: grid[16 * row:16 * (row + 1), 16 * col:16 * (col + 1)]
    assert np.array_equal(tile(0, 7), utils.load_rgb(sources[7 % 5]))    # block 1, truth row
    assert np.array_equal(tile(4, 0), utils.load_rgb(sources[8 % 5]))    # block 2, truth row
    assert np.array_equal(tile(4, 1), utils.load_rgb(sources[9 % 5]))
    assert (tile(4, 2) == 255).all() and (tile(7, 7) == 255).all()       # the padding
    masked = tile(5, 0)                               # the centre hole shows 0, mid-gray
    assert (masked[4:12, 4:12] == utils.from_model(np.zeros(1))[0]).all()
    assert np.array_equal(masked[:4], tile(4, 0)[:4])
    assert evaluate.main([str(faces16), "--methods", "mean", "--outDir", str(tmp_path / "few"),
                          "--examples", "3"]) == 0                       # fewer than 8: one block
    assert utils.load_rgb(tmp_path / "few" / "examples.png").shape == (3 * 16, 3 * 16, 3)
    assert evaluate.main([str(faces16), "--methods", "mean", "--outDir", str(tmp_path / "none"),
                          "--examples", "0"]) == 0
    assert not (tmp_path / "none" / "examples.png").exists()
