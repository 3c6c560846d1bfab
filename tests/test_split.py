"""data/split.py and the committed held-out list."""
import importlib.util
import os

from conftest import ROOT, require_path, SHARED_DATA

spec = importlib.util.spec_from_file_location("split", ROOT / "data" / "split.py")
split = importlib.util.module_from_spec(spec)
spec.loader.exec_module(split)


def test_the_heldout_list_is_celeba_000001_to_002000():
    listed = split.read_list(ROOT / "data" / "heldout.txt")
    assert listed == {f"celeba10k/{i:06d}.jpg" for i in range(1, 2001)}


def test_split_links_each_face_once_by_the_list(tmp_path):
    celeba, utk = tmp_path / "a_celeba", tmp_path / "a_utk"
    celeba.mkdir(), utk.mkdir()
    for name in ("000001.png", "002000.png", "002001.png", "notes.txt"):
        (celeba / name).write_bytes(b"x")
    (utk / "1_0_0_x.jpg.chip.png").write_bytes(b"y")
    heldout = {"celeba10k/000001.jpg", "celeba10k/002000.jpg", "celeba10k/000003.jpg"}
    sets = {"celeba10k": str(celeba), "utkface": str(utk)}
    counts = split.split(sets, heldout, str(tmp_path / "train"), str(tmp_path / "held"))
    assert counts == {"train": 2, "heldout": 2}
    assert sorted(os.listdir(tmp_path / "held")) == ["celeba_000001.png", "celeba_002000.png"]
    assert sorted(os.listdir(tmp_path / "train")) == ["celeba_002001.png", "utk_1_0_0_x.jpg.chip.png"]
    assert os.readlink(tmp_path / "train" / "celeba_002001.png") == str(celeba / "002001.png")
    # a second run adds nothing and fails on nothing
    assert split.split(sets, heldout, str(tmp_path / "train"), str(tmp_path / "held")) == counts
    assert len(os.listdir(tmp_path / "train")) == 2


def test_every_heldout_file_exists_in_the_shared_data():
    faces = require_path(SHARED_DATA / "faces")
    missing = [p for p in split.read_list(ROOT / "data" / "heldout.txt")
               if not (faces / p).is_file()]
    assert missing == []


def test_bad_arguments_are_one_clear_line(tmp_path, capsys):
    import pytest
    for argv, words in ([["--set", f"celeba10k={tmp_path / 'nope'}"], "no such folder"],
                        [["--set", "celeba10k"], "expected NAME=FOLDER"],
                        [["--set", f"x={tmp_path}", "--list", str(tmp_path / "none.txt")],
                         "no such file"]):
        with pytest.raises(SystemExit) as stop:
            split.main(argv + ["--train", str(tmp_path / "t"), "--heldout", str(tmp_path / "h")])
        assert stop.value.code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "t").exists()                 # nothing made on a bad call
