"""The face FID (evaluation/face_fid.py): the Fréchet distance by hand, the descriptors of real
faces, the cache, evaluate.py's --faceFid and training's --fid_interval (TensorBoard)."""
import json
import os

import numpy as np
import pytest
import scipy.ndimage

from evaluation import face_fid, identity
import utils
from conftest import TINY

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------- the distance by hand
def test_one_dimension_by_hand():
    # (m1 - m2)^2 + s1 + s2 - 2 sqrt(s1 s2)
    assert face_fid.frechet_distance(1.0, 4.0, 3.0, 9.0) == pytest.approx(4 + 4 + 9 - 2 * 6)
    assert face_fid.frechet_distance([0.5], [[2.0]], [0.5], [[2.0]]) == pytest.approx(0, abs=1e-12)


def test_diagonal_covariances_in_two_dimensions_by_hand():
    # ||(1, 2)||^2 = 5; traces 5 + 10; sqrt(diag(1*9, 4*1)) = diag(3, 2): 5 + 15 - 2 * 5
    value = face_fid.frechet_distance([0, 0], np.diag([1.0, 4.0]), [1, 2], np.diag([9.0, 1.0]))
    assert value == pytest.approx(10.0)


def spd(dimension: int, rng) -> np.ndarray:
    a = rng.normal(size=(dimension, dimension))
    return a @ a.T + 0.1 * np.eye(dimension)


def eigen_frechet(mu1, s1, mu2, s2) -> float:
    """Tr((S1 S2)^(1/2)) = Tr((S1^(1/2) S2 S1^(1/2))^(1/2)), a symmetric matrix's square roots
    by numpy's eigendecomposition (no scipy.linalg.sqrtm)."""
    values, vectors = np.linalg.eigh(s1)
    root = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    inner = np.linalg.eigvalsh(root @ s2 @ root)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                 - 2 * np.sum(np.sqrt(np.clip(inner, 0, None))))


@pytest.mark.parametrize("dimension", [3, 16, 128])
def test_random_covariances_match_an_eigendecomposition(dimension):
    rng = np.random.default_rng(dimension)
    mu1, mu2 = rng.normal(size=dimension), rng.normal(size=dimension)
    s1, s2 = spd(dimension, rng), spd(dimension, rng)
    expected = eigen_frechet(mu1, s1, mu2, s2)
    assert face_fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    # and it is symmetric
    assert face_fid.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-6)


def test_identical_sets_give_zero_and_the_distance_is_symmetric():
    a = RNG.normal(size=(300, 8))
    b = RNG.normal(0.3, 2.0, size=(200, 8))
    assert face_fid.fid_of_descriptors(a, a) == pytest.approx(0, abs=1e-9)
    assert face_fid.fid_of_descriptors(a, b) == pytest.approx(face_fid.fid_of_descriptors(b, a))
    # a shift of the mean by d adds |d|^2
    assert face_fid.fid_of_descriptors(a + 0.5, a) == pytest.approx(8 * 0.25)


def test_singular_covariances_stay_finite():
    """Fewer samples than dimensions (N < D: singular covariances, as 64 faces of 128-D
    descriptors) still give a finite, non-negative figure."""
    a, b = RNG.normal(size=(10, 32)), RNG.normal(size=(12, 32))
    value = face_fid.fid_of_descriptors(a, b)
    assert np.isfinite(value) and value > 0
    with pytest.raises(ValueError, match="N >= 2"):
        face_fid.statistics(a[:1])
    with pytest.raises(ValueError, match="mismatched"):
        face_fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


# ---------------------------------------------------------------- real faces
@pytest.fixture(scope="module")
def real_faces(tiny_faces) -> np.ndarray:
    """64 real CelebA faces at 64x64, uint8 RGB."""
    return np.stack([utils.center_crop_resize(utils.load_rgb(path), 64)
                     for path in sorted(tiny_faces.iterdir())])


@pytest.fixture(scope="module")
def network():
    return identity.IdentityModel()


def test_real_faces_are_nearer_each_other_than_noise_or_blur(real_faces, network):
    """Two halves of the real faces are far nearer each other than the first half is to
    noise or to the second half blurred (what a poor generator makes)."""
    half_a, half_b = real_faces[:32], real_faces[32:]
    blurred = np.stack([scipy.ndimage.gaussian_filter(face, sigma=(2.5, 2.5, 0)) for face in half_b])
    noise = RNG.integers(0, 256, half_b.shape, dtype=np.uint8)
    a, b, blur, random = (network.descriptors(faces) for faces in (half_a, half_b, blurred, noise))
    real_real = face_fid.fid_of_descriptors(a, b)
    real_blur, real_noise = face_fid.fid_of_descriptors(a, blur), face_fid.fid_of_descriptors(a, random)
    print(f"face FID real/real {real_real:.4f}, real/blurred {real_blur:.4f}, "
          f"real/noise {real_noise:.4f}")
    assert 0 < real_real < real_blur / 2, (real_real, real_blur)
    assert real_real < real_noise / 2, (real_real, real_noise)
    # the figure from uint8 faces is the one from their descriptors
    assert face_fid.face_fid(half_b, a, network=network) == pytest.approx(real_real)


def test_a_generator_of_real_faces_scores_zero_and_gets_uniform_z(real_faces, network):
    """A 'generator' that returns the real faces, 10 per call: the same descriptors, so 0;
    it is called in batches of z ~ U(-1, 1) of z_dim, the same z for the same seed."""
    calls = []
    position = [0]

    def generator(z):
        calls.append(z)
        faces = real_faces[position[0]:position[0] + len(z)]
        position[0] += len(z)
        return utils.to_model(faces)

    reference = network.descriptors(real_faces[:25])
    batches = list(face_fid.generated_faces(generator, 25, 7, seed=3, batch_size=10))
    assert [len(b) for b in batches] == [10, 10, 5]
    np.testing.assert_array_equal(np.concatenate(batches), real_faces[:25])
    z = np.concatenate(calls)
    assert z.shape == (25, 7) and z.dtype == np.float32 and -1 <= z.min() and z.max() <= 1
    np.testing.assert_array_equal(
        z, np.random.default_rng(3).uniform(-1, 1, (25, 7)).astype(np.float32))
    position[0] = 0
    assert face_fid.face_fid(generator, reference, 25, 7, network=network) == pytest.approx(
        0, abs=1e-6)    # singular covariances (25 < 128): sqrtm rounds


def test_gray_faces_count_as_three_channels(real_faces):
    gray = real_faces[:2, :, :, :1]
    assert face_fid.rgb(gray).shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(face_fid.rgb(gray)[..., 2], gray[..., 0])


def test_reference_descriptors_are_cached_until_a_face_changes(real_faces, network, tmp_path,
                                                             monkeypatch):
    folder = tmp_path / "real"
    for index, face in enumerate(real_faces[:3]):
        utils.save_rgb(face, folder / f"{index}.png")
    cache = tmp_path / "cache"
    first = face_fid.reference_descriptors(str(folder), 64, 3, network, str(cache),
                                           log=lambda line: None)
    np.testing.assert_allclose(first, network.descriptors(real_faces[:3]), atol=1e-6)
    assert len(list(cache.glob("face-fid-reference-*.json"))) == 1

    def refuse(*args):
        raise AssertionError("computed again")

    monkeypatch.setattr(identity.IdentityModel, "descriptors", refuse)
    np.testing.assert_array_equal(
        face_fid.reference_descriptors(str(folder), 64, 3, network, str(cache)), first)
    # a face written again (new modification time) is described afresh
    utils.save_rgb(real_faces[5], folder / "1.png")
    os.utime(folder / "1.png", ns=(1, 1))
    with pytest.raises(AssertionError, match="computed again"):
        face_fid.reference_descriptors(str(folder), 64, 3, network, str(cache))
    # and so is the same set read at another size
    with pytest.raises(AssertionError, match="computed again"):
        face_fid.reference_descriptors(str(folder), 32, 3, network, str(cache))


def test_too_few_real_faces_are_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(face_fid.FaceFidError, match="holds 0 image"):
        face_fid.reference_descriptors(str(tmp_path / "empty"), 64)
    with pytest.raises(face_fid.FaceFidError, match="does not exist"):
        face_fid.reference_descriptors(str(tmp_path / "nope"), 64)


# ---------------------------------------------------------------- evaluate.py --faceFid
def test_evaluate_reports_the_face_fid_of_the_checkpoint(real_faces, network, tmp_path):
    """evaluate.py's face_fid equals the FID computed here from the shipped model's G(z) of the
    same z (``--seed``) and the faces' own descriptors."""
    import evaluate
    from training import checkpoints

    folder = tmp_path / "faces"
    for index, face in enumerate(real_faces[:12]):
        utils.save_rgb(face, folder / f"{index:02d}.png")
    out = tmp_path / "eval"
    assert evaluate.main([str(folder), "--methods", "mean", "--noIdentity", "--examples", "0",
                          "--faceFid", "10", "--seed", "4", "--outDir", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    dcgan, prefix = checkpoints.load_for_completion("checkpoint", warn=lambda line: None)
    z = np.random.default_rng(4).uniform(-1, 1, (10, dcgan.arch.z_dim)).astype(np.float32)
    generated = utils.from_model(dcgan.generator(z, training=False).numpy())
    expected = face_fid.fid_of_descriptors(network.descriptors(generated),
                                           network.descriptors(real_faces[:12]))
    assert summary["face_fid"] == pytest.approx(expected, rel=1e-4)
    assert summary["face_fid_generated"] == 10 and summary["face_fid_real"] == 12
    assert summary["face_fid_checkpoint"] == prefix
    assert list(out.glob("face-fid-reference-*.json"))


def test_evaluate_face_fid_of_one_face_is_refused(tmp_path, capsys):
    import evaluate

    face = tmp_path / "a.png"
    utils.save_rgb(np.zeros((64, 64, 3), np.uint8), face)
    assert evaluate.main([str(face), "--methods", "mean", "--faceFid", "1",
                          "--outDir", str(tmp_path / "o")]) == 1
    assert "--faceFid 1" in capsys.readouterr().err


# ---------------------------------------------------------------- training's --fid_interval
def tiny_training(tiny_faces, run, *extra) -> list[str]:
    return ["--dataset", str(tiny_faces), "--epoch", "1", "--batch_size", "16", "--train_size",
            "64", "--image_size", str(TINY["image_size"]), "--z_dim", str(TINY["z_dim"]),
            "--gf_dim", str(TINY["gf_dim"]), "--df_dim", str(TINY["df_dim"]),
            "--checkpoint_dir", str(run / "checkpoint"), "--sample_dir", str(run / "samples"),
            "--log_dir", str(run / "logs"), "--seed", "3", "--precision", "float32", *extra]


def read_scalars(log_dir, tag: str) -> dict[int, float]:
    import tensorflow as tf

    values = {}
    for path in sorted(log_dir.iterdir()):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def test_training_logs_the_face_fid_to_tensorboard(tiny_faces, tmp_path, capsys):
    """4 steps with --fid_interval 2: face_fid at steps 2 and 4 in the event file and in the
    progress lines, equal to the FID of the exported generator at the end."""
    import train_dcgan
    from training import checkpoints

    run = tmp_path / "run"
    assert train_dcgan.main(tiny_training(tiny_faces, run, "--fid_interval", "2", "--fid_faces",
                                          str(tiny_faces), "--fid_samples", "16")) == 0
    out = capsys.readouterr().out
    assert "face_fid:" in out
    scalars = read_scalars(run / "logs", "face_fid")
    assert sorted(scalars) == [2, 4]
    assert all(np.isfinite(v) and v > 0 for v in scalars.values())
    assert list((run / "checkpoint").glob("face-fid-reference-*.json"))
    # the last figure is the FID of the saved model's inference generator (the moving average)
    dcgan, _ = checkpoints.load_for_completion(str(run / "checkpoint"), warn=lambda line: None)
    reference = face_fid.reference_descriptors(str(tiny_faces), 16, 3,
                                               cache_dir=str(run / "checkpoint"))
    expected = face_fid.face_fid(lambda z: dcgan.generator(z, training=False), reference, 16,
                                 TINY["z_dim"])
    assert scalars[4] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("extra,message", [
    (["--fid_interval", "2"], "--fid_interval 2 needs --fid_faces"),
    (["--fid_interval", "2", "--fid_faces", "EMPTY"], "holds 0 image"),
    (["--fid_interval", "2", "--fid_faces", "MISSING"], "does not exist"),
])
def test_face_fid_flags_without_real_faces_are_a_clear_error(tiny_faces, tmp_path, capsys,
                                                             extra, message):
    import train_dcgan

    (tmp_path / "EMPTY").mkdir()
    extra = [str(tmp_path / e) if e in ("EMPTY", "MISSING") else e for e in extra]
    run = tmp_path / "run"
    assert train_dcgan.main(tiny_training(tiny_faces, run, *extra)) == 1
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (run / "checkpoint").exists()           # refused before anything was built
