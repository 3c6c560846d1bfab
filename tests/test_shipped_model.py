"""The shipped model in checkpoint/: it loads, it is what the README says, and it completes.

A refactor that renames a layer, changes the checkpoint layout or breaks
completion makes these fail, so the shipped model cannot be orphaned silently.
"""
import os
import re

import cv2
import numpy as np
import pytest

from training import checkpoints
import complete
import evaluate
from evaluation import metrics
import utils
from conftest import ROOT, require_path
from model import Architecture

SHIPPED = ROOT / "checkpoint"
MAX_BYTES = 50 * 10**6          # the generator, the discriminator and the encoder
# Held-out CelebA faces (data/heldout.txt) that the test completes, from the raw photos.
HELD_OUT = [f"{i:06d}.jpg" for i in (1, 2, 5, 6, 7, 8, 9, 10)]
# complete.py's defaults: from the shipped encoder's z, 25 iterations of the feature search
# (weighted loss, blended).
SETTINGS = ["--maskType", "center", "--seed", "0", "--precision", "float32"]


@pytest.fixture(scope="module")
def shipped_prefix():
    return checkpoints.find(str(SHIPPED))


def test_the_shipped_checkpoint_is_small_complete_and_documented(shipped_prefix):
    size = sum(path.stat().st_size for path in SHIPPED.rglob("*") if path.is_file())
    assert size <= MAX_BYTES
    checkpoints.verify(shipped_prefix)                 # every tensor's checksum
    assert checkpoints.is_inference_only(shipped_prefix)
    assert checkpoints.read_architecture(shipped_prefix) == Architecture(
        image_size=64, z_dim=100, gf_dim=64, df_dim=64, c_dim=3)
    step = checkpoints.read_step(shipped_prefix)
    assert shipped_prefix.endswith(f"DCGAN.model-{step}")
    # the README's model card names this very checkpoint and its step count
    readme = (ROOT / "README.md").read_text()
    assert f"checkpoint/DCGAN.model-{step}" in readme
    assert re.search(rf"\b{step:,}\b training steps", readme)


def test_the_shipped_networks_compute_what_they_computed_when_shipped(shipped_prefix):
    """G and D on a fixed z against outputs recorded from checkpoint/DCGAN.model-4400 at export."""
    dcgan, _ = checkpoints.load_for_completion(str(SHIPPED))
    z = np.random.default_rng(0).uniform(-1, 1, (4, 100)).astype(np.float32)
    faces = np.asarray(dcgan.generator(z, training=False))
    assert faces.shape == (4, 64, 64, 3) and np.all(np.abs(faces) <= 1)
    np.testing.assert_allclose(faces[0, 32, 32], [0.7613651, 0.50113195, 0.3797243], atol=1e-4)
    assert faces.mean() == pytest.approx(0.14003102, abs=1e-4)
    assert faces.std() == pytest.approx(0.5029647, abs=1e-4)
    logits = np.asarray(dcgan.discriminator(faces, training=False)).ravel()
    np.testing.assert_allclose(logits, [-1.2728059, -2.311376, -1.668307, -1.0619338],
                               atol=1e-4)
    assert np.abs(faces[0] - faces[1]).mean() > 0.05          # different z, different faces


def test_the_shipped_encoder_is_the_generator_s_and_finds_its_faces(shipped_prefix):
    """The encoder in checkpoint/encoder was trained for this very generator (architecture
    and step), and on G's own faces, centre hole, it lands near their z: G(E(x, m)) fills
    the hole within a third of what G of a random z does (measured at export: 0.110
    against 0.406 mean absolute error, on 16 faces)."""
    from completion import encoder as enc
    from completion.masks import make_mask

    prefix = enc.find(str(SHIPPED))
    assert prefix == str(SHIPPED / enc.ENCODER_DIR / f"{enc.ENCODER_NAME}-800")
    encoder, info = enc.load(prefix)
    assert info.arch == checkpoints.read_architecture(shipped_prefix)
    assert info.generator_step == checkpoints.read_step(shipped_prefix)
    dcgan, _ = checkpoints.load_for_completion(str(SHIPPED))
    rng = np.random.default_rng(1)
    z = rng.uniform(-1, 1, (16, 100)).astype(np.float32)
    faces = np.asarray(dcgan.generator(z, training=False))
    mask = np.broadcast_to(make_mask("center", 64)[0], (16, 64, 64, 1))
    found = enc.start(encoder, faces, mask)
    assert found.shape == (16, 100) and np.all(np.abs(found) <= 1)
    hole = mask[..., 0] < 0.5
    error = np.abs(np.asarray(dcgan.generator(found, training=False)) - faces)[hole].mean()
    chance = np.abs(np.asarray(dcgan.generator(
        rng.uniform(-1, 1, (16, 100)).astype(np.float32), training=False)) - faces)[hole].mean()
    assert error < chance / 2


@pytest.fixture(scope="module")
def held_out_faces(faces_dir, tmp_path_factory):
    """The HELD_OUT CelebA photos aligned as the training faces were (align/, 64x64)."""
    from align import AlignDlib, INNER_EYES_AND_BOTTOM_LIP

    listed = set((ROOT / "data" / "heldout.txt").read_text().split())
    aligner = AlignDlib()
    folder = tmp_path_factory.mktemp("held_out")
    for name in HELD_OUT:
        assert f"celeba10k/{name}" in listed               # never trained on
        photo = utils.load_rgb(require_path(faces_dir / "celeba10k" / name))
        face = aligner.align(64, photo, landmarkIndices=INNER_EYES_AND_BOTTOM_LIP)
        assert face is not None, name
        utils.save_rgb(face, folder / name.replace(".jpg", ".png"))
    return folder


@pytest.mark.slow
def test_the_shipped_model_completes_held_out_faces_better_than_classical_fills(
        shipped_prefix, held_out_faces, tmp_path):
    """With complete.py's defaults, whole-image PSNR of the completion above OpenCV's Telea
    inpainting and above the harmonic fill of the same faces, the model-free yardsticks.

    The harmonic fill (the hole solves Laplace's equation with the known pixels as boundary)
    is what the blended completion gives when G(z) has no detail at all, so a generator
    that does not load or was never trained scores about it; the mean-colour fill is the
    best flat fill. The shipped model (step 4,400) scores 28.44 dB here with the defaults
    (the encoder's start and 25 feature iterations) against Telea's 25.28 and the harmonic
    fill's 26.06; the step-2,400 model it replaced scored 27.68, step 2,000 26.61. Over 384
    held-out faces it is 1.8-1.9 dB above the best classical fill (docs/MODEL_CARD.md).
    """
    paths = sorted(str(p) for p in held_out_faces.iterdir())
    assert complete.main(["--checkpointDir", str(SHIPPED), "--outDir", str(tmp_path),
                          *SETTINGS, *paths]) == 0
    ours, flat, telea, harmonic = [], [], [], []
    hole = np.zeros((64, 64), bool)
    hole[16:48, 16:48] = True                              # the centre mask, by hand
    for path in paths:
        truth = utils.load_rgb(path)
        result = utils.load_rgb(tmp_path / "completed" / "images" / os.path.basename(path))
        assert np.array_equal(result[~hole], truth[~hole])  # known pixels kept
        filled = truth.copy()
        filled[hole] = np.round(truth[~hole].mean(axis=0))
        masked = truth * (~hole)[..., None].astype(np.uint8)
        baseline = cv2.inpaint(masked, hole.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
        ours.append(metrics.psnr(result, truth))
        flat.append(metrics.psnr(filled, truth))
        telea.append(metrics.psnr(baseline, truth))
        smooth = evaluate.simple_fill(truth, (~hole)[..., None].astype(np.float32), "harmonic")
        harmonic.append(metrics.psnr(smooth, truth))
    print(f"whole-image PSNR: ours {np.mean(ours):.2f} {np.round(ours, 2)}, mean fill "
          f"{np.mean(flat):.2f}, Telea {np.mean(telea):.2f} {np.round(telea, 2)}, harmonic "
          f"{np.mean(harmonic):.2f}")
    assert np.mean(ours) > np.mean(flat)
    # Telea is deterministic and uses no model, so it checks the faces, the hole and the
    # metric on their own: a 32x32 hole in a face is smooth enough that interpolating its
    # border beats a flat colour by several dB (docs/RESULTS.md, 200 held-out faces: 25.97 against
    # 20.99), and far from perfect (no hole pixel leaked into its input). On these 8 faces
    # it scores 25.28 dB (docs/EXPERIMENTS.md, "What limits it"); 0.5 dB allows other OpenCV/dlib builds.
    assert np.mean(flat) + 3 < np.mean(telea) < 30
    assert np.mean(telea) == pytest.approx(25.28, abs=0.5)
    # The shipped model's blended completion is 3.2 dB above Telea and 2.4 dB above the
    # harmonic fill here (26.06); a detail-free G(z) blended is the harmonic fill. The
    # project's goal is 1 dB above every classical fill.
    assert np.mean(ours) > max(np.mean(telea), np.mean(harmonic)) + 1.0
