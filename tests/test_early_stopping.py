"""Early stopping of the search (completion/search.py's ``stop_tol``, complete.py's ``--stopTol``).

Each image's search ends once the mean change of its hole over ``stop_window`` iterations
is below ``stop_tol`` grey levels. The expected stops here are derived by hand from a full
run's snapshots (tolerance 0, one snapshot per iteration): the change of G(z) over the hole
between the checks, in 8-bit levels, computed with NumPy."""
import json

import numpy as np
import pytest

import complete
from completion import masks
from completion.search import CompletionConfig, complete as search
from conftest import save_faces16, settled_dcgan

WINDOW = 4


@pytest.fixture(scope="module")
def dcgan():
    return settled_dcgan(2)


def _problem(batch=6, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (batch, 16, 16, 3)).astype(np.float32)
    mask, low = masks.make_mask("center", 16)
    return images, np.broadcast_to(mask, (batch, 16, 16, 1)).copy(), low[None]


def _snapshots(dcgan, images, mask, low, config, **options):
    return list(search(dcgan.generator, dcgan.discriminator, images, mask, low, config=config,
                       **options))


def _by_hand(full, hole, tol, window, first=0):
    """Each image's stopping iteration (or None) from a full run's per-iteration snapshots:
    the first check t (a multiple of ``window`` after 0) where the hole's mean absolute change
    of G since check t - window is below ``tol`` grey levels. The last snapshot is the cap:
    no check runs there."""
    hole = np.broadcast_to(hole, full[0].generated.shape).astype(bool)
    stops = []
    for image in range(len(hole)):
        stop = None
        for t in range(window, len(full) - 1 - first, window):
            before, after = full[first + t - window].generated, full[first + t].generated
            change = 127.5 * np.abs(after[image] - before[image])[hole[image]].mean()
            if change < tol:
                stop = t
                break
        stops.append(stop)
    return stops


def _changes(full, hole, window):
    """(checks, B) hole changes of a full run at every check, as :func:`_by_hand` measures."""
    hole = np.broadcast_to(hole, full[0].generated.shape).astype(bool)
    return np.array([[127.5 * np.abs(full[t].generated[i] - full[t - window].generated[i])
                      [hole[i]].mean() for i in range(len(hole))]
                     for t in range(window, len(full), window)])


def test_each_image_stops_where_the_hand_computed_criterion_says(dcgan):
    images, mask, low = _problem()
    n_iter = 40
    full = _snapshots(dcgan, images, mask, low,
                      CompletionConfig(n_iter=n_iter, out_interval=1, lr=20.0, feature_iter=0,
                                       stop_tol=0), seed=3)
    changes = _changes(full, 1 - mask, WINDOW)
    # A tolerance between two observed changes, at least 1% of it away from every change,
    # that makes the images stop at the most different checks.
    values = np.sort(changes.ravel())
    candidates = [(a + b) / 2 for a, b in zip(values, values[1:]) if b - a > 0.02 * (a + b) / 2]
    tol = max(candidates,
              key=lambda tol: len(set(map(str, _by_hand(full, 1 - mask, tol, WINDOW)))))
    expected = _by_hand(full, 1 - mask, tol, WINDOW)
    assert len(set(map(str, expected))) >= 3, expected     # fast and slow images in a batch

    stopped = _snapshots(dcgan, images, mask, low,
                         CompletionConfig(n_iter=n_iter, out_interval=7, lr=20.0, stop_tol=tol,
                                          stop_window=WINDOW, feature_iter=0), seed=3)
    last = stopped[-1]
    steps = [n_iter if stop is None else stop for stop in expected]
    assert list(last.steps) == steps
    for image, step in enumerate(steps):
        np.testing.assert_allclose(last.z[image], full[step].z[image], atol=2e-5)
        np.testing.assert_allclose(last.generated[image], full[step].generated[image],
                                   atol=2e-4)
    # The history marks each image's own updates, and the batch ends with its slowest image.
    made = np.concatenate([s.history_active for s in stopped[1:]])
    assert list(made.sum(axis=0)) == steps
    assert last.iteration == max(steps)
    assert list(last.active) == [stop is None for stop in expected]


def test_in_a_mixed_batch_each_image_gets_the_same_result_as_alone(dcgan):
    images, mask, low = _problem(batch=4)
    z = np.random.default_rng(7).uniform(-1, 1, (len(images), 8)).astype(np.float32)
    config = CompletionConfig(n_iter=60, feature_iter=20, out_interval=10, lr=20.0,
                              stop_tol=0.5, stop_window=WINDOW)
    together = _snapshots(dcgan, images, mask, low, config, z=z)[-1]
    assert len(set(together.steps)) >= 2, together.steps     # fast and slow images
    for image in range(len(images)):
        rows = slice(image, image + 1)
        alone = _snapshots(dcgan, images[rows], mask[rows], low, config, z=z[rows])[-1]
        assert alone.steps[0] == together.steps[image]
        np.testing.assert_allclose(alone.z[0], together.z[image], atol=1e-5)
        np.testing.assert_allclose(alone.generated[0], together.generated[image], atol=1e-4)
        np.testing.assert_allclose(alone.loss[0], together.loss[image], rtol=1e-4)


def test_a_tolerance_no_change_can_meet_stops_at_the_first_check_of_each_phase(dcgan):
    images, mask, low = _problem(batch=3)
    config = CompletionConfig(n_iter=30, feature_iter=12, out_interval=100, lr=20.0,
                              stop_tol=1e9, stop_window=5)
    snapshots = _snapshots(dcgan, images, mask, low, config, seed=1)
    # z: 5 updates, then the feature search: 5 more; every image, every phase.
    assert [s.iteration for s in snapshots] == [0, 5, 10]
    assert [s.phase for s in snapshots] == ["z", "z", "features"]
    assert list(snapshots[-1].steps) == [10, 10, 10]
    full = _snapshots(dcgan, images, mask, low,
                      CompletionConfig(n_iter=5, out_interval=100, lr=20.0, feature_iter=0,
                                       stop_tol=0), seed=1)
    np.testing.assert_allclose(snapshots[1].z, full[-1].z, atol=1e-6)


def test_tolerance_zero_runs_every_iteration(dcgan):
    images, mask, low = _problem(batch=3)
    config = CompletionConfig(n_iter=25, feature_iter=7, out_interval=10, lr=20.0, stop_tol=0)
    snapshots = _snapshots(dcgan, images, mask, low, config, seed=1)
    assert [s.iteration for s in snapshots] == [0, 10, 20, 25, 30, 32]
    assert all(s.history_active.all() for s in snapshots)
    assert list(snapshots[-1].steps) == [32, 32, 32]
    # The same run in other chunks: the chunking is invisible.
    other = _snapshots(dcgan, images, mask, low,
                       CompletionConfig(n_iter=25, feature_iter=7, out_interval=3, lr=20.0,
                                        stop_tol=0),
                       seed=1)
    np.testing.assert_array_equal(other[-1].z, snapshots[-1].z)
    np.testing.assert_array_equal(other[-1].features, snapshots[-1].features)


def test_an_image_without_a_hole_is_watched_whole(dcgan):
    images, _, low = _problem(batch=2)
    known = np.ones((2, 16, 16, 1), np.float32)          # nothing missing: "full"
    config = CompletionConfig(n_iter=20, out_interval=20, lr=20.0, stop_tol=1e9, stop_window=4,
                              feature_iter=0)
    last = _snapshots(dcgan, images, known, low, config, seed=0)[-1]
    assert list(last.steps) == [4, 4]


def test_bad_stopping_settings_are_refused():
    with pytest.raises(ValueError, match="stop_tol must be >= 0"):
        CompletionConfig(stop_tol=-1.0)
    with pytest.raises(ValueError, match="stop_window >= 1"):
        CompletionConfig(stop_window=0)


# ------------------------------------------------------------------- complete.py
def _complete(trained_run, out, images, *extra):
    return complete.main(["--checkpointDir", str(trained_run / "checkpoint"), "--outDir",
                          str(out), "--seed", "1", "--precision", "float32",
                          *map(str, extra), *images])


@pytest.fixture(scope="module")
def faces16(tiny_faces, tmp_path_factory):
    """Four real faces at the tiny model's 16x16, as PNG."""
    paths = save_faces16(tiny_faces, tmp_path_factory.mktemp("faces16"), 4)
    return sorted(str(p) for p in paths)


def _log_iterations(path):
    return [int(line.split()[0]) for line in path.read_text().splitlines()[1:]]


def test_complete_py_stops_a_converged_image_early(trained_run, faces16, tmp_path, capsys):
    out = tmp_path / "stop"
    assert _complete(trained_run, out, faces16, "--nIter", 200, "--featureIter", 0,
                     "--outInterval", 50, "--stopTol", 1e9, "--stopWindow", 10) == 0
    for index in range(len(faces16)):
        # stopped at the first check: 10 lines, numbered 0-9, instead of 200
        assert _log_iterations(out / "logs" / f"hats_{index:02d}.log") == list(range(10))
    assert sorted(p.name for p in (out / "hats_imgs").iterdir()) == ["0000.png", "0010.png"]
    assert len(list((out / "completed" / "images").glob("*.png"))) == len(faces16)
    printed = capsys.readouterr().out
    assert "4 of 4 images stopped before 200 iterations" in printed
    assert "--stopTol 1e+09 grey levels in 10 iterations" in printed


def test_complete_py_with_tolerance_zero_logs_every_iteration(trained_run, faces16, tmp_path):
    out = tmp_path / "full"
    assert _complete(trained_run, out, faces16, "--nIter", 23, "--featureIter", 5,
                     "--outInterval", 10, "--stopTol", 0) == 0
    for index in range(len(faces16)):
        assert _log_iterations(out / "logs" / f"hats_{index:02d}.log") == list(range(28))
    assert sorted(p.name for p in (out / "hats_imgs").iterdir()) == [
        "0000.png", "0010.png", "0020.png", "0023.png", "0028.png"]


def test_complete_py_logs_end_at_each_image_s_own_last_iteration(trained_run, faces16,
                                                                 tmp_path):
    out = tmp_path / "mixed"
    assert _complete(trained_run, out, faces16, "--nIter", 60, "--featureIter", 0,
                     "--outInterval", 20, "--stopTol", 0.3, "--stopWindow", 5) == 0
    lengths = [len(_log_iterations(out / "logs" / f"hats_{i:02d}.log"))
               for i in range(len(faces16))]
    options = json.loads((out / "options.json").read_text())
    assert (options["stopTol"], options["stopWindow"]) == (0.3, 5)
    for index, length in enumerate(lengths):
        numbers = _log_iterations(out / "logs" / f"hats_{index:02d}.log")
        assert numbers == list(range(length))          # contiguous, from 0
        assert length % 5 == 0 and 0 < length <= 60
