"""Identity distance (evaluation/identity.py) on real faces, and its column in evaluate.py."""
import csv
import json

import cv2
import numpy as np
import pytest

from evaluation import identity
import utils
from conftest import require_path

PEOPLE = 3          # of the 5 people in dlib's johns/ (11 photos each)
PHOTOS = 4          # photos per person


@pytest.fixture(scope="module")
def network():
    return identity.IdentityModel()


@pytest.fixture(scope="module")
def johns(photos_dir):
    """Aligned 64x64 faces of PEOPLE people, PHOTOS photos each, and their names."""
    from completion import faces

    root = require_path(photos_dir / "dlib" / "johns")
    paths, people = [], []
    for person in sorted(p for p in root.iterdir() if p.is_dir())[:PEOPLE]:
        for path in sorted(person.iterdir())[:PHOTOS]:
            paths.append(str(path))
            people.append(person.name)
    # the crops are tight, so the detector needs a border (as UTKFace's: align --pad)
    aligned, _, _ = faces.align_photos(paths, 64, pad=0.25, log=lambda line: None)
    return aligned, np.array(people)


def test_a_face_is_at_distance_zero_from_itself(network, johns):
    aligned, _ = johns
    assert np.array_equal(network.distance(aligned, aligned), np.zeros(len(aligned)))
    descriptors = network.descriptors(aligned)
    assert descriptors.shape == (len(aligned), 128)
    assert np.all(np.isfinite(descriptors))
    # the same face again, alone, gives the same descriptor (no batch effects)
    np.testing.assert_allclose(network.descriptors(aligned[3:4])[0], descriptors[3], atol=1e-6)


def test_two_people_are_further_apart_than_two_photos_of_one(network, johns):
    aligned, people = johns
    descriptors = network.descriptors(aligned)
    distance = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=2)
    same = people[:, None] == people[None]
    pairs = ~np.eye(len(people), dtype=bool)
    same_person, other_person = distance[same & pairs], distance[~same]
    # dlib's threshold separates them: every pair of photos of one person is within
    # 0.6 and nearly every pair of two people beyond it
    assert same_person.max() < identity.SAME_PERSON_THRESHOLD
    assert np.mean(other_person > identity.SAME_PERSON_THRESHOLD) > 0.9
    # and for each person, their own photos are nearer on average than anyone else's
    for person in np.unique(people):
        mine = people == person
        assert (distance[np.ix_(mine, mine)][~np.eye(PHOTOS, dtype=bool)].mean()
                < distance[np.ix_(mine, ~mine)].mean())


def test_distances_by_hand():
    a = np.zeros((2, 128))
    b = np.zeros((2, 128))
    b[0, :4] = 0.5                     # sqrt(4 * 0.25) = 1
    b[1, 0] = 0.3
    np.testing.assert_allclose(identity.distances(a, b), [1.0, 0.3])


def test_bad_input_is_refused(network):
    with pytest.raises(ValueError, match="uint8"):
        network.descriptors(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, S, S, 3\)"):
        network.descriptors(np.zeros((64, 64, 3), np.uint8))
    assert network.descriptors(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, 128)


def test_evaluate_reports_identity_for_every_method(network, johns, tmp_path):
    """evaluate.py's identity column equals the distance computed here from its own fills."""
    import evaluate

    aligned, _ = johns
    folder = tmp_path / "faces"
    folder.mkdir()
    for index, face in enumerate(aligned[:4]):
        utils.save_rgb(face, folder / f"{index}.png")
    out = tmp_path / "eval"
    assert evaluate.main([str(folder), "--methods", "telea,mean", "--outDir", str(out)]) == 0
    with open(out / "per_image.csv") as handle:
        rows = list(csv.DictReader(handle))
    summary = json.loads((out / "summary.json").read_text())
    truths = aligned[:4]
    mask = np.ones((64, 64, 1), np.float32)
    mask[16:48, 16:48] = 0                              # the centre mask, centerScale 0.25
    hole = (mask[..., 0] == 0).astype(np.uint8) * 255
    telea = np.stack([cv2.inpaint(truth * (hole == 0)[..., None].astype(np.uint8), hole, 3.0,
                                  cv2.INPAINT_TELEA) for truth in truths])
    expected = network.distance(telea, truths)
    got = [float(r["identity"]) for r in rows if r["method"] == "telea"]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert summary["means"]["telea"]["identity"] == pytest.approx(expected.mean())
    # the masked input (hole black) is a reference row with its own distance
    masked = truths * (hole == 0)[..., None].astype(np.uint8)
    assert summary["masked_identity"] == pytest.approx(
        network.distance(masked, truths).mean(), abs=1e-6)
    assert summary["means"]["telea"]["identity"] > 0       # a fill is not the true face
