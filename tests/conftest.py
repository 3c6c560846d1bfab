"""Shared pytest fixtures.

Real data lives beside the project at ``../shared/data`` (never committed).
A test that needs it *fails* when CI runs without it (``CI`` is set) and is
skipped with a clear reason on a user's machine.
"""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
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
