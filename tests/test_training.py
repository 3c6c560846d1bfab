"""train_dcgan.py end to end on real faces, checkpoints, exact resume, and its errors."""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from training import checkpoints, pipeline
import train_dcgan
from model import Architecture, DCGAN
from conftest import ROOT, TINY
from training.train_step import TrainStep


def _tiny_flags(dataset, run, epochs, seed=3):
    return ["--dataset", str(dataset), "--epoch", str(epochs), "--batch_size", "16",
            "--image_size", "16", "--z_dim", str(TINY["z_dim"]), "--gf_dim", "8", "--df_dim", "8",
            "--checkpoint_dir", str(run / "checkpoint"), "--sample_dir", str(run / "samples"),
            "--log_dir", str(run / "logs"), "--seed", str(seed), "--sample_interval", "4",
            "--checkpoint_interval", "4", "--log_interval", "2", "--precision", "float32"]


def _events(log_dir):
    """{tag: [(step, value or shape)]} from TensorBoard event files."""
    from tensorflow.core.util import event_pb2
    found = {}
    for name in os.listdir(log_dir):
        for record in tf.data.TFRecordDataset(os.path.join(log_dir, name)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                found.setdefault(value.tag, []).append((event.step, tensor))
    return found


def test_training_writes_samples_logs_and_checkpoints(trained_run):
    samples = sorted(os.listdir(trained_run / "samples"))
    # 64 images, 2 epochs of 4 steps: samples every 4 steps -> end of each epoch.
    assert samples == ["train_00_0004.png", "train_01_0004.png"]
    grid = np.asarray(Image.open(trained_run / "samples" / samples[-1]))
    assert grid.shape == (8 * 16, 8 * 16, 3)             # 8x8 grid of 16x16 samples
    # The last grid is G(fixed sample z) of the final checkpoint, in row-major order.
    prefix = checkpoints.latest(str(trained_run / "checkpoint"))
    dcgan, _ = checkpoints.load_for_completion(str(trained_run / "checkpoint"))
    sample_z = tf.train.load_checkpoint(prefix).get_tensor("sample_z/.ATTRIBUTES/VARIABLE_VALUE")
    expected = np.clip((dcgan.sample(sample_z).numpy() + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_allclose(grid[16:32, 32:48], expected[8 + 2], atol=1)
    np.testing.assert_allclose(grid[112:, 112:], expected[63], atol=1)

    events = _events(trained_run / "logs")
    for tag in ("d_loss", "d_loss_real", "d_loss_fake", "g_loss"):
        assert [step for step, _ in events[tag]] == [2, 4, 6, 8]
    for step, value in events["d_loss"]:
        real = dict(events["d_loss_real"])[step]
        fake = dict(events["d_loss_fake"])[step]
        assert float(value) == pytest.approx(float(real) + float(fake), rel=1e-5)
    for tag in ("z", "d_real", "d_fake", "samples"):
        assert [step for step, _ in events[tag]] == [4, 8]
    # D outputs are probabilities; z is uniform in [-1, 1].
    d_real_hist = events["d_real"][0][1]                  # rows: (left edge, right edge, count)
    assert d_real_hist[:, 0].min() >= 0 and d_real_hist[:, 1].max() <= 1
    z_hist = events["z"][0][1]
    assert z_hist[:, 0].min() >= -1 and z_hist[:, 1].max() <= 1
    assert z_hist[:, 2].sum() == 16 * TINY["z_dim"]

    prefix = checkpoints.latest(str(trained_run / "checkpoint"))
    assert prefix.endswith("DCGAN.model-8")
    assert checkpoints.read_step(prefix) == 8
    assert checkpoints.read_architecture(prefix) == Architecture(**TINY)
    options = json.loads((trained_run / "checkpoint" / "options.json").read_text())
    assert options["seed"] == 3 and options["image_size"] == 16


def test_the_library_s_defaults_are_train_dcgan_py_s():
    """TrainConfig, TrainStep and Architecture train as train_dcgan.py does with no flags."""
    import dataclasses
    import inspect

    from training import loop

    flags = vars(train_dcgan.build_parser().parse_args([]))
    config = loop.TrainConfig(dataset=flags["dataset"], seed=flags["seed"])
    assert {k: v for k, v in dataclasses.asdict(config).items() if k in flags} == {
        k: v for k, v in flags.items() if k != "verbose"}
    step = inspect.signature(TrainStep).parameters
    assert (step["g_steps"].default, step["ema_decay"].default, step["learning_rate"].default,
            step["beta1"].default) == (config.g_steps, config.ema_decay, config.learning_rate,
                                      config.beta1) == (1, 0.999, 0.0002, 0.5)
    assert Architecture() == config.architecture


def test_checkpoint_round_trip_gives_identical_samples(tmp_path):
    arch = Architecture(**TINY)
    tf.keras.utils.set_random_seed(4)
    source = TrainStep(DCGAN(arch), g_steps=2, ema_decay=0.0)
    images = tf.random.uniform([8, 16, 16, 3], -1, 1, seed=1)
    z = tf.random.uniform([8, TINY["z_dim"]], -1, 1, seed=2)
    source(images, z)  # move weights, moving averages and Adam state off their init
    step = tf.Variable(7, dtype=tf.int64)
    manager = tf.train.CheckpointManager(checkpoints.training_checkpoint(source, step=step),
                                         str(tmp_path), 3, checkpoint_name="DCGAN.model")
    manager.save(checkpoint_number=7)

    loaded, prefix = checkpoints.load_for_completion(str(tmp_path))
    assert loaded.arch == arch and prefix.endswith("DCGAN.model-7")
    np.testing.assert_array_equal(loaded.sample(z).numpy(), source.sample(z).numpy())
    logits = lambda net: net.discriminator(images, training=False).numpy()
    np.testing.assert_array_equal(logits(loaded), logits(source.gan))

    # A training checkpoint restores the optimizers and the step too.
    resumed = TrainStep(DCGAN(arch), g_steps=2, ema_decay=0.0)
    resumed_step = tf.Variable(0, dtype=tf.int64)
    checkpoints.restore(checkpoints.training_checkpoint(resumed, step=resumed_step), prefix)
    assert int(resumed_step.numpy()) == 7
    for a, b in zip(resumed.g_optimizer.variables, source.g_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # ...and the next step from the restored state equals the next step of the source.
    out_a, out_b = source(images, z), resumed(images, z)
    assert float(out_a["g_loss"]) == pytest.approx(float(out_b["g_loss"]), rel=1e-5)


def test_weights_are_stored_under_the_original_layer_names(trained_run):
    prefix = checkpoints.latest(str(trained_run / "checkpoint"))
    names = [name for name, _ in tf.train.list_variables(prefix)]
    shapes = dict(tf.train.list_variables(prefix))
    for expected, shape in (("generator/g_h0_lin/_kernel", [16, 4 * 4 * 16]),
                            ("generator/g_bn0/moving_mean", [16]),
                            ("generator/g_h2/kernel", [5, 5, 3, 8]),
                            ("discriminator/d_h0_conv/_kernel", [5, 5, 3, 8]),
                            ("discriminator/d_bn1/gamma", [16]),
                            ("discriminator/d_h1_lin/_kernel", [4 * 4 * 16, 1])):
        assert shapes[expected + "/.ATTRIBUTES/VARIABLE_VALUE"] == shape, (expected, names)


@pytest.mark.slow
def test_resume_continues_exactly_where_training_stopped(trained_run, tiny_faces, tmp_path):
    """2 epochs + resume to 3 epochs == 3 epochs straight, and the step counter continues."""
    resumed = tmp_path / "resumed"
    shutil.copytree(trained_run, resumed)
    assert train_dcgan.main(_tiny_flags(tiny_faces, resumed, epochs=3)) == 0
    straight = tmp_path / "straight"
    assert train_dcgan.main(_tiny_flags(tiny_faces, straight, epochs=3)) == 0

    prefix_a = checkpoints.latest(str(resumed / "checkpoint"))
    prefix_b = checkpoints.latest(str(straight / "checkpoint"))
    assert checkpoints.read_step(prefix_a) == checkpoints.read_step(prefix_b) == 12
    reader_a, reader_b = tf.train.load_checkpoint(prefix_a), tf.train.load_checkpoint(prefix_b)
    compared = 0
    for name, _ in tf.train.list_variables(prefix_b):
        if name.startswith(("generator/", "discriminator/")):
            np.testing.assert_allclose(reader_a.get_tensor(name), reader_b.get_tensor(name),
                                       rtol=1e-4, atol=1e-6, err_msg=name)
            compared += 1
    assert compared > 20
    assert sorted(os.listdir(resumed / "samples"))[-1] == "train_02_0004.png"


def test_resuming_with_another_architecture_is_a_clear_error(trained_run, tiny_faces, tmp_path,
                                                            capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    flags = _tiny_flags(tiny_faces, run, epochs=3)
    flags[flags.index("--gf_dim") + 1] = "16"
    assert train_dcgan.main(flags) == 1
    error = capsys.readouterr().err
    assert "gf_dim" in error and "--checkpoint_dir" in error and "Traceback" not in error


def test_missing_or_empty_dataset_is_a_clear_error(tmp_path, capsys):
    assert train_dcgan.main(["--dataset", str(tmp_path / "nope"),
                             "--checkpoint_dir", str(tmp_path / "c")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    assert train_dcgan.main(["--dataset", str(tmp_path / "empty"),
                             "--checkpoint_dir", str(tmp_path / "c")]) == 1
    assert "no .png/.jpg/.jpeg images" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()  # nothing was built or written


@pytest.mark.parametrize("flag,value", [("--image_size", "48"), ("--batch_size", "0"),
                                        ("--epoch", "-1"), ("--learning_rate", "0"),
                                        ("--beta1", "1.5"), ("--train_size", "abc")])
def test_bad_flags_exit_2_naming_the_flag(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_dcgan.main([flag, value])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


def test_dataset_is_decoded_cropped_flipped_and_scaled(tmp_path):
    """A 24x20 image becomes the centre 20x20 crop resized to 16x16, in [-1, 1]."""
    rng = np.random.default_rng(0)
    paths = []
    for index in range(4):
        array = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        path = tmp_path / f"{index}.png"
        Image.fromarray(array).save(path)
        paths.append(str(path))
    size = 16
    batches = list(pipeline.make_dataset(paths, size, 2, seed=1, steps=2, epochs=2, flip=False))
    assert len(batches) == 4 and batches[0].shape == (2, 16, 16, 3)
    values = np.concatenate([b.numpy() for b in batches[:2]])
    assert values.min() >= -1 and values.max() <= 1
    # Each epoch visits every image once: compare with Pillow's crop + resize.
    expected = []
    for path in paths:
        crop = np.asarray(Image.open(path))[:, 2:22]
        expected.append(tf.image.resize(crop, [size, size], "bicubic", antialias=True).numpy())
    expected = np.clip(np.round(np.stack(expected)), 0, 255) / 127.5 - 1
    matched = [np.argmin([np.abs(v - e).mean() for e in expected]) for v in values]
    assert sorted(matched) == [0, 1, 2, 3]
    for v, m in zip(values, matched):
        np.testing.assert_allclose(v, expected[m], atol=1e-6)
    # Resuming from step 1 gives the same batches as the uninterrupted pipeline from there.
    resumed = list(pipeline.make_dataset(paths, size, 2, seed=1, steps=2, start_step=1, epochs=2,
                                         flip=True))
    full = list(pipeline.make_dataset(paths, size, 2, seed=1, steps=2, epochs=2, flip=True))
    assert len(resumed) == 3
    for a, b in zip(resumed, full[1:]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Flips: some image appears mirrored in some epoch.
    flipped = [np.allclose(v[:, ::-1], expected[m], atol=1e-6)
               for batch in full for v in batch.numpy()
               for m in [np.argmin([min(np.abs(v - e).mean(), np.abs(v[:, ::-1] - e).mean())
                                    for e in expected])]]
    assert any(flipped) and not all(flipped)


def test_steps_per_epoch_as_the_original():
    assert pipeline.steps_per_epoch(100, 16, float("inf")) == (6, 16)   # last partial dropped
    assert pipeline.steps_per_epoch(100, 16, 40) == (2, 16)             # --train_size
    assert pipeline.steps_per_epoch(10, 16, float("inf")) == (1, 10)    # smaller than a batch
