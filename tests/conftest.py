"""Shared pytest fixtures.

Real data lives beside the project at ``../shared/data`` (never committed).
A test that needs it *fails* when CI runs without it (``CI`` is set) and is
skipped with a clear reason on a user's machine.
"""
import os
import sys
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = pathlib.Path(os.environ.get("DCGAN_SHARED_DATA", ROOT.parent / "shared" / "data"))


def require_path(path: pathlib.Path) -> pathlib.Path:
    """Return ``path`` if it exists; otherwise fail under CI, skip elsewhere."""
    if path.exists():
        return path
    message = (f"real data not found at {path}; set DCGAN_SHARED_DATA to the folder "
               "that holds faces/ and photos/")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    return require_path(SHARED_DATA)


@pytest.fixture(scope="session")
def faces_dir(shared_data) -> pathlib.Path:
    return require_path(shared_data / "faces")


@pytest.fixture(scope="session")
def photos_dir(shared_data) -> pathlib.Path:
    return require_path(shared_data / "photos")


# ---------------------------------------------------------------- tiny models
TINY = dict(image_size=16, z_dim=16, gf_dim=8, df_dim=8, c_dim=3)


def settled_dcgan(seed: int):
    """An untrained 16x16 DCGAN (z_dim 8, 4 filters) from ``seed`` whose batch-norm moving
    averages have reached its batch statistics, so that inference mode behaves.

    Fresh moving averages (mean 0, variance 1) would leave the 0.02-scale activations
    unnormalised in inference mode, and G(z) would hardly depend on z."""
    import tensorflow as tf

    import model

    tf.keras.utils.set_random_seed(seed)
    dcgan = model.DCGAN(model.Architecture(image_size=16, z_dim=8, gf_dim=4, df_dim=4))
    for _ in range(60):  # moving averages decay by 0.9 per call: 0.9^60 < 0.002
        fake = dcgan.generator(tf.random.uniform([32, 8], -1, 1), training=True)
        dcgan.discriminator(fake, training=True)
    return dcgan


def save_faces16(tiny_faces: pathlib.Path, folder: pathlib.Path, count: int,
                 suffix: str | None = ".png") -> list[pathlib.Path]:
    """The first ``count`` real faces, centre-cropped and resized to the tiny model's 16x16,
    saved in ``folder`` under their names with ``suffix`` (None: their own); their paths."""
    import utils

    paths = []
    for path in sorted(tiny_faces.iterdir())[:count]:
        target = folder / (path.name if suffix is None else path.stem + suffix)
        utils.save_rgb(utils.center_crop_resize(utils.load_rgb(path), 16), target)
        paths.append(target)
    return paths


@pytest.fixture(scope="session")
def tiny_faces(faces_dir, tmp_path_factory) -> pathlib.Path:
    """A folder of 64 real CelebA faces (symlinks; the photos stay in shared/)."""
    source = require_path(faces_dir / "celeba10k")
    folder = tmp_path_factory.mktemp("tiny_faces")
    for name in sorted(os.listdir(source))[:64]:
        (folder / name).symlink_to(source / name)
    return folder


@pytest.fixture(scope="session")
def trained_run(tiny_faces, tmp_path_factory) -> pathlib.Path:
    """Train a tiny 16x16 DCGAN for 2 epochs of 4 steps with train_dcgan.main; return its folder.

    float32, as every test that is not about precision: ``auto`` would pick another
    precision on another CPU, and the tests would check other numbers there."""
    import train_dcgan

    run = tmp_path_factory.mktemp("run")
    code = train_dcgan.main([
        "--dataset", str(tiny_faces), "--epoch", "2", "--batch_size", "16",
        "--image_size", str(TINY["image_size"]), "--z_dim", str(TINY["z_dim"]),
        "--gf_dim", str(TINY["gf_dim"]), "--df_dim", str(TINY["df_dim"]),
        "--checkpoint_dir", str(run / "checkpoint"), "--sample_dir", str(run / "samples"),
        "--log_dir", str(run / "logs"), "--seed", "3", "--sample_interval", "4",
        "--checkpoint_interval", "4", "--log_interval", "2", "--precision", "float32"])
    assert code == 0
    return run
