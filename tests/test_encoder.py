"""encoder.py and train_encoder.py: the learned start of the search, on tiny models."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import checkpoints
import encoder as enc
import masks
import train_encoder
from model import Architecture
from tests.conftest import TINY


def train(run, tiny_faces, out, steps, extra=()):
    return train_encoder.main([
        "--dataset", str(tiny_faces), "--checkpoint_dir", str(run / "checkpoint"),
        "--encoder_dir", str(out), "--steps", str(steps), "--batch_size", "8",
        "--checkpoint_interval", "5", "--log_interval", "5", "--seed", "4", *extra])


def test_known_channel_is_one_where_every_channel_is_known():
    mask, _ = masks.make_mask("center", 16)
    expected = np.ones((16, 16, 1), np.float32)
    expected[4:12, 4:12] = 0.0                    # the centre hole, by hand
    np.testing.assert_array_equal(enc.known_channel(mask[None])[0], expected)
    three = np.repeat(mask, 3, axis=-1)
    three[0, 0, 1] = 0.0          # one channel missing: the pixel counts as missing
    assert enc.known_channel(three[None])[0, 0, 0, 0] == 0.0


def test_random_masks_are_binary_and_each_hides_something():
    drawn = enc.random_masks(200, 64, np.random.default_rng(0))
    assert drawn.shape == (200, 64, 64, 1)
    assert set(np.unique(drawn)) <= {0.0, 1.0}
    missing = 1.0 - drawn.reshape(200, -1).mean(axis=1)
    assert missing.min() > 0.0 and missing.max() < 1.0
    assert missing.std() > 0.05     # several kinds and sizes, not one mask


def test_encoder_output_is_in_the_search_box_and_ignores_missing_pixels():
    arch = Architecture(**TINY)
    encoder = enc.Encoder(arch)
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
    mask = np.broadcast_to(masks.make_mask("center", 16)[0], (4, 16, 16, 1)).copy()
    z = enc.start(encoder, images, mask)
    assert z.shape == (4, TINY["z_dim"]) and np.all(np.abs(z) <= 1.0)
    changed = images.copy()
    changed[:, 4:12, 4:12] = rng.uniform(-1, 1, (4, 8, 8, 3))   # only the hole differs
    np.testing.assert_array_equal(enc.start(encoder, changed, mask), z)
    changed[:, 0, 0] += 0.5                                      # a known pixel differs
    assert not np.array_equal(enc.start(encoder, changed, mask), z)


def test_encoder_checkpoint_round_trips(trained_run, tiny_faces, tmp_path):
    """A trained encoder, saved by train_encoder.py and found in a model's folder, gives the
    same z after loading, and records its generator."""
    out = tmp_path / "model" / enc.ENCODER_DIR
    assert train(trained_run, tiny_faces, out, 5) == 0
    prefix = enc.find(str(tmp_path / "model"))
    assert prefix is not None and prefix.endswith(f"{enc.ENCODER_NAME}-5")
    loaded, info = enc.load(prefix)
    assert info.arch == Architecture(**TINY)
    assert info.generator_step == checkpoints.step_of(checkpoints.latest(
        str(trained_run / "checkpoint")))
    # The same weights as the checkpoint holds, read independently of load().
    reader = tf.train.load_checkpoint(prefix)
    stored = {name for name, _ in tf.train.list_variables(prefix) if name.startswith("encoder/")}
    assert len(stored) == 2 * (loaded.num_convs + 1)     # a kernel and a bias each
    for name in [f"e_h{i}" for i in range(loaded.num_convs)] + ["to_z"]:
        layer = getattr(loaded, name)
        np.testing.assert_array_equal(
            layer.kernel.numpy(), reader.get_tensor(f"encoder/{name}/_kernel/.ATTRIBUTES/VARIABLE_VALUE"))
    assert enc.load_matching(str(tmp_path / "model"), Architecture(**TINY)) is not None
    warnings = []
    other = Architecture(**{**TINY, "z_dim": TINY["z_dim"] + 1})
    assert enc.load_matching(str(tmp_path / "model"), other, warn=warnings.append) is None
    assert "another model" in warnings[0]


def test_training_lowers_the_losses_and_resumes_exactly(trained_run, tiny_faces, tmp_path,
                                                        capsys):
    """20 steps in one run, and 10 + 10 with a restart, give the same weights; the z loss
    falls below that of a constant guess of 0 (1/3, the variance of uniform z)."""
    assert train(trained_run, tiny_faces, tmp_path / "whole", 20) == 0
    log = capsys.readouterr().out
    z_losses = [float(line.split("z loss ")[1].split(",")[0])
                for line in log.splitlines() if line.startswith("step ")]
    assert len(z_losses) == 4 and z_losses[-1] < 1 / 3
    assert train(trained_run, tiny_faces, tmp_path / "split", 10) == 0
    assert train(trained_run, tiny_faces, tmp_path / "split", 20) == 0
    assert "Resuming from" in capsys.readouterr().out
    whole, _ = enc.load(enc.find(str(tmp_path / "whole")))
    split, _ = enc.load(enc.find(str(tmp_path / "split")))
    for a, b in zip(whole.variables, split.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_bad_dataset_is_one_clear_error(trained_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train(trained_run, empty, tmp_path / "out", 5) == 2
    error = capsys.readouterr().err
    assert "--dataset" in error and "holds no png/jpg/jpeg" in error and "Traceback" not in error
    assert train_encoder.main(["--dataset", str(empty), "--checkpoint_dir",
                               str(trained_run / "checkpoint"), "--encoder_dir",
                               str(trained_run / "checkpoint")]) == 2
    assert "must not be the generator's own folder" in capsys.readouterr().err
