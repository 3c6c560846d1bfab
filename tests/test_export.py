"""export_model.py: the networks and architecture without optimizer state, loaded unchanged."""
import numpy as np
import pytest
import tensorflow as tf

from training import checkpoints
import complete
import export_model
import train_dcgan


def test_export_keeps_the_networks_and_drops_the_optimizer(trained_run, tmp_path, capsys):
    source = checkpoints.latest(str(trained_run / "checkpoint"))
    out = tmp_path / "export"
    assert export_model.main(["--checkpoint_dir", str(trained_run / "checkpoint"),
                              "--out", str(out)]) == 0
    prefix = checkpoints.latest(str(out))
    assert prefix == str(out / f"DCGAN.model-{checkpoints.step_of(source)}")
    names = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    assert not any(name.startswith(("optimizer", "step/", "z_rng")) for name in names)
    assert not (out / "checkpoint").exists()
    assert checkpoints.is_inference_only(prefix) and not checkpoints.is_inference_only(source)
    assert checkpoints.read_step(prefix) == checkpoints.read_step(source) == 8
    assert checkpoints.read_architecture(prefix) == checkpoints.read_architecture(source)

    # every weight equal to the training checkpoint's, so G and D compute the same; the
    # run kept a moving average of G (--ema_decay's default), so the export's G is it
    original = tf.train.load_checkpoint(source)
    exported = tf.train.load_checkpoint(prefix)
    weights = [n for n in names if n.startswith(("generator/", "discriminator/"))
               and n.endswith("VARIABLE_VALUE")]
    assert len(weights) >= 20
    assert checkpoints.has_ema(source) and not checkpoints.has_ema(prefix)
    differs = 0
    for name in weights:
        source_name = name.replace("generator/", "generator_ema/", 1) if name.startswith(
            "generator/") else name
        if name.startswith("generator/") and "moving_" in name:
            continue              # the average's batch-norm statistics are recomputed on z
        np.testing.assert_array_equal(exported.get_tensor(name), original.get_tensor(source_name))
        differs += not np.array_equal(original.get_tensor(name), original.get_tensor(source_name))
    assert differs > 0            # the average is not G itself after 8 steps
    assert checkpoints.read_export_info(prefix)["generator"] == "ema"
    a, _ = checkpoints.load_for_completion(str(trained_run / "checkpoint"))
    b, _ = checkpoints.load_for_completion(str(out))
    images = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(a.discriminator(images), b.discriminator(images))


def test_export_of_a_chosen_step_and_its_errors(trained_run, tmp_path, capsys):
    run = str(trained_run / "checkpoint")
    assert export_model.main(["--checkpoint_dir", run, "--out", str(tmp_path / "e"),
                              "--step", "4"]) == 0
    assert checkpoints.latest(str(tmp_path / "e")).endswith("DCGAN.model-4")
    # a second export replaces the first: one model per folder
    assert export_model.main(["--checkpoint_dir", run, "--out", str(tmp_path / "e")]) == 0
    assert [checkpoints.step_of(p) for p in checkpoints.candidates(str(tmp_path / "e"))] == [8]
    capsys.readouterr()
    assert export_model.main(["--checkpoint_dir", run, "--out", str(tmp_path / "f"),
                              "--step", "5"]) == 1
    assert "no checkpoint of step 5" in capsys.readouterr().err
    assert export_model.main(["--checkpoint_dir", str(tmp_path / "none"),
                              "--out", str(tmp_path / "g")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert export_model.main(["--checkpoint_dir", run, "--out", run]) == 1
    assert "--out must differ" in capsys.readouterr().err


@pytest.mark.slow
def test_training_fine_tunes_an_export_and_leaves_it_alone(trained_run, tiny_faces, tmp_path,
                                                           capsys):
    from training import distribute
    from training import loop

    out = tmp_path / "export"
    assert export_model.main(["--checkpoint_dir", str(trained_run / "checkpoint"),
                              "--out", str(out)]) == 0
    exported = checkpoints.latest(str(out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert not (out / "checkpoint").exists()             # no state file for training to rotate
    face = sorted(tiny_faces.iterdir())[0]
    assert complete.main(["--checkpointDir", str(out), "--outDir", str(tmp_path / "c"),
                          "--nIter", "1", "--seed", "0", "--precision", "float32", str(face)]) == 0

    flags = ["--dataset", str(tiny_faces), "--checkpoint_dir", str(out), "--image_size", "16",
             "--z_dim", "16", "--gf_dim", "8", "--df_dim", "8", "--batch_size", "16",
             "--sample_dir", str(tmp_path / "s"), "--log_dir", str(tmp_path / "l"),
             "--seed", "4", "--checkpoint_interval", "2", "--precision", "float32"]
    # the trainer starts from the export's weights and step, with fresh optimizer state
    options = vars(train_dcgan.build_parser().parse_args(flags + ["--epoch", "3"]))
    config = loop.TrainConfig(**{k: v for k, v in options.items() if k != "verbose"})
    placement = distribute.place(config.strategy, config.batch_size, config.checkpoint_dir)
    state = loop.TrainingState(config, placement)
    assert state.restore() == exported and int(state.step.numpy()) == 8
    reader = tf.train.load_checkpoint(exported)
    kernel = reader.get_tensor("generator/g_h0_lin/_kernel/.ATTRIBUTES/VARIABLE_VALUE")
    mine = next(v for v in state.train_step.gan.generator.variables
                if "g_h0_lin" in v.path and "kernel" in v.path)
    np.testing.assert_array_equal(mine.numpy(), kernel)
    counters = [int(v.numpy()) for v in state.train_step.g_optimizer.variables
                if "iteration" in v.path]
    assert counters == [0]
    del state

    assert train_dcgan.main(flags + ["--epoch", "3"]) == 0   # 2 epochs done: 4 more steps
    log = capsys.readouterr().out
    assert "Starting from" in log and "fresh optimizer state" in log
    assert [checkpoints.step_of(p) for p in checkpoints.candidates(str(out))][:2] == [12, 10]
    assert not checkpoints.is_inference_only(checkpoints.latest(str(out)))
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in before} == before
    # --epoch already reached: said so, nothing written
    assert train_dcgan.main(flags + ["--epoch", "3"]) == 0
    assert "Nothing to train" in capsys.readouterr().out
