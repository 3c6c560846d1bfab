"""complete.py end to end with a trained checkpoint and real faces, and its error messages."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import complete
from conftest import ROOT, save_faces16


@pytest.fixture(scope="module")
def aligned16(tiny_faces, tmp_path_factory):
    """Six real faces at the tiny model's 16x16, as PNG."""
    folder = tmp_path_factory.mktemp("aligned16")
    save_faces16(tiny_faces, folder, 6)
    return folder


def _run(trained_run, out, *extra):
    return complete.main(["--checkpointDir", str(trained_run / "checkpoint"), "--outDir", str(out),
                          "--seed", "1", "--precision", "float32", *map(str, extra)])


def _png(path):
    return np.asarray(Image.open(path)).astype(np.int16)


def test_complete_writes_every_output_of_the_original(trained_run, aligned16, tmp_path):
    images = sorted(str(p) for p in aligned16.iterdir())
    out = tmp_path / "out"
    assert _run(trained_run, out, "--nIter", 7, "--outInterval", 3, "--featureIter", 0,
                *images) == 0            # the blog's search: z only
    expected = {"before.png", "masked.png", "options.json", "hats_imgs", "completed", "logs",
                "progress.json"}                   # + the finished batches, for resuming
    assert set(os.listdir(out)) == expected
    steps = ["0000.png", "0003.png", "0006.png", "0007.png"]  # every interval and the last
    assert sorted(os.listdir(out / "hats_imgs")) == steps
    assert sorted(os.listdir(out / "completed")) == steps + ["images"]   # + per-image files
    assert sorted(os.listdir(out / "logs")) == [f"hats_{i:02d}.log" for i in range(6)]

    before, masked = _png(out / "before.png"), _png(out / "masked.png")
    assert before.shape == (16, 6 * 16, 3)  # one row of 6 (8 per row, as the original)
    first = _png(aligned16 / os.path.basename(images[0]))
    np.testing.assert_array_equal(before[:, :16], first)
    # centre mask (scale 0.25): rows/cols 4..11 of each 16x16 tile are the hole (gray)
    hole = np.zeros((16, 16), bool)
    hole[4:12, 4:12] = True
    tiles = lambda grid: [grid[:, 16 * i:16 * (i + 1)] for i in range(6)]
    for b, m, c, h in zip(tiles(before), tiles(masked), tiles(_png(out / "completed/0007.png")),
                          tiles(_png(out / "hats_imgs/0007.png"))):
        assert np.all(np.abs(m[hole] - 127.5) <= 1)
        assert np.all(np.abs(m[~hole] - b[~hole]) <= 1)
        assert np.all(np.abs(c[~hole] - b[~hole]) <= 1)      # known pixels kept
        assert np.all(np.abs(c[hole] - h[hole]) <= 1)        # G(z) in the hole

    lines = (out / "logs" / "hats_00.log").read_text().splitlines()
    assert lines[0].split()[:3] == ["iter", "loss", "z0"] and len(lines[0].split()) == 2 + 16
    assert len(lines) == 1 + 7                               # a line per iteration
    assert [int(line.split()[0]) for line in lines[1:]] == list(range(7))
    values = np.array([line.split()[1:] for line in lines[1:]], float)
    assert np.all(np.abs(values[:, 1:]) <= 1) and np.all(values[:, 0] > 0)


def test_feature_search_continues_the_outputs_after_the_z_search(trained_run, aligned16,
                                                                 tmp_path):
    """--nIter 4 --featureIter 3: snapshots every 3 iterations and at the end of each phase;
    the log has a line per iteration, z frozen in the feature phase while the loss moves on;
    the last hats image is G of the feature map, pasted into the last completed grid."""
    images = sorted(str(p) for p in aligned16.iterdir())[:2]
    out = tmp_path / "features"
    assert _run(trained_run, out, "--nIter", 4, "--featureIter", 3, "--featureLr", 3000,
                "--outInterval", 3, *images) == 0
    steps = ["0000.png", "0003.png", "0004.png", "0006.png", "0007.png"]
    assert sorted(os.listdir(out / "hats_imgs")) == steps
    lines = (out / "logs" / "hats_00.log").read_text().splitlines()[1:]
    assert [int(line.split()[0]) for line in lines] == list(range(7))
    values = np.array([line.split()[1:] for line in lines], float)
    np.testing.assert_array_equal(values[5:, 1:], np.repeat(values[4:5, 1:], 2, axis=0))
    assert not np.array_equal(values[4:, 0], np.repeat(values[4, 0], 3))  # the loss moves
    assert not np.array_equal(_png(out / "hats_imgs/0007.png"), _png(out / "hats_imgs/0004.png"))
    hole = np.zeros((16, 16), bool)
    hole[4:12, 4:12] = True
    completed, hats = _png(out / "completed/0007.png"), _png(out / "hats_imgs/0007.png")
    assert np.all(np.abs(completed[:16, :16][hole] - hats[:16, :16][hole]) <= 1)
    options = json.loads((out / "options.json").read_text())
    assert (options["featureIter"], options["featureLr"]) == (3, 3000.0)


def test_lowres_mask_writes_lowres_previews(trained_run, aligned16, tmp_path):
    out = tmp_path / "low"
    assert _run(trained_run, out, "--maskType", "lowres", "--nIter", 2, "--outInterval", 2,
                "--featureIter", 0, aligned16) == 0
    assert (out / "lowres.png").exists()
    assert sorted(os.listdir(out / "hats_imgs")) == ["0000.lowres.png", "0000.png",
                                                     "0002.lowres.png", "0002.png"]
    low = _png(out / "lowres.png")[:, :16]
    # lowres keeps the 8x8 block means: each block of the preview is constant
    for r in (0, 8):
        for c in (0, 8):
            block = low[r:r + 8, c:c + 8]
            assert np.all(np.abs(block - block[0, 0]) <= 1)
    masked = _png(out / "masked.png")
    assert np.all(np.abs(masked - 127.5) <= 1)  # no pixel is known at full resolution


def test_more_images_than_a_batch_use_one_folder_per_batch(trained_run, aligned16, tmp_path):
    out = tmp_path / "batches"
    assert _run(trained_run, out, "--batchSize", 4, "--nIter", 1, aligned16) == 0
    assert sorted(d for d in os.listdir(out) if d.startswith("batch_")) == ["batch_000", "batch_001"]
    assert _png(out / "batch_000" / "before.png").shape == (16, 64, 3)
    assert _png(out / "batch_001" / "before.png").shape == (16, 32, 3)   # the last 2 images
    assert len(os.listdir(out / "batch_001" / "logs")) == 2


def test_an_image_completes_the_same_alone_or_in_a_batch(trained_run, aligned16, tmp_path):
    images = sorted(str(p) for p in aligned16.iterdir())
    assert _run(trained_run, tmp_path / "all", "--nIter", 3, "--featureIter", 2, *images) == 0
    assert _run(trained_run, tmp_path / "one", "--nIter", 3, "--featureIter", 2, images[0]) == 0
    log_all = (tmp_path / "all" / "logs" / "hats_00.log").read_text().splitlines()
    log_one = (tmp_path / "one" / "logs" / "hats_00.log").read_text().splitlines()
    assert log_all[0] == log_one[0] and log_all[0].startswith("iter loss z0")
    # a line per iteration in both (z's 3, then the feature search's 2), so the comparison
    # below covers every iteration
    assert len(log_all) == len(log_one) == 1 + 3 + 2
    values_all = np.array([line.split() for line in log_all[1:]], float)   # (5, 2 + z_dim)
    values_one = np.array([line.split() for line in log_one[1:]], float)
    np.testing.assert_array_equal(values_all[:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(values_all, values_one, rtol=1e-4, atol=1e-5)
    assert not np.allclose(values_all[0, 2:], values_all[-1, 2:])   # z moved: a real search


@pytest.mark.parametrize("approach", ["adam", "hmc"])
def test_other_approaches_run_from_the_command_line(trained_run, aligned16, tmp_path, approach):
    out = tmp_path / approach
    assert _run(trained_run, out, "--approach", approach, "--nIter", 2, "--hmcL", 3,
                "--featureIter", 1, aligned16) == 0     # the feature search follows any approach
    values = np.array([l.split() for l in (out / "logs/hats_00.log").read_text().splitlines()[1:]],
                      float)
    assert values.shape == (3, 2 + 16) and np.all(np.abs(values[:, 2:]) <= 1)


def test_errors_are_one_clear_line(trained_run, aligned16, tmp_path, capsys):
    good = str(sorted(aligned16.iterdir())[0])
    (tmp_path / "no_images").mkdir()
    assert _run(trained_run, tmp_path / "o", tmp_path / "no_images") == 1
    assert "no images given" in capsys.readouterr().err
    assert _run(trained_run, tmp_path / "demo", "--nIter", 1) == 0      # none at all: the demo
    assert (tmp_path / "demo" / "demo.png").exists()

    bad = tmp_path / "notes.png"
    bad.write_text("this is text, not a PNG")
    assert _run(trained_run, tmp_path / "o", good, bad) == 3     # skipped, the rest completed
    out = capsys.readouterr().out
    assert "warning: skipped" in out and "notes.png: cannot read image" in out
    assert _run(trained_run, tmp_path / "o2", bad) == 1          # nothing usable: an error
    err = capsys.readouterr().err
    assert "notes.png" in err and "cannot read" in err and "Traceback" not in err

    assert _run(trained_run, tmp_path / "o", tmp_path / "missing.png") == 1
    assert "no such file" in capsys.readouterr().err

    assert complete.main(["--checkpointDir", str(tmp_path / "nockpt"), good]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "emptyckpt").mkdir()
    assert complete.main(["--checkpointDir", str(tmp_path / "emptyckpt"), good]) == 1
    assert "no checkpoint" in capsys.readouterr().err

    assert _run(trained_run, tmp_path / "o", "--imgSize", 64, good) == 1
    assert "trained at 16x16" in capsys.readouterr().err


def test_a_foreign_checkpoint_is_refused_clearly(aligned16, tmp_path, capsys):
    import tensorflow as tf
    tf.train.Checkpoint(v=tf.Variable([1.0, 2.0])).save(str(tmp_path / "ck" / "other"))
    good = str(sorted(aligned16.iterdir())[0])
    assert complete.main(["--checkpointDir", str(tmp_path / "ck"), good]) == 1
    assert "no architecture record" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value", [("--centerScale", "0.7"), ("--nIter", "-1"),
                                        ("--maskType", "triangle"), ("--lr", "-0.1"),
                                        ("--batchSize", "0"), ("--imgSize", "60"),
                                        ("--fractionMasked", "1.5")])
def test_bad_flags_exit_2_naming_the_flag(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        complete.main([flag, value, "x.png"])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.slow
def test_help_and_errors_from_a_real_process(tmp_path):
    """The installed entry points: --help answers without TensorFlow; an error exits 1."""
    done = subprocess.run([sys.executable, str(ROOT / "complete.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--maskType" in done.stdout and "(default: center)" in done.stdout
    help_text = " ".join(done.stdout.split())
    # --nIter's default depends on the start (defaults.BUDGET)
    assert "(default: 1000 from noise, 0 from the encoder)" in help_text
    assert "(default: momentum)" in help_text
    assert "1 for momentum, 0.03 for adam" in help_text         # --lr: from defaults.DEFAULT_LR
    done = subprocess.run([sys.executable, str(ROOT / "train-dcgan.py"), "--dataset",
                           str(tmp_path / "nothing")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_shards_split_the_images_without_overlap_or_collision(trained_run, aligned16, tmp_path):
    images = sorted(str(p) for p in aligned16.iterdir())         # 6 images
    seen = []
    for index in range(4):
        assert _run(trained_run, tmp_path / "out", "--shard", f"{index}/4", "--nIter", 1,
                    *images) == 0
        folder = tmp_path / "out" / f"shard_{index}_of_4"
        mine = json.loads((folder / "options.json").read_text())["imgs"]
        assert len(os.listdir(folder / "logs")) == len(mine)
        assert _png(folder / "before.png").shape[1] == 16 * len(mine)
        seen.extend(mine)
    assert seen == images                                         # all, once, in order
    assert sorted(os.listdir(tmp_path / "out")) == [f"shard_{i}_of_4" for i in range(4)]


@pytest.mark.parametrize("value", ["4/4", "-1/2", "1", "a/b", "0/0"])
def test_bad_shard_exits_2(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        complete.main(["--shard", value, "x.png"])
    assert exit_info.value.code == 2 and "--shard" in capsys.readouterr().err


def test_help_does_not_load_tensorflow():
    """--help answers at once: the drivers import TensorFlow only when work starts."""
    code = ("import sys; sys.argv = ['x', '--help']\n"
            "import complete, train_dcgan\n"
            "for main in (complete.main, train_dcgan.main):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "print('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_options_are_resolved_once_into_a_frozen_object(aligned16):
    import dataclasses

    from completion import job as completion_job
    image, other = (str(path) for path in sorted(aligned16.iterdir())[:2])
    args = complete.build_parser().parse_args(["--approach", "adam", "--precision", "float32",
                                               "--shard", "0/2", image, other, image + "*"])
    given = dict(vars(args))
    lines = []
    options = completion_job.resolve(args, log=lines.append)
    assert vars(args) == given                                  # args are not changed
    assert (options.lr, options.precision, options.imgs) == (0.03, "float32", (image,))
    assert lines == ["Precision: float32 (as asked)"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.lr = 1.0


def test_read_and_write_failures_are_told_apart(trained_run, aligned16, tmp_path, monkeypatch,
                                                capsys):
    import errno
    from completion import faces
    import utils
    good = str(sorted(aligned16.iterdir())[0])

    def unreadable(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    with monkeypatch.context() as patch:
        patch.setattr(faces, "read_face", unreadable)
        assert _run(trained_run, tmp_path / "r", good) == 1
    err = capsys.readouterr().err
    assert f"cannot read {good}: Permission denied" in err and "write" not in err

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(utils, "atomic_write", full)
    assert _run(trained_run, tmp_path / "w", "--nIter", 1, good) == 1
    err = capsys.readouterr().err
    assert f"cannot write outputs to '{tmp_path / 'w'}': No space left on device" in err
    assert "Traceback" not in err
