"""Reliability: messy data, bad flags, damaged checkpoints, signals, kills, NaN, full disks.

The training runs here are tiny (8x8 images, 8 filters, batch 4) so that each
costs a few seconds; the SIGKILL test runs real trainers in a subprocess.
"""
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from training import checkpoints
import complete
from training import image_check, pipeline
import train_dcgan
import utils
from conftest import ROOT
from model import DCGAN
from shared.errors import TrainingError
from training.train_step import TrainStep


# ------------------------------------------------------------------ helpers
def _tiny_training(dataset, run, *extra):
    return ["--dataset", str(dataset), "--epoch", "1", "--batch_size", "4", "--image_size", "8",
            "--z_dim", "8", "--gf_dim", "8", "--df_dim", "8", "--g_steps", "1",
            "--checkpoint_dir", str(run / "checkpoint"), "--sample_dir", str(run / "samples"),
            "--log_dir", str(run / "logs"), "--seed", "5", "--sample_interval", "100",
            "--checkpoint_interval", "1", "--log_interval", "1", "--precision", "float32", *map(str, extra)]


@pytest.fixture(scope="module")
def faces16(tiny_faces, tmp_path_factory):
    """16 real faces (JPEG symlinks) for the tiny runs."""
    folder = tmp_path_factory.mktemp("faces16")
    for path in sorted(tiny_faces.iterdir())[:16]:
        (folder / path.name).symlink_to(path)
    return folder


def _steps_in(checkpoint_dir):
    return sorted(checkpoints.step_of(p) for p in checkpoints.candidates(str(checkpoint_dir)))


def _hashes(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class StepHook:
    """Make every train step call ``action(dcgan, step, outputs)`` after it (dcgan: the
    networks it trains)."""

    def __init__(self, monkeypatch, action):
        original = TrainStep.__call__
        self.calls = 0

        def train_step(step_object, images, z):
            outputs = original(step_object, images, z)
            self.calls += 1
            return action(step_object.gan, self.calls, outputs) or outputs

        monkeypatch.setattr(TrainStep, "__call__", train_step)


# ------------------------------------------------------------ messy training data
def _messy_folder(root, faces):
    """Usable files in awkward forms, and every kind of unusable file. Returns the bad names."""
    sources = [utils.load_rgb(path) for path in sorted(faces.iterdir())[:8]]
    nested = root / "nested dir" / "ünïcødé sub"
    nested.mkdir(parents=True)
    Image.fromarray(sources[0]).save(root / "plain rgb.png")
    Image.fromarray(sources[1]).save(nested / "jpeg ç.jpg")
    Image.fromarray(sources[2]).convert("L").save(root / "gray.png")
    Image.fromarray(sources[3]).convert("RGBA").save(root / "rgba.png")
    Image.fromarray(sources[4]).convert("CMYK").save(nested / "cmyk.jpg")
    wide = (np.asarray(Image.fromarray(sources[5]).convert("L")).astype(np.uint16) * 257)
    Image.fromarray(wide).save(root / "sixteen bit.png")
    Image.fromarray(sources[6]).resize((1600, 1200)).save(root / "huge.jpeg", quality=70)
    Image.fromarray(sources[7]).save(root / "jpeg named.png", format="JPEG")
    bad = {"empty.png": b"", "text.png": b"this is not an image\n"}
    for name, data in bad.items():
        (root / name).write_bytes(data)
    whole = (root / "huge.jpeg").read_bytes()
    (nested / "truncated.jpg").write_bytes(whole[:len(whole) // 3])
    Image.new("RGB", (1, 1)).save(root / "tiny.png")
    Image.new("1", (9000, 9000)).save(root / "bomb.png")         # 81 Mpixel, 10 kB on disk
    (root / "folder.png").mkdir()                                # a folder with an image's name
    (nested / "loop").symlink_to(root, target_is_directory=True)  # a symlink back up: no hang
    return {"empty.png", "text.png", "truncated.jpg", "tiny.png", "bomb.png"}


def test_messy_folder_skips_each_bad_file_once_and_trains_on_the_rest(faces16, tmp_path,
                                                                      capsys):
    data = tmp_path / "messy data"
    data.mkdir()
    bad = _messy_folder(data, faces16)
    run = tmp_path / "run"
    assert train_dcgan.main(_tiny_training(data, run)) == 0
    out = capsys.readouterr().out
    skips = [line for line in out.splitlines() if line.startswith("warning: skipping")]
    assert len(skips) == len(bad)
    for name in bad:                                  # one warning naming each bad file
        assert sum(name in line for line in skips) == 1, (name, skips)
    assert f"skipped {len(bad)} of {len(bad) + 8} files" in out
    assert "8 usable" in out
    # 8 usable images, batch 4: both steps of the epoch ran and were checkpointed.
    assert re.search(r"step: 2 ", out) and "Traceback" not in out
    assert _steps_in(run / "checkpoint")[-1] == 2


def test_no_usable_image_is_an_error_before_any_model(tmp_path, capsys):
    data = tmp_path / "bad"
    data.mkdir()
    (data / "a.png").write_bytes(b"")
    (data / "b.jpg").write_text("text")
    assert train_dcgan.main(_tiny_training(data, tmp_path / "run")) == 1
    captured = capsys.readouterr()
    assert "none of the 2 images" in captured.err and "Traceback" not in captured.err
    assert checkpoints.candidates(str(tmp_path / "run" / "checkpoint")) == []


def test_unusual_modes_decode_in_the_pipeline_as_load_rgb_reads_them(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    files = {"rgb.png": ("RGB", True), "gray.png": ("L", True), "rgb.jpg": ("RGB", True),
             "cmyk.jpg": ("CMYK", False), "rgba.png": ("RGBA", False), "pal.png": ("P", False)}
    for name, (mode, _) in files.items():
        Image.fromarray(rgb).convert(mode).save(tmp_path / name)
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "wide.png")
    files["wide.png"] = ("I;16", False)
    paths = sorted(str(tmp_path / name) for name in files)
    checks = [utils.check_training_image(path, 8) for path in paths]
    assert [c.plain for c in checks] == [files[os.path.basename(p)][1] for p in paths]
    batches = pipeline.make_dataset(paths, 8, len(paths), seed=0, steps=1, epochs=1, flip=False,
                                    plain=[c.plain for c in checks])
    got = next(iter(batches)).numpy()
    expected = [utils.to_model(utils.load_rgb(path)) for path in paths]
    errors = sorted(min(np.abs(image - e).max() for e in expected) for image in got)
    # Pillow decodes all but the plain files exactly as load_rgb does; TensorFlow decodes the
    # plain PNGs identically and the plain JPEG within its decoder's rounding.
    assert errors[:-1] == [0.0] * (len(paths) - 1) and errors[-1] <= 8 / 127.5


def test_training_batches_run_without_the_autotuning_model(tmp_path):
    """tf.data's autotuning model thread made the end of a run wait up to 40 s (the
    iterator's destructor waited for it; TensorFlow 2.21): the pipeline runs without it,
    and still yields every batch."""
    paths = []
    for index in range(6):
        path = tmp_path / f"{index}.png"
        Image.new("RGB", (8, 8), (index * 40, 0, 0)).save(path)
        paths.append(str(path))
    dataset = pipeline.make_dataset(paths, 8, 2, seed=0, steps=3, epochs=2, flip=False)
    assert dataset.options().autotune.enabled is False
    batches = [batch.numpy() for batch in dataset]
    reds = sorted(round((b[0, 0, 0] + 1) * 127.5) for batch in batches[:3] for b in batch)
    assert len(batches) == 6 and reds == [0, 40, 80, 120, 160, 200]


def test_image_checks_are_cached_and_redone_for_changed_files(tmp_path, monkeypatch):
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    Image.new("RGB", (8, 8), "red").save(good)
    bad.write_text("not an image")
    cache = tmp_path / image_check.IMAGE_CHECK_CACHE
    lines = []
    warnings = lambda: [line for line in lines if line.startswith("warning:")]

    def usable(paths, size, log=lines.append):
        return image_check.usable_training_images(str(tmp_path), paths, size, str(tmp_path), log)

    first = usable([str(good), str(bad)], 8)
    assert [c.path for c in first] == [str(good)] and len(warnings()) == 2 and cache.exists()

    checked = []
    real_check = utils.check_training_image
    monkeypatch.setattr(utils, "check_training_image",
                        lambda path, size: checked.append(path) or real_check(path, size))
    again = usable([str(good), str(bad)], 8)
    assert again == first and checked == [] and len(warnings()) == 4   # same warnings, no decode
    Image.new("RGB", (8, 8), "blue").save(bad)                         # the bad file is fixed
    os.utime(bad, ns=(1, 1))
    fixed = usable([str(good), str(bad)], 8)
    assert [c.path for c in fixed] == [str(good), str(bad)] and checked == [str(bad)]
    # another image size, or a damaged cache file, means checking again
    assert len(usable([str(good)], 16, print)) == 1
    cache.write_text("{broken")
    assert len(usable([str(good)], 8, print)) == 1
    with pytest.raises(TrainingError, match="none of the 1 images"):
        usable([str(tmp_path / "missing.png")], 8, print)


def test_image_check_in_worker_processes_equals_the_check_in_threads(tmp_path):
    """The worker processes (a big folder, while TensorFlow loads) find what threads find:
    the same usable files in order, the same warnings, the same cache."""
    Image.new("RGB", (8, 8), "red").save(tmp_path / "a.png")
    Image.new("L", (12, 9), 7).save(tmp_path / "b.jpg")
    Image.new("RGB", (1, 1)).save(tmp_path / "tiny.png")          # too small for 8x8
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    Image.new("RGB", (8, 8), "blue").save(tmp_path / "c.png")
    paths = sorted(str(path) for path in tmp_path.iterdir())
    found = {}
    for processes in (False, True):
        cache_dir = tmp_path / f"cache-{processes}"
        cache_dir.mkdir()
        lines = []
        usable = image_check.usable_training_images(str(tmp_path), paths, 8, str(cache_dir),
                                                    lines.append, workers=2,
                                                    processes=processes)
        cache = json.loads((cache_dir / image_check.IMAGE_CHECK_CACHE).read_text())
        found[processes] = (usable, [line for line in lines if line.startswith("warning")],
                            cache)
    assert found[True] == found[False]
    usable, warnings, _ = found[True]
    assert [os.path.basename(c.path) for c in usable] == ["a.png", "b.jpg", "c.png"]
    assert [c.plain for c in usable] == [True, True, True]
    assert len(warnings) == 4 and all(name in " ".join(warnings)
                                      for name in ("tiny.png", "empty.png", "text.jpg"))


def test_training_reports_a_missing_dataset_before_loading_tensorflow(tmp_path):
    """The folder check runs before the TensorFlow import: a wrong --dataset fails fast."""
    script = ("import sys, train_dcgan; code = train_dcgan.main(['--dataset', sys.argv[1]]); "
              "print('tensorflow' in sys.modules); sys.exit(code)")
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "nothing")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "does not exist" in run.stderr
    assert run.stdout.strip() == "False" and "Traceback" not in run.stderr


# ------------------------------------------------------------------ flags
@pytest.mark.parametrize("flag,value", [
    ("--sample_interval", "0"), ("--checkpoint_interval", "-3"), ("--log_interval", "0"),
    ("--g_steps", "0"), ("--z_dim", "0"), ("--gf_dim", "-8"), ("--df_dim", "x"),
    ("--c_dim", "2"), ("--precision", "float8"), ("--seed", "-1"), ("--seed", str(2**31)),
    ("--beta1", "1"), ("--learning_rate", "nan"), ("--learning_rate", "inf"),
    ("--train_size", "0"), ("--epoch", "1.5"), ("--image_size", "512")])
def test_every_training_flag_is_validated(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_dcgan.main([flag, value])
    assert exit_info.value.code == 2 and flag in capsys.readouterr().err


@pytest.mark.parametrize("flag,value", [
    ("--momentum", "1"), ("--beta1", "-0.1"), ("--beta2", "1"), ("--eps", "0"),
    ("--hmcBeta", "0"), ("--hmcEps", "-1"), ("--hmcL", "0"), ("--hmcAnneal", "0"),
    ("--lam", "-1"), ("--outInterval", "0"), ("--seed", "x"), ("--approach", "sgd"),
    ("--precision", "int8"), ("--lr", "nan"), ("--centerScale", "0"), ("--imgSize", "4"),
    ("--fractionMasked", "-0.1"), ("--nIter", "2.5")])
def test_every_completion_flag_is_validated(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        complete.main([flag, value, "x.png"])
    assert exit_info.value.code == 2 and flag in capsys.readouterr().err


# ------------------------------------------------------------ interruptions
@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_an_unloadable_checkpoint(faces16, tmp_path):
    """20 SIGKILLs of real trainers (14 after stepping began, 6 during start-up), each followed
    by a resume that must continue from the newest complete checkpoint; then a SIGINT.
    Two independent runs in parallel (one per core) keep the wall time near a minute."""
    drivers = [subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "kill_training.py"), str(faces16),
         str(tmp_path / f"run{lane}"), "--kills", "7", "--early_kills", "3", "--seed", str(lane)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"}) for lane in range(2)]
    kills = 0
    for lane, driver in enumerate(drivers):
        stdout, stderr = driver.communicate(timeout=400)
        assert driver.returncode == 0, stdout[-3000:] + stderr[-3000:]
        summary = json.loads(stdout.strip().splitlines()[-1])
        print("kill test:", summary)
        kills += summary["kills"]
        prefix = checkpoints.latest_loadable(str(tmp_path / f"run{lane}" / "checkpoint"))
        assert checkpoints.read_step(prefix) == summary["final_step"] > 0
    assert kills == 20


def test_sigterm_saves_a_checkpoint_and_says_how_to_resume(faces16, tmp_path, monkeypatch, capsys):
    StepHook(monkeypatch, lambda dcgan, step, outputs:
             os.kill(os.getpid(), signal.SIGTERM) if step == 2 else None)
    flags = _tiny_training(faces16, tmp_path, "--checkpoint_interval", "100")
    assert train_dcgan.main(flags) == 128 + signal.SIGTERM
    out = capsys.readouterr().out
    assert "Received SIGTERM" in out and "Run the same command again" in out
    assert _steps_in(tmp_path / "checkpoint") == [2]        # saved at the step it stopped
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_non_finite_loss_or_weights_stop_training_and_keep_the_last_good_checkpoint(
        faces16, tmp_path, monkeypatch, capsys):
    def nan_loss(dcgan, step, outputs):
        if step == 3:
            return outputs | {"d_loss": tf.constant(float("nan"))}

    StepHook(monkeypatch, nan_loss)
    flags = _tiny_training(faces16, tmp_path, "--epoch", "2")
    assert train_dcgan.main(flags) == 1
    err = capsys.readouterr().err
    assert "non-finite d_loss at step 3" in err and "DCGAN.model-2" in err and "is kept" in err
    assert _steps_in(tmp_path / "checkpoint") == [1, 2]

    def nan_weights(dcgan, step, outputs):  # the update of the resumed run's first step blows up
        if step == 1:
            variable = dcgan.generator.trainable_variables[0]
            variable.assign(tf.fill(variable.shape, float("nan")))

    monkeypatch.undo()
    StepHook(monkeypatch, nan_weights)
    assert train_dcgan.main(flags) == 1
    err = capsys.readouterr().err
    assert "non-finite weights at step 3" in err and "Traceback" not in err
    assert _steps_in(tmp_path / "checkpoint") == [1, 2]
    checkpoints.verify(checkpoints.latest(str(tmp_path / "checkpoint")))


def test_a_full_disk_while_writing_samples_saves_a_checkpoint_and_says_so(
        faces16, tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(utils, "save_grid", full)
    flags = _tiny_training(faces16, tmp_path, "--sample_interval", "2",
                           "--checkpoint_interval", "100")
    assert train_dcgan.main(flags) == 1
    err = capsys.readouterr().err
    assert "cannot write samples" in err and "No space left on device" in err
    assert "DCGAN.model-2 was saved" in err and "Traceback" not in err
    assert _steps_in(tmp_path / "checkpoint") == [2]


def test_a_failing_checkpoint_write_keeps_the_previous_checkpoint(faces16, tmp_path, monkeypatch,
                                                                 capsys):
    original = tf.train.CheckpointManager.save

    def save(manager, checkpoint_number=None, **kwargs):
        if checkpoint_number == 3:
            raise tf.errors.PermissionDeniedError(None, None, "Permission denied")
        return original(manager, checkpoint_number=checkpoint_number, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save)
    assert train_dcgan.main(_tiny_training(faces16, tmp_path, "--epoch", "2")) == 1
    err = capsys.readouterr().err
    assert "cannot write checkpoint" in err and "Permission denied" in err
    assert "DCGAN.model-2, is kept" in err and "Traceback" not in err
    assert checkpoints.latest_loadable(str(tmp_path / "checkpoint")).endswith("DCGAN.model-2")


def test_an_image_deleted_during_training_stops_it_with_a_checkpoint(faces16, tmp_path,
                                                                     monkeypatch, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for path in sorted(faces16.iterdir())[:8]:
        utils.save_rgb(utils.load_rgb(path), data / (path.stem + ".png"))   # plain PNGs: TF decodes
    def delete_all(dcgan, step, outputs):
        if step == 1:
            for path in data.iterdir():
                path.unlink()

    StepHook(monkeypatch, delete_all)
    run = tmp_path / "run"
    assert train_dcgan.main(_tiny_training(data, run, "--epoch", "20",
                                           "--checkpoint_interval", "100")) == 1
    err = capsys.readouterr().err
    assert "cannot read the training data" in err and "was saved" in err
    assert "Traceback" not in err
    step = _steps_in(run / "checkpoint")[-1]
    assert step >= 1 and f"DCGAN.model-{step} was saved" in err


def test_unwritable_output_folders_are_refused_before_training(faces16, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for flag in ("--checkpoint_dir", "--sample_dir", "--log_dir"):
        flags = _tiny_training(faces16, tmp_path)
        flags[flags.index(flag) + 1] = str(tmp_path / "afile" / "sub")
        assert train_dcgan.main(flags) == 1
        err = capsys.readouterr().err
        assert flag in err and "cannot write" in err and "Traceback" not in err
    assert checkpoints.candidates(str(tmp_path / "checkpoint")) == []   # no model was trained


# ------------------------------------------------------------ damaged checkpoints
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(trained_run, tmp_path, capsys):
    directory = tmp_path / "checkpoint"
    shutil.copytree(trained_run / "checkpoint", directory)
    newest = checkpoints.latest(str(directory))
    assert newest.endswith("-8")
    data = directory / "DCGAN.model-8.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:len(data.read_bytes()) // 2])   # killed mid-write
    (directory / "DCGAN.model-9.index").write_bytes(b"\x00partial")       # a half-written index
    (directory / "DCGAN.model-9.data-00000-of-00001").write_bytes(b"")
    assert checkpoints.latest_loadable(str(directory), warn=print).endswith("-4")
    assert "DCGAN.model-8' is damaged" in capsys.readouterr().out
    image = tmp_path / "face.png"
    utils.save_rgb(np.zeros((16, 16, 3), np.uint8), image)
    assert complete.main(["--checkpointDir", str(directory), "--outDir", str(tmp_path / "out"),
                          "--nIter", "1", "--precision", "float32", str(image)]) == 0
    assert "DCGAN.model-4" in json.loads((tmp_path / "out" / "options.json").read_text())[
        "checkpoint"]
    (directory / "checkpoint").write_bytes(b"\xff\xfe garbage state file")  # damaged state file
    assert checkpoints.latest_loadable(str(directory)).endswith("-4")


def test_a_checkpoint_whose_weights_do_not_fit_its_architecture_is_refused(tmp_path, capsys):
    from model import Architecture
    small = DCGAN(Architecture(image_size=8, z_dim=4, gf_dim=4, df_dim=4))
    other = Architecture(image_size=16, z_dim=4, gf_dim=4, df_dim=4)
    tf.train.Checkpoint(generator=small.generator, discriminator=small.discriminator,
                        architecture=tf.Variable(other.to_json())).save(
        str(tmp_path / "ck" / "DCGAN.model"))
    image = tmp_path / "face.png"
    utils.save_rgb(np.zeros((16, 16, 3), np.uint8), image)
    assert complete.main(["--checkpointDir", str(tmp_path / "ck"), "--precision", "float32",
                          str(image)]) == 1
    err = capsys.readouterr().err
    assert "does not fit" in err and "Traceback" not in err


# ------------------------------------------------------------ completion outputs
def test_completion_failures_leave_earlier_outputs_untouched(trained_run, tmp_path, capsys):
    image = tmp_path / "face.png"
    utils.save_rgb(np.full((16, 16, 3), 100, np.uint8), image)
    out = tmp_path / "out"
    base = ["--checkpointDir", str(trained_run / "checkpoint"), "--outDir", str(out),
            "--nIter", "1", "--seed", "1", "--precision", "float32"]
    assert complete.main(base + [str(image)]) == 0
    before = _hashes(out)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(image.read_bytes()[:40])
    assert complete.main(base + [str(image), str(bad)]) == 1
    assert "bad.jpg" in capsys.readouterr().err
    assert _hashes(out) == before

    (tmp_path / "file").write_text("not a folder")
    assert complete.main(base[:2] + ["--outDir", str(tmp_path / "file"), str(image)]) == 1
    err = capsys.readouterr().err
    assert "--outDir" in err and "cannot write" in err and "Traceback" not in err
    assert (tmp_path / "file").read_text() == "not a folder"


def test_a_full_disk_during_completion_is_one_clear_error(trained_run, tmp_path, monkeypatch,
                                                         capsys):
    image = tmp_path / "face.png"
    utils.save_rgb(np.full((16, 16, 3), 100, np.uint8), image)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(utils, "atomic_write", full)
    assert complete.main(["--checkpointDir", str(trained_run / "checkpoint"), "--outDir",
                          str(tmp_path / "o"), "--nIter", "1", "--precision", "float32",
                          str(image)]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err


# ------------------------------------------------------------ formats
def test_checkpoints_never_unpickle_anything():
    """Checkpoints load only through TensorFlow's own formats: no pickle anywhere in the code."""
    modules = r"(pickle|cPickle|_pickle|dill|joblib|shelve|marshal|cloudpickle)"
    pattern = re.compile(rf"^\s*(import|from)\s+{modules}\b|\b{modules}\.\w*load"
                         r"|allow_pickle\s*=\s*True|np\.load\(|torch\.load")
    offenders = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        # the project's own code: not its tests, nor an environment installed inside it
        if "tests" in parts or "site-packages" in parts or parts[0].startswith("."):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, offenders
