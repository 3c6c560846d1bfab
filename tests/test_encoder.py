"""completion/encoder.py and train_encoder.py: the learned start of the search, on tiny models."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from training import checkpoints
import complete
from completion import encoder as enc
import evaluate
from completion import faces, masks, outputs
import utils
import train_encoder
from model import Architecture
from conftest import TINY


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
    # Exported without optimizer state: smaller, and the same encoder.
    assert train_encoder.main(["--encoder_dir", str(out), "--export",
                               str(tmp_path / "shipped" / enc.ENCODER_DIR)]) == 0
    shipped, shipped_info = enc.load(enc.find(str(tmp_path / "shipped")))
    assert shipped_info == info
    assert not any("optimizer" in name for name, _ in tf.train.list_variables(
        enc.find(str(tmp_path / "shipped"))))
    for a, b in zip(loaded.variables, shipped.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    warnings = []
    other = Architecture(**{**TINY, "z_dim": TINY["z_dim"] + 1})
    assert enc.load_matching(str(tmp_path / "model"), other, warn=warnings.append) is None
    assert "another model" in warnings[0]
    # The same architecture at another step: used, with a warning naming both steps.
    warnings = []
    assert enc.load_matching(str(tmp_path / "model"), Architecture(**TINY),
                             warn=warnings.append, step=info.generator_step + 7) is not None
    assert f"step {info.generator_step} of this model" in warnings[0]
    assert f"now at step {info.generator_step + 7}" in warnings[0]
    warnings = []
    enc.load_matching(str(tmp_path / "model"), Architecture(**TINY), warn=warnings.append,
                      step=info.generator_step)
    assert warnings == []


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


def test_init_from_starts_from_another_encoders_weights(trained_run, tiny_faces, tmp_path,
                                                        capsys):
    """--init_from copies the weights of a model's encoder (a fine-tuned G's new encoder
    starts from its parent's); with a learning rate of 1e-12, 2 steps leave them within 1e-9
    of the source, while a fresh encoder of the same seed is far from it."""
    assert train(trained_run, tiny_faces, tmp_path / "model" / enc.ENCODER_DIR, 10) == 0
    source, _ = enc.load(enc.find(str(tmp_path / "model")))
    assert train(trained_run, tiny_faces, tmp_path / "tuned", 2,
                 ["--init_from", str(tmp_path / "model"), "--learning_rate", "1e-12"]) == 0
    assert "Starting from the weights of" in capsys.readouterr().out
    assert train(trained_run, tiny_faces, tmp_path / "fresh", 2,
                 ["--learning_rate", "1e-12"]) == 0
    tuned, tuned_info = enc.load(enc.find(str(tmp_path / "tuned")))
    fresh, _ = enc.load(enc.find(str(tmp_path / "fresh")))
    kernels = [v for v in source.variables if "kernel" in v.path]
    assert kernels
    for a, b, c in zip(source.variables, tuned.variables, fresh.variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-9)
        if "kernel" in a.path:
            assert np.abs(c.numpy() - a.numpy()).max() > 1e-3
    # A new training: its own step count, and it records the generator it was tuned for.
    assert enc.find(str(tmp_path / "tuned")).endswith(f"{enc.ENCODER_NAME}-2")
    assert tuned_info.generator_step == checkpoints.step_of(checkpoints.latest(
        str(trained_run / "checkpoint")))
    # Resuming takes the run's own checkpoint, and says the flag is not used.
    assert train(trained_run, tiny_faces, tmp_path / "tuned", 3,
                 ["--init_from", str(tmp_path / "model")]) == 0
    assert "--init_from" in capsys.readouterr().out


def test_init_from_errors_name_the_flag(trained_run, tiny_faces, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train(trained_run, tiny_faces, tmp_path / "a", 2, ["--init_from", str(empty)]) == 2
    error = capsys.readouterr().err
    assert "--init_from" in error and "holds no encoder" in error and "Traceback" not in error
    # An encoder for another generator is refused.
    other_arch = Architecture(**{**TINY, "z_dim": TINY["z_dim"] + 1})
    other = enc.Encoder(other_arch)
    enc.checkpoint_of(other, enc.EncoderInfo(other_arch, 1)).write(
        str(tmp_path / "other" / f"{enc.ENCODER_NAME}-1"))
    assert train(trained_run, tiny_faces, tmp_path / "b", 2,
                 ["--init_from", str(tmp_path / "other")]) == 2
    error = capsys.readouterr().err
    assert "--init_from" in error and "another model" in error and "Traceback" not in error
    assert not (tmp_path / "b").exists() or enc.find(str(tmp_path / "b")) is None
    # A wider encoder is refused when --ef_dim asks for another width, and taken with its
    # own width when --ef_dim is left out.
    wide = enc.Encoder(Architecture(**TINY), ef_dim=enc.ENCODER_FILTERS * 2)
    info = enc.EncoderInfo(Architecture(**TINY), 1, enc.ENCODER_FILTERS * 2)
    enc.checkpoint_of(wide, info).write(str(tmp_path / "wide" / f"{enc.ENCODER_NAME}-1"))
    assert train(trained_run, tiny_faces, tmp_path / "c", 2,
                 ["--init_from", str(tmp_path / "wide"),
                  "--ef_dim", str(enc.ENCODER_FILTERS)]) == 2
    error = capsys.readouterr().err
    assert f"--ef_dim {enc.ENCODER_FILTERS * 2}" in error and "Traceback" not in error
    assert train(trained_run, tiny_faces, tmp_path / "d", 2,
                 ["--init_from", str(tmp_path / "wide"), "--learning_rate", "1e-12"]) == 0
    tuned, tuned_info = enc.load(enc.find(str(tmp_path / "d")))
    assert tuned_info.ef_dim == enc.ENCODER_FILTERS * 2
    for a, b in zip(wide.variables, tuned.variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-9)


def test_ef_dim_sets_the_width_and_is_kept_on_resume(trained_run, tiny_faces, tmp_path,
                                                     capsys):
    """--ef_dim 8: the first convolution has 8 filters, the next 16 (the tiny model's
    16x16 faces take two); the checkpoint records it, a resume without the flag keeps it, and
    a resume asking for another width is one clear error."""
    out = tmp_path / "narrow"
    assert train(trained_run, tiny_faces, out, 2, ["--ef_dim", "8"]) == 0
    encoder, info = enc.load(enc.find(str(out)))
    assert info.ef_dim == 8
    assert encoder.e_h0.kernel.shape[-1] == 8 and encoder.e_h1.kernel.shape[-1] == 16
    assert train(trained_run, tiny_faces, out, 4) == 0
    assert "Resuming from" in capsys.readouterr().out
    assert enc.find(str(out)).endswith(f"{enc.ENCODER_NAME}-4")
    assert enc.read_info(enc.find(str(out))).ef_dim == 8
    assert train(trained_run, tiny_faces, out, 6, ["--ef_dim", "16"]) == 2
    error = capsys.readouterr().err
    assert "8 filters" in error and "--encoder_dir" in error and "Traceback" not in error


def test_losses_by_hand():
    """A generator that draws black (0) and an encoder that says z = 0, against images that
    are 0.5 in a 2x2 hole of a 4x4 image and 0 elsewhere: z loss 0.3^2 on the one sample
    with z = 0.3, whole-image error 0.5 x 4/16, hole error 0.5; no hole: hole error 0."""
    generator = lambda z, training=False: tf.zeros((z.shape[0], 4, 4, 3))   # noqa: E731
    encoder = lambda images, known, training=False: tf.zeros((images.shape[0], 2))  # noqa: E731
    known = np.ones((2, 4, 4, 1), np.float32)
    known[:, 1:3, 1:3] = 0.0
    images = (np.where(known > 0, 0.0, 0.5) * np.ones((2, 4, 4, 3))).astype(np.float32)
    z = tf.fill((1, 2), 0.3)
    z_loss, pixel_loss, hole_loss = train_encoder.losses(generator, encoder, tf.constant(images),
                                                         tf.constant(known), z)
    assert float(z_loss) == pytest.approx(0.09)
    assert float(pixel_loss) == pytest.approx(0.125)
    assert float(hole_loss) == pytest.approx(0.5)
    _, _, none = train_encoder.losses(generator, encoder, tf.constant(images),
                                      tf.ones((2, 4, 4, 1)), z)
    assert float(none) == 0.0


def test_hole_weight_changes_the_training(trained_run, tiny_faces, tmp_path, capsys):
    """The same seed with --hole_weight 0 and 5 gives other weights, and the log reports the
    hole's error beside the whole image's."""
    assert train(trained_run, tiny_faces, tmp_path / "plain", 5) == 0
    assert "in the hole" in capsys.readouterr().out
    assert train(trained_run, tiny_faces, tmp_path / "hole", 5, ["--hole_weight", "5"]) == 0
    plain, _ = enc.load(enc.find(str(tmp_path / "plain")))
    hole, _ = enc.load(enc.find(str(tmp_path / "hole")))
    assert max(np.abs(a.numpy() - b.numpy()).max()
               for a, b in zip(plain.variables, hole.variables)) > 1e-4


@pytest.fixture(scope="module")
def model_with_encoder(trained_run, tiny_faces, tmp_path_factory):
    """A copy of the tiny model's folder with an encoder trained for it in encoder/."""
    folder = tmp_path_factory.mktemp("with_encoder") / "checkpoint"
    shutil.copytree(trained_run / "checkpoint", folder)
    assert train(trained_run, tiny_faces, folder / enc.ENCODER_DIR, 5) == 0
    return folder


@pytest.fixture(scope="module")
def aligned16(tiny_faces, tmp_path_factory):
    folder = tmp_path_factory.mktemp("aligned16_enc")
    for path in sorted(tiny_faces.iterdir())[:3]:
        utils.save_rgb(utils.center_crop_resize(utils.load_rgb(path), 16),
                       folder / (path.stem + ".png"))
    return folder


def _complete(folder, faces_dir, out, *extra):
    return complete.main(["--checkpointDir", str(folder), "--outDir", str(out), "--seed", "1",
                          "--precision", "float32", "--maskType", "center", "--no-blend",
                          *extra, str(faces_dir)])


def _finals(out, faces_dir):
    return np.stack([np.asarray(Image.open(out / "completed" / "images" / path.name))
                     for path in sorted(faces_dir.iterdir())]).astype(np.int16)


def test_complete_starts_from_the_encoder(model_with_encoder, aligned16, tmp_path):
    """With no iterations, complete.py's result is the known pixels + G(E(x, m)), computed
    here from the stored encoder and generator; auto is the encoder; --start noise is G of
    the seed's uniform z."""
    assert _complete(model_with_encoder, aligned16, tmp_path / "e", "--start", "encoder",
                     "--nIter", "0", "--featureIter", "0") == 0
    paths = sorted(str(p) for p in aligned16.iterdir())
    images = faces.read_faces(paths, 16, 3)
    mask = np.broadcast_to(masks.make_mask("center", 16)[0], (len(paths), 16, 16, 1))
    encoder, _ = enc.load(enc.find(str(model_with_encoder)))
    dcgan, _ = checkpoints.load_for_completion(str(model_with_encoder))
    expected = utils.from_model(outputs.composite(
        images, dcgan.generator(enc.start(encoder, images, mask)).numpy(), mask))
    assert np.abs(_finals(tmp_path / "e", aligned16) - expected).max() <= 1
    assert _complete(model_with_encoder, aligned16, tmp_path / "a", "--nIter", "0",
                     "--featureIter", "0") == 0           # --start auto, the default
    np.testing.assert_array_equal(_finals(tmp_path / "a", aligned16),
                                  _finals(tmp_path / "e", aligned16))
    assert _complete(model_with_encoder, aligned16, tmp_path / "n", "--start", "noise",
                     "--nIter", "0", "--featureIter", "0") == 0
    from completion.search import SearchRandom
    noise = utils.from_model(outputs.composite(
        images, dcgan.generator(SearchRandom(1).initial_z(len(paths), 16)).numpy(), mask))
    assert np.abs(_finals(tmp_path / "n", aligned16) - noise).max() <= 1
    assert not np.array_equal(noise, expected)


def test_the_search_goes_on_from_the_encoders_start(model_with_encoder, aligned16, tmp_path):
    """The log's first iteration is at E's z, and 20 iterations from it lower the loss."""
    assert _complete(model_with_encoder, aligned16, tmp_path / "s", "--nIter", "20",
                     "--featureIter", "0", "--stopTol", "0", "--outInterval", "10") == 0
    paths = sorted(str(p) for p in aligned16.iterdir())
    mask = np.broadcast_to(masks.make_mask("center", 16)[0], (len(paths), 16, 16, 1))
    encoder, _ = enc.load(enc.find(str(model_with_encoder)))
    starts = enc.start(encoder, faces.read_faces(paths, 16, 3), mask)
    logs = sorted((tmp_path / "s" / "logs").iterdir())
    assert len(logs) == len(paths)
    for log, start in zip(logs, starts):
        lines = log.read_text().splitlines()[1:]          # after the header
        assert len(lines) == 20
        np.testing.assert_allclose([float(v) for v in lines[0].split()[2:]], start, atol=1e-5)
        assert float(lines[-1].split()[1]) < float(lines[0].split()[1])


def _budget(out):
    """(nIter, featureIter) in options.json, and the number of lines of each image's log."""
    options = json.loads((out / "options.json").read_text())
    lines = {len(log.read_text().splitlines()) - 1 for log in (out / "logs").iterdir()}
    return (options["nIter"], options["featureIter"]), lines


def test_the_iteration_caps_default_by_start(model_with_encoder, aligned16, tmp_path):
    """Unset, --nIter and --featureIter are the start's (defaults.BUDGET): 0 and 25 from the
    encoder, 1000 and 200 from noise; given, one applies to either start. --stopTol 0 runs
    every iteration, so each log has one line per iteration of both phases."""
    assert _complete(model_with_encoder, aligned16, tmp_path / "e", "--stopTol", "0") == 0
    assert _budget(tmp_path / "e") == ((0, 25), {25})
    assert _complete(model_with_encoder, aligned16, tmp_path / "g", "--stopTol", "0",
                     "--nIter", "3") == 0
    assert _budget(tmp_path / "g") == ((3, 25), {28})
    assert _complete(model_with_encoder, aligned16, tmp_path / "n", "--stopTol", "0",
                     "--start", "noise", "--featureIter", "2") == 0
    assert _budget(tmp_path / "n") == ((1000, 2), {1002})


def test_no_encoder_is_a_clear_error_or_noise(trained_run, aligned16, tmp_path, capsys):
    folder = trained_run / "checkpoint"
    assert _complete(folder, aligned16, tmp_path / "x", "--start", "encoder", "--nIter", "1",
                     "--featureIter", "0") == 1
    error = capsys.readouterr().err
    assert "holds no encoder" in error and "train_encoder.py" in error
    assert "Traceback" not in error
    assert _complete(folder, aligned16, tmp_path / "y", "--nIter", "1", "--featureIter", "0") == 0
    assert "starts from uniform noise" in capsys.readouterr().out


def test_evaluate_starts_from_the_encoder(model_with_encoder, aligned16, tmp_path):
    """evaluate.py with --start encoder and no iterations scores G(E(x, m)) blended in: the
    same as --start noise only by chance, so the two differ."""
    results = {}
    for start in ("encoder", "noise"):
        summary = evaluate.evaluate(evaluate.build_parser().parse_args([
            str(aligned16), "--checkpointDir", str(model_with_encoder), "--methods",
            "ours_weighted", "--nIter", "0", "--featureIter", "0", "--start", start,
            "--noIdentity", "--outDir", str(tmp_path / start), "--precision", "float32"]),
            log=lambda line: None)
        results[start] = summary["means"]["ours_weighted"]["psnr_whole"]
    assert results["encoder"] != results["noise"]
