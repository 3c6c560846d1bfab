"""data/prepare.py, offline: a small archive of real photos served from a local
path and from a loopback HTTP server, checksums, resuming, and mistakes."""
import contextlib
import functools
import hashlib
import http.server
import importlib.util
import io
import shutil
import tarfile
import threading
import zipfile

import pytest

import utils
from align import AlignDlib
from conftest import ROOT, require_path

spec = importlib.util.spec_from_file_location("prepare", ROOT / "data" / "prepare.py")
prepare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare)


@pytest.fixture(scope="module")
def photo_set(photos_dir, tmp_path_factory):
    """An LFW-like tree of real photos: lfw/<person>/<person>_000N.jpg, plus a no-face photo."""
    tree = tmp_path_factory.mktemp("tree")
    johns = require_path(photos_dir / "dlib" / "johns")
    for person in sorted(path for path in johns.iterdir() if path.is_dir())[:3]:
        (tree / "lfw" / person.name).mkdir(parents=True)
        for number, photo in enumerate(sorted(person.glob("*.jpg"))[:2], start=1):
            shutil.copy(photo, tree / "lfw" / person.name / f"{person.name}_{number:04d}.jpg")
    (tree / "lfw" / "Dogs").mkdir()
    shutil.copy(require_path(photos_dir / "dlib" / "faces" / "dogs.jpg"), tree / "lfw" / "Dogs" / "Dogs_0001.jpg")
    photos = sorted((tree / "lfw").rglob("*.jpg"))
    aligner = AlignDlib()  # which photos have a face, found independently of prepare.py
    faces = {photo.stem for photo in photos if aligner.align(64, utils.load_rgb(photo)) is not None}
    assert "Dogs_0001" not in faces and len(faces) >= 5
    return tree, photos, faces


@pytest.fixture(scope="module")
def archive(photo_set, tmp_path_factory):
    tree, _, _ = photo_set
    path = tmp_path_factory.mktemp("archive") / "lfw.tgz"
    with tarfile.open(path, "w:gz") as bundle:
        bundle.add(tree / "lfw", arcname="lfw")
    data = path.read_bytes()
    return path, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()


@contextlib.contextmanager
def serve(directory):
    """http://127.0.0.1:<random port>/ serving ``directory`` from a thread."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _aligned(root, name="lfw"):
    folder = root / name / "aligned"
    return {path.stem for path in folder.iterdir()} if folder.is_dir() else set()


@pytest.mark.slow
def test_local_archive_is_verified_extracted_aligned_and_resumable(archive, photo_set, tmp_path, capsys):
    path, sha256, _ = archive
    _, photos, faces = photo_set
    root = tmp_path / "data"
    assert prepare.main(["lfw", "--source", str(path), "--sha256", sha256, "--root", str(root), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "sha256 match" in out
    assert _aligned(root) == faces  # flattened: <root>/lfw/aligned/<photo>.png, no class folders
    assert all(utils.load_rgb(p).shape == (64, 64, 3) for p in (root / "lfw" / "aligned").iterdir())
    assert len(list((root / "lfw" / "raw").rglob("*.jpg"))) == len(photos)
    assert path.exists()  # a local archive is used in place, never moved or deleted
    stamps = {p.name: p.stat().st_mtime_ns for p in (root / "lfw" / "aligned").iterdir()}

    assert prepare.main(["lfw", "--source", str(path), "--sha256", sha256, "--root", str(root), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "already verified, skipping" in out and "already complete, skipping" in out
    assert f"already present {len(faces)}" in out
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (root / "lfw" / "aligned").iterdir()}


def test_download_over_http_with_md5(archive, photo_set, tmp_path, capsys):
    path, sha256, md5 = archive
    with serve(path.parent) as url:
        code = prepare.main(["lfw", "--source", f"{url}/lfw.tgz", "--md5", md5, "--root", str(tmp_path),
                             "--quiet", "-j", "2"])
    assert code == 0
    assert (tmp_path / "lfw" / "lfw.tgz").read_bytes() == path.read_bytes()
    assert not (tmp_path / "lfw" / "lfw.tgz.part").exists()
    assert f"sha256 {sha256}" in capsys.readouterr().out  # printed so users can pin it
    assert _aligned(tmp_path) == photo_set[2]


def test_wrong_checksum_is_a_clear_error(archive, tmp_path, capsys):
    path, sha256, _ = archive
    wrong = "0" * 64
    with serve(path.parent) as url:
        code = prepare.main(["lfw", "--source", f"{url}/lfw.tgz", "--sha256", wrong, "--root", str(tmp_path),
                             "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "sha256 mismatch" in err and wrong in err and sha256 in err and "Traceback" not in err
    assert not (tmp_path / "lfw" / "lfw.tgz").exists()  # deleted: the next run downloads again
    assert not (tmp_path / "lfw" / "raw").exists() and not (tmp_path / "lfw" / "aligned").exists()
    # a local file with the wrong checksum is reported and left alone
    assert prepare.main(["lfw", "--source", str(path), "--md5", "f" * 32, "--root", str(tmp_path),
                         "--quiet"]) == 1
    assert "md5 mismatch" in capsys.readouterr().err and path.exists()


def test_lfw_default_checksum_rejects_another_file(archive, tmp_path, capsys):
    path, _, _ = archive  # our small lfw.tgz is not the published one
    assert prepare.main(["lfw", "--source", str(path), "--root", str(tmp_path), "--quiet"]) == 1
    assert prepare.DATASETS["lfw"]["md5"] in capsys.readouterr().err


def test_unknown_checksum_warns_and_zip_of_a_folder_works(photo_set, tmp_path, capsys):
    tree, _, faces = photo_set
    bundle_path = tmp_path / "mine.zip"
    with zipfile.ZipFile(bundle_path, "w") as bundle:
        for photo in sorted((tree / "lfw").rglob("*.jpg")):
            bundle.write(photo, photo.relative_to(tree).as_posix())
    assert prepare.main(["mine", "--source", str(bundle_path), "--root", str(tmp_path / "d"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "NOT VERIFIED" in captured.err and hashlib.sha256(bundle_path.read_bytes()).hexdigest() in captured.err
    assert _aligned(tmp_path / "d", "mine") == faces


def test_celeba_needs_a_manual_download_or_takes_a_folder(photo_set, tmp_path, capsys):
    assert prepare.main(["celeba", "--root", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "img_align_celeba.zip" in err and "--source" in err and "Traceback" not in err
    tree, _, faces = photo_set
    assert prepare.main(["celeba", "--source", str(tree / "lfw"), "--root", str(tmp_path), "--quiet"]) == 0
    assert _aligned(tmp_path, "celeba") == faces


def test_unsafe_archive_and_bad_sources(tmp_path, capsys):
    evil = tmp_path / "evil.tgz"
    with tarfile.open(evil, "w:gz") as bundle:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        bundle.addfile(info, io.BytesIO(b"bad"))
    digest = hashlib.sha256(evil.read_bytes()).hexdigest()
    assert prepare.main(["evil", "--source", str(evil), "--sha256", digest, "--root", str(tmp_path / "d"),
                         "--quiet"]) == 1
    assert "refusing to extract" in capsys.readouterr().err
    assert not (tmp_path / "d" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    with serve(tmp_path) as url:
        assert prepare.main(["x", "--source", f"{url}/missing.tgz", "--root", str(tmp_path / "d"),
                             "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "cannot download" in err and "HTTP 404" in err
    assert prepare.main(["x", "--source", str(tmp_path / "nope.tgz"), "--root", str(tmp_path / "d")]) == 1
    assert "does not exist" in capsys.readouterr().err
