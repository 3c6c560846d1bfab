"""The aligner's command line (align/cli.py, align/align-dlib.py) on real photos."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

import utils
from align import AlignDlib, template_points
from align.cli import main, output_paths
from conftest import ROOT, require_path

SUMMARY = re.compile(r"aligned (\d+), skipped (\d+) \(no face: (\d+), several faces: (\d+), "
                     r"unreadable: (\d+), error: (\d+)\), already present (\d+), of (\d+) images")


def _summary(text):
    match = SUMMARY.search(text)
    assert match, text
    keys = ("aligned", "skipped", "no face", "several faces", "unreadable", "error", "present", "total")
    return dict(zip(keys, map(int, match.groups())))


def _skips(text):
    """{file name: reason} from the 'skipped PATH: REASON' lines."""
    return {os.path.basename(m.group(1)): m.group(2) for m in re.finditer(r"^skipped (\S+): (.+)$", text, re.M)}


@pytest.fixture(scope="module")
def mixed_inputs(photos_dir, tmp_path_factory):
    """A folder of real photos and broken files, as a user's raw folder might be."""
    folder = tmp_path_factory.mktemp("raw") / "people"
    folder.mkdir()
    shutil.copy(require_path(photos_dir / "dlib" / "faces" / "dogs.jpg"), folder / "dogs.jpg")
    shutil.copy(require_path(photos_dir / "dlib" / "faces" / "bald_guys.jpg"), folder / "bald_guys.jpg")
    shutil.copy(require_path(photos_dir / "deepface" / "couple.jpg"), folder / "couple.jpg")
    face = require_path(photos_dir / "openface" / "examples" / "clapton-2.jpg")
    shutil.copy(face, folder / "clapton.jpg")
    skimage_data = pytest.importorskip("skimage.data")
    Image.fromarray(skimage_data.chelsea()).save(folder / "chelsea.png")
    Image.fromarray(skimage_data.coffee()).save(folder / "coffee.png")
    data = face.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "notes.jpg").write_text("this is a text file, renamed\n")
    gray = Image.open(face).convert("L")
    gray.save(folder / "gray.png")
    Image.open(face).convert("RGBA").save(folder / "rgba.png")
    Image.fromarray(np.asarray(gray, np.uint16) * 257).save(folder / "deep16.png")
    return folder


@pytest.mark.slow
def test_cli_on_mixed_folder_counts_skips_and_resumes(mixed_inputs, tmp_path, capsys):
    out = tmp_path / "aligned"
    code = main([str(mixed_inputs), "align", "innerEyesAndBottomLip", str(out), "--size", "64",
                 "-j", "2", "--quiet"])
    text = capsys.readouterr().out
    assert code == 0
    faces = {"bald_guys", "couple", "clapton", "gray", "rgba", "deep16"}
    assert _summary(text) == {"aligned": 6, "skipped": 5, "no face": 3, "several faces": 0,
                              "unreadable": 2, "error": 0, "present": 0, "total": 11}
    skips = _skips(text)
    assert {name: skips[name] for name in ("dogs.jpg", "chelsea.png", "coffee.png")} == dict.fromkeys(
        ("dogs.jpg", "chelsea.png", "coffee.png"), "no face")
    assert skips["truncated.jpg"].startswith("unreadable (") and "truncated" in skips["truncated.jpg"]
    assert skips["notes.jpg"].startswith("unreadable (cannot")
    # OpenFace's layout: OUTPUT/<class = parent folder>/<name>.png, 64x64 RGB
    written = sorted(path.name for path in (out / "people").iterdir())
    assert written == sorted(f"{name}.png" for name in faces)
    aligner = AlignDlib()
    for name in ("bald_guys", "couple"):  # several faces: the largest one, as the API aligns it
        saved = utils.load_rgb(out / "people" / f"{name}.png")
        photo = utils.load_rgb(mixed_inputs / f"{name}.jpg")
        box = aligner.getLargestFaceBoundingBox(photo)
        areas = [b.width() * b.height() for b in aligner.getAllFaceBoundingBoxes(photo)]
        assert len(areas) > 1 and box.width() * box.height() == max(areas)
        np.testing.assert_array_equal(saved, aligner.align(64, photo, box))

    # run again: nothing is redone, failures are retried and reported again
    assert main([str(mixed_inputs), "align", "innerEyesAndBottomLip", str(out), "--size", "64",
                 "--quiet"]) == 0
    again = _summary(capsys.readouterr().out)
    assert (again["aligned"], again["present"], again["skipped"]) == (0, 6, 5)


@pytest.mark.slow
def test_cli_skip_multi(photos_dir, tmp_path, capsys):
    folder = tmp_path / "in" / "group"
    folder.mkdir(parents=True)
    shutil.copy(require_path(photos_dir / "deepface" / "couple.jpg"), folder)
    shutil.copy(require_path(photos_dir / "dlib" / "faces" / "bald_guys.jpg"), folder)
    shutil.copy(photos_dir / "openface" / "examples" / "adams.jpg", folder)
    out = tmp_path / "out"
    assert main([str(folder.parent), "align", "outerEyesAndNose", str(out), "--skipMulti", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert _summary(text)["aligned"] == 1 and _summary(text)["several faces"] == 2
    skips = _skips(text)
    assert skips["couple.jpg"].startswith("several faces (") and skips["bald_guys.jpg"].startswith("several faces (")
    assert [path.name for path in (out / "group").iterdir()] == ["adams.png"]
    # default --size is OpenFace's 96, and outerEyesAndNose puts 36, 45, 33 on the template
    aligned = utils.load_rgb(out / "group" / "adams.png")
    assert aligned.shape == (96, 96, 3)
    aligner = AlignDlib()
    box = aligner.getLargestFaceBoundingBox(aligned, pad=0.3)
    points = np.array(aligner.findLandmarks(aligned, box, pad=0.3), float)[[36, 45, 33]]
    assert np.linalg.norm(points - template_points(96, (36, 45, 33)), axis=1).mean() < 2.0


def test_cli_flatten_keeps_names_unique(photos_dir, tmp_path, capsys):
    johns = require_path(photos_dir / "dlib" / "johns")
    people = sorted(path for path in johns.iterdir() if path.is_dir())[:2]
    source = tmp_path / "in"
    for person in people:  # the same file name in two folders
        (source / person.name).mkdir(parents=True)
        for path in sorted(person.glob("*.jpg"))[:2]:
            shutil.copy(path, source / person.name / path.name)
        shutil.copy(sorted(person.glob("*.jpg"))[0], source / person.name / "face.jpg")
    out = tmp_path / "flat"
    assert main([str(source), "align", "innerEyesAndBottomLip", str(out), "--size", "32",
                 "--flatten", "--pad", "0.1", "-j", "2", "--quiet"]) == 0
    summary = _summary(capsys.readouterr().out)
    assert summary["total"] == 6
    files = sorted(path.name for path in out.iterdir())
    assert all(path.is_file() for path in out.iterdir())  # no <class> folders
    assert len(files) == summary["aligned"] == 6
    expected = {f"{person.name}__face_jpg.png" for person in people}  # the clash, qualified
    expected |= {path.stem + ".png" for person in people for path in sorted(person.glob("*.jpg"))[:2]}
    assert set(files) == expected
    assert all(utils.load_rgb(out / name).shape == (32, 32, 3) for name in files)


def test_cli_reports_an_unexpected_failure_and_goes_on(photos_dir, tmp_path, capsys, monkeypatch):
    person = sorted(path for path in require_path(photos_dir / "dlib" / "johns").iterdir() if path.is_dir())[0]
    source = tmp_path / "in" / person.name
    source.mkdir(parents=True)
    photos = sorted(person.glob("*.jpg"))[:3]
    for path in photos:
        shutil.copy(path, source)
    original = AlignDlib.process

    def process(self, rgb, *args, **kwargs):
        if rgb.shape == utils.load_rgb(photos[1]).shape and np.array_equal(rgb, utils.load_rgb(photos[1])):
            raise RuntimeError("simulated dlib failure")
        return original(self, rgb, *args, **kwargs)

    monkeypatch.setattr(AlignDlib, "process", process)
    assert main([str(source.parent), "align", "innerEyesAndBottomLip", str(tmp_path / "out"), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert _skips(text) == {photos[1].name: "error (RuntimeError: simulated dlib failure)"}
    summary = _summary(text)
    assert (summary["error"], summary["skipped"], summary["aligned"]) == (1, 1, 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "a_b", "x/y", "a__b"]),
                          st.sampled_from(["f", "f.jpg", "b__f", "g", "f_jpg", "f-1"]),
                          st.sampled_from([".jpg", ".png", ".jpeg"])), min_size=1, max_size=12, unique=True),
       st.booleans())
def test_output_paths_are_unique(files, flatten):
    inputs = [os.path.join("/in", folder, stem + extension) for folder, stem, extension in files]
    inputs = sorted(set(inputs))
    outputs = output_paths(inputs, "/in", "/out", flatten)
    assert len(set(outputs)) == len(inputs)
    assert all(path.endswith(".png") and path.startswith("/out/") for path in outputs)
    if flatten:
        assert all(os.path.dirname(path) == "/out" for path in outputs)
    assert outputs == output_paths(inputs, "/in", "/out", flatten)  # stable, so resuming works


@pytest.mark.parametrize("arguments, message", [
    (["{missing}", "align", "innerEyesAndBottomLip", "{out}"], "does not exist"),
    (["{inputs}", "align", "eyes_1", "{out}"], "invalid choice: 'eyes_1'"),
    (["{inputs}", "align", "innerEyesAndBottomLip", "{out}", "--dlibFacePredictor", "{missing}.dat"],
     "predictor"),
    (["{inputs}", "align", "innerEyesAndBottomLip", "{out}", "--size", "0"], "--size"),
    (["{inputs}", "align", "innerEyesAndBottomLip", "{out}", "--size", "big"], "--size"),
    (["{inputs}", "align", "innerEyesAndBottomLip", "{out}", "--border", "reflect"],
     "invalid choice: 'reflect'"),
    (["{empty}", "align", "innerEyesAndBottomLip", "{out}"], "no .png/.jpg/.jpeg images"),
])
def test_cli_user_mistakes_are_one_clear_line(arguments, message, tmp_path, photos_dir, capsys):
    (tmp_path / "empty").mkdir()
    paths = dict(missing=tmp_path / "missing", out=tmp_path / "out", empty=tmp_path / "empty",
                 inputs=photos_dir / "openface" / "examples")
    code = main([argument.format(**paths) for argument in arguments])
    captured = capsys.readouterr()
    assert code != 0
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.err.strip().splitlines()[-1].startswith("align-dlib.py: error:")
    assert not (tmp_path / "out").exists()


def test_script_runs_from_another_directory(photos_dir, tmp_path):
    folder = tmp_path / "in" / "john"
    folder.mkdir(parents=True)
    person = sorted(path for path in require_path(photos_dir / "dlib" / "johns").iterdir() if path.is_dir())[0]
    for path in sorted(person.glob("*.jpg"))[:3]:
        shutil.copy(path, folder)
    result = subprocess.run(
        [sys.executable, str(ROOT / "align" / "align-dlib.py"), str(tmp_path / "in"), "align",
         "innerEyesAndBottomLip", str(tmp_path / "out"), "--size", "64", "--verbose"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = _summary(result.stdout)
    assert summary["total"] == 3
    assert len(list((tmp_path / "out" / "john").glob("*.png"))) == summary["aligned"] >= 2
    assert result.stdout.count(": aligned -> ") == summary["aligned"]  # --verbose: one line per image


@pytest.mark.slow
def test_cli_border_replicate_reaches_the_warp(photos_dir, tmp_path, capsys):
    """--border replicate and --pad on a photo cropped at the chin, as UTKFace's are."""
    rgb = utils.load_rgb(require_path(photos_dir / "openface" / "examples" / "carell.jpg"))
    aligner = AlignDlib()
    box = aligner.process(rgb, 64).box
    crop = np.ascontiguousarray(rgb[max(box.top() - 20, 0):box.bottom() - int(0.1 * box.height())])
    (tmp_path / "in").mkdir()
    Image.fromarray(crop).save(tmp_path / "in" / "chin.png")
    outputs = {}
    for border in ("black", "replicate"):
        code = main([str(tmp_path / "in"), "align", "innerEyesAndBottomLip", str(tmp_path / border),
                     "--size", "64", "--pad", "0.25", "--flatten", "--quiet", "--border", border])
        assert code == 0, capsys.readouterr().err
        outputs[border] = np.asarray(Image.open(tmp_path / border / "chin.png"))
    expected = aligner.process(crop, 64, pad=0.25, border="replicate").thumbnail
    np.testing.assert_array_equal(outputs["replicate"], expected)
    # the bottom rows lie below the crop: black by default, the chin's colours repeated with replicate
    assert outputs["black"][-4:].max() == 0
    assert outputs["replicate"][-4:].mean() > 40
