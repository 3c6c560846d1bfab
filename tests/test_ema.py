"""The training recipe's additions: the moving average of G, separate learning rates for D
and G, and batch-norm statistics recomputed at export."""
import json

import numpy as np
import pytest
import tensorflow as tf

from training import checkpoints
import export_model
import model
import train_dcgan
from conftest import TINY
from training.train_step import TrainStep

ARCH = model.Architecture(image_size=16, z_dim=8, gf_dim=4, df_dim=4)


def _batch(seed=0, size=8):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (size, 16, 16, 3)).astype(np.float32)
    z = rng.uniform(-1, 1, (size, ARCH.z_dim)).astype(np.float32)
    return images, z


def test_moving_average_by_hand():
    tf.keras.utils.set_random_seed(1)
    gan = model.DCGAN(ARCH)
    train_step = TrainStep(gan, ema_decay=0.9)
    for average, value in zip(train_step.generator_ema.variables, gan.generator.variables):
        np.testing.assert_array_equal(average.numpy(), value.numpy())   # starts as G
    expected = [v.numpy() for v in train_step.generator_ema.variables]
    for step in range(1, 4):
        train_step(*_batch(step))
        decay = min(0.9, (1 + step) / (10 + step))                      # warm-up: 0.18, 0.25, 0.31
        expected = [decay * e + (1 - decay) * v.numpy()
                    for e, v in zip(expected, gan.generator.variables)]
    assert int(train_step.ema_updates.numpy()) == 3
    for average, value in zip(train_step.generator_ema.variables, expected):
        np.testing.assert_allclose(average.numpy(), value, rtol=1e-5, atol=1e-7)
    # samples come from the average, which is not G
    z = _batch(9)[1]
    np.testing.assert_allclose(train_step.sample(z), train_step.generator_ema(z, training=False))
    assert not np.allclose(train_step.sample(z), gan.generator(z, training=False))


def test_the_train_step_averages_by_default_as_train_dcgan_py_and_0_keeps_none():
    gan = model.DCGAN(ARCH)
    assert TrainStep(gan).ema_decay == 0.999 == train_dcgan.build_parser().parse_args([]).ema_decay
    train_step = TrainStep(gan, ema_decay=0.0)                        # the original
    assert train_step.generator_ema is None and train_step.inference_generator is gan.generator
    with pytest.raises(ValueError, match="ema_decay"):
        TrainStep(gan, ema_decay=1.0)


def test_separate_learning_rates_move_only_what_they_should():
    """A D learning rate of 1e-12 leaves D's weights as they were; G still learns."""
    tf.keras.utils.set_random_seed(2)
    dcgan = model.DCGAN(ARCH)
    train_step = TrainStep(dcgan, learning_rate=2e-4, d_learning_rate=1e-12, g_learning_rate=1e-3,
                           g_steps=2, ema_decay=0.0)
    assert float(train_step.d_optimizer.learning_rate) == pytest.approx(1e-12)
    assert float(train_step.g_optimizer.learning_rate) == pytest.approx(1e-3)
    d_before = [v.numpy() for v in dcgan.discriminator.trainable_variables]
    g_before = [v.numpy() for v in dcgan.generator.trainable_variables]
    train_step(*_batch(3))
    # Adam's first step moves every weight by about lr (the normalised gradient's size is 1)
    d_moved = max(np.abs(v.numpy() - b).max()
                  for v, b in zip(dcgan.discriminator.trainable_variables, d_before))
    g_moved = max(np.abs(v.numpy() - b).max()
                  for v, b in zip(dcgan.generator.trainable_variables, g_before))
    assert d_moved < 1e-10
    assert 5e-4 < g_moved < 2 * 2 * 1e-3          # two G updates of at most ~lr each
    # the default is the one --learning_rate for both (the original)
    default = TrainStep(model.DCGAN(ARCH), learning_rate=3e-4)
    assert float(default.d_optimizer.learning_rate) == pytest.approx(3e-4)
    assert float(default.g_optimizer.learning_rate) == pytest.approx(3e-4)


def test_recalibrated_statistics_are_the_mean_of_batch_statistics():
    tf.keras.utils.set_random_seed(4)
    dcgan = model.DCGAN(ARCH)
    disc = dcgan.discriminator
    rng = np.random.default_rng(5)
    batches = [rng.normal(0.2, 0.5, (8, 16, 16, 3)).astype(np.float32) for _ in range(3)]
    assert model.recalibrate_batch_norm(disc, batches) == 3
    means, variances = [], []
    for batch in batches:                          # D's first layers by hand, to d_bn1's input
        h = disc.d_h1_conv(model.ops.lrelu(disc.d_h0_conv(batch)))
        means.append(tf.reduce_mean(h, axis=[0, 1, 2]).numpy())
        variances.append(tf.math.reduce_variance(h, axis=[0, 1, 2]).numpy())
    np.testing.assert_allclose(disc.d_bn1.moving_mean.numpy(), np.mean(means, 0), atol=1e-6)
    np.testing.assert_allclose(disc.d_bn1.moving_variance.numpy(), np.mean(variances, 0),
                               rtol=1e-5, atol=1e-7)
    assert disc.d_bn1.momentum == pytest.approx(0.9)     # training's momentum is restored


def _train(tmp_path, faces, name, *extra):
    run = tmp_path / name
    code = train_dcgan.main([
        "--dataset", str(faces), "--epoch", "1", "--batch_size", "16",
        "--image_size", str(TINY["image_size"]), "--z_dim", str(TINY["z_dim"]),
        "--gf_dim", str(TINY["gf_dim"]), "--df_dim", str(TINY["df_dim"]),
        "--checkpoint_dir", str(run / "checkpoint"), "--sample_dir", str(run / "samples"),
        "--log_dir", str(run / "logs"), "--seed", "3", "--precision", "float32", *extra])
    assert code == 0
    return run


@pytest.mark.slow
def test_a_run_without_average_resumes_with_one(tiny_faces, tmp_path, capsys):
    run = _train(tmp_path, tiny_faces, "run", "--ema_decay", "0")
    first = checkpoints.latest(str(run / "checkpoint"))
    assert not checkpoints.has_ema(first)
    capsys.readouterr()
    _train(tmp_path, tiny_faces, "run", "--epoch", "2")
    assert "has no moving average of G's weights" in capsys.readouterr().out
    second = checkpoints.latest(str(run / "checkpoint"))
    assert checkpoints.step_of(second) == 8 and checkpoints.has_ema(second)
    reader = tf.train.load_checkpoint(second)
    assert int(reader.get_tensor("ema_updates/.ATTRIBUTES/VARIABLE_VALUE")) == 4
    # completion from a training checkpoint uses the average, not G
    dcgan, _ = checkpoints.load_for_completion(str(run / "checkpoint"))
    kernel = "g_h1/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    np.testing.assert_array_equal(dcgan.generator.g_h1.kernel.numpy(),
                                  reader.get_tensor("generator_ema/" + kernel))
    assert not np.array_equal(reader.get_tensor("generator/" + kernel),
                              reader.get_tensor("generator_ema/" + kernel))


def test_export_recomputes_batch_norm_statistics(tiny_faces, tmp_path, capsys):
    run = _train(tmp_path, tiny_faces, "run")
    source = checkpoints.latest(str(run / "checkpoint"))
    plain, recalibrated = tmp_path / "plain", tmp_path / "recalibrated"
    assert export_model.main(["--checkpoint_dir", str(run / "checkpoint"), "--out", str(plain),
                              "--bn_batches", "2"]) == 0
    assert export_model.main(["--checkpoint_dir", str(run / "checkpoint"),
                              "--out", str(recalibrated), "--bn_batches", "1",
                              "--bn_dataset", str(tiny_faces)]) == 0
    a, b = checkpoints.latest(str(plain)), checkpoints.latest(str(recalibrated))
    info_a, info_b = checkpoints.read_export_info(a), checkpoints.read_export_info(b)
    # The export keeps training's recipe.
    assert info_a.pop("recipe") == checkpoints.read_recipe(source) == info_b.pop("recipe")
    assert info_a == {"generator": "ema", "g_batch_norm_z": 128,
                      "source": "DCGAN.model-4"}
    assert info_b["d_batch_norm_images"] == 64 and info_b["g_batch_norm_z"] == 64
    original, ra, rb = (tf.train.load_checkpoint(p) for p in (source, a, b))
    mean = "discriminator/d_bn1/moving_mean/.ATTRIBUTES/VARIABLE_VALUE"
    kernel = "discriminator/d_h1_conv/_kernel/.ATTRIBUTES/VARIABLE_VALUE"
    g_mean = "generator/g_bn1/moving_mean/.ATTRIBUTES/VARIABLE_VALUE"
    # without --bn_dataset D is training's; with it only D's statistics change
    np.testing.assert_array_equal(ra.get_tensor(mean), original.get_tensor(mean))
    assert not np.allclose(rb.get_tensor(mean), original.get_tensor(mean))
    np.testing.assert_array_equal(rb.get_tensor(kernel), original.get_tensor(kernel))
    # the average of G gets statistics of its own, not the average of G's
    assert not np.allclose(ra.get_tensor(g_mean),
                           original.get_tensor(g_mean.replace("generator/", "generator_ema/")))
    capsys.readouterr()
    assert export_model.main(["--checkpoint_dir", str(run / "checkpoint"), "--out",
                              str(tmp_path / "x"), "--bn_dataset", str(tmp_path / "none")]) == 1
    assert "--bn_dataset" in capsys.readouterr().err


def test_ema_flag_is_checked(capsys):
    for bad in ("1", "-0.1", "x"):
        with pytest.raises(SystemExit) as stopped:
            train_dcgan.build_parser().parse_args(["--ema_decay", bad])
        assert stopped.value.code == 2
    assert "--ema_decay" in capsys.readouterr().err
    options = train_dcgan.build_parser().parse_args([])
    assert options.ema_decay == 0.999
    assert options.d_learning_rate == options.g_learning_rate == options.learning_rate == 0.0002
    # the D and G rates follow --learning_rate unless given, resolved as the flags are parsed
    options = train_dcgan.build_parser().parse_args(["--learning_rate", "0.001",
                                                     "--g_learning_rate", "0.003"])
    assert (options.d_learning_rate, options.g_learning_rate) == (0.001, 0.003)
    assert "(default: --learning_rate)" in train_dcgan.build_parser().format_help()


def test_the_recipe_is_the_default_and_train_config_agrees_with_the_flags():
    """--g_steps 1 (the recipe chosen by held-out quality per CPU-hour, docs/EXPERIMENTS.md) and
    TrainConfig's defaults equal train_dcgan.py's, field by field."""
    import dataclasses
    import train_dcgan
    from training import loop

    options = vars(train_dcgan.build_parser().parse_args([]))
    assert options["g_steps"] == 1
    config_defaults = {field.name: field.default for field in dataclasses.fields(loop.TrainConfig)
                       if field.default is not dataclasses.MISSING}
    shared = sorted(set(config_defaults) & set(options) - {"dataset", "seed"})
    assert len(shared) > 15
    assert {name: options[name] for name in shared} == {name: config_defaults[name]
                                                        for name in shared}
