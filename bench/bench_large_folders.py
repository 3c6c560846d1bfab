#!/usr/bin/env python3
"""Does completing a folder cost memory that grows with the folder? Peak resident memory
and throughput of complete.py on 64, 640 and 6,400 aligned faces and on 10 and 100
twelve-megapixel photos (issue 30; docs/LARGE_FOLDERS.md).

    nice -n 19 python bench/bench_large_folders.py --faces 64 640 6400 --photos 10 100
    nice -n 19 python bench/bench_large_folders.py --repo /tmp/base --faces 64 640

Each case runs ``complete.py --nIter 1 --featureIter 0`` (with ``--align --pasteBack`` for
the photos), as the issue measured: one search iteration, so the figures are those of the
pipeline (reading, aligning, writing, pasting back), not of the search. ``--repo`` runs the
complete.py of another checkout (e.g. ``git archive <commit>`` of the code before the
change) on the same inputs, with the same shipped model.

Inputs, made once in ``--work`` (default: a temporary folder):

* faces: the first N CelebA faces of ``../shared/data/faces/celeba10k`` centre-cropped
  and resized to 64x64 PNG, as align/ writes them;
* photos: one ``../shared/data`` photo (``--photo``) upscaled (bicubic) to 4000x3000 and
  saved as N JPEG files (quality 90), one face each.

Prints one JSON line per case: seconds of wall time, images per second, and the child
process's peak resident memory (``ru_maxrss`` of that process alone, from ``os.wait4``).
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import common

SHARED = os.path.join(common.ROOT, "..", "shared", "data")
DEFAULT_PHOTO = os.path.join(SHARED, "photos", "openface", "examples", "adams.jpg")
PHOTO_SIZE = (4000, 3000)          # width, height: 12 megapixels


def make_faces(folder: str, count: int, source: str) -> str:
    """``folder/faces_<count>``: ``count`` 64x64 faces (made once)."""
    import utils

    target = os.path.join(folder, f"faces_{count}")
    if not os.path.isdir(target):
        os.makedirs(target + ".part", exist_ok=True)
        for name in sorted(os.listdir(source))[:count]:
            face = utils.center_crop_resize(utils.load_rgb(os.path.join(source, name)), 64)
            utils.save_rgb(face, os.path.join(target + ".part", os.path.splitext(name)[0] + ".png"))
        os.replace(target + ".part", target)
    return target


def make_photos(folder: str, count: int, source: str) -> str:
    """``folder/photos_<count>``: ``count`` copies of ``source`` upscaled to 12 megapixels
    (made once; each a file of its own)."""
    import cv2
    from PIL import Image

    import utils

    target = os.path.join(folder, f"photos_{count}")
    if not os.path.isdir(target):
        master = os.path.join(folder, "photo_12mp.jpg")
        if not os.path.exists(master):
            big = cv2.resize(utils.load_rgb(source), PHOTO_SIZE, interpolation=cv2.INTER_CUBIC)
            Image.fromarray(big).save(master, quality=90)
        os.makedirs(target + ".part", exist_ok=True)
        for index in range(count):
            shutil.copyfile(master, os.path.join(target + ".part", f"photo_{index:04d}.jpg"))
        os.replace(target + ".part", target)
    return target


def run_case(repo: str, inputs: str, out_dir: str, align: bool, extra=()) -> dict:
    """Run that checkout's complete.py on the folder ``inputs`` (``extra`` flags last, so
    they override): wall seconds, peak MiB."""
    argv = [sys.executable, os.path.join(repo, "complete.py"), inputs, "--outDir", out_dir,
            "--checkpointDir", os.path.join(repo, "checkpoint"), "--nIter", "1",
            "--featureIter", "0", "--seed", "0", "--precision", "float32"]
    if align:
        argv += ["--align", "--pasteBack"]
    argv += list(extra)
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=repo, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    errors = child.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise SystemExit(f"{' '.join(argv)} exited {code}:\n{errors[-2000:]}")
    return {"seconds": round(seconds, 1), "peak_mib": round(usage.ru_maxrss / 1024)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, nargs="*", default=[64, 640, 6400])
    parser.add_argument("--photos", type=int, nargs="*", default=[10, 100])
    parser.add_argument("--repo", default=common.ROOT,
                        help="the checkout whose complete.py runs (default: this one)")
    parser.add_argument("--work", default=None,
                        help="folder for the inputs, kept between runs (default: temporary)")
    parser.add_argument("--celeba", default=os.path.join(SHARED, "faces", "celeba10k"))
    parser.add_argument("--photo", default=DEFAULT_PHOTO)
    parser.add_argument("--flags", default="",
                        help="more complete.py flags, e.g. '--nIter 200 --batchSize 8' (they "
                             "override the defaults above): a search long enough for the "
                             "read-ahead to overlap")
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="bench_large_")
    os.makedirs(work, exist_ok=True)
    cases = ([("faces", count, False) for count in args.faces]
             + [("photos_12mp", count, True) for count in args.photos])
    for kind, count, align in cases:
        inputs = (make_photos(work, count, args.photo) if align
                  else make_faces(work, count, args.celeba))
        with tempfile.TemporaryDirectory(dir=work) as out_dir:
            result = run_case(os.path.abspath(args.repo), inputs, out_dir, align,
                              shlex.split(args.flags))
        common.emit({"bench": "large_folders", "repo": os.path.abspath(args.repo),
                     "flags": args.flags,
                     "case": kind, "inputs": count, **result,
                     "images_per_s": round(count / result["seconds"], 3)})
    if not args.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
