#!/usr/bin/env python3
"""complete.py --align's face alignment before and after issue 30: dlib's detector on the
full photo (one upsampling), against detection on a copy downscaled to 1,024 pixels with
the landmarks taken on the full photo (faces.find_faces, the web page's way).

    nice -n 19 python bench/bench_align_downscaled.py                   # ../shared/data/photos
    nice -n 19 python bench/bench_align_downscaled.py --large 3         # + 12-megapixel photos

For every photo of ``--photos`` (recursively) both align the largest face at ``--size``;
prints one JSON line per photo (seconds each way, the PSNR of the two aligned faces in dB,
inf when identical) and a summary line: how many photos each found a face in, the
smallest and median PSNR, the photos under ``--threshold`` dB, and the total seconds each
way. ``--large N`` also times N photos of the folder upscaled (bicubic) to 4000x3000.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import common

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from align import AlignDlib, INNER_EYES_AND_BOTTOM_LIP  # noqa: E402
from completion import faces  # noqa: E402
import utils  # noqa: E402


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255.0 ** 2 / error))


def old_align(aligner: AlignDlib, photo: np.ndarray, size: int):
    """complete.py --align before issue 30: AlignDlib.align on the full photo."""
    face, _ = aligner.align(size, photo, landmarkIndices=INNER_EYES_AND_BOTTOM_LIP,
                            return_transform=True)
    return face


def new_align(photo: np.ndarray, size: int):
    found = faces.find_faces(photo, size)
    return found[0].aligned if found else None


def compare(aligner, photo, size: int) -> dict:
    start = time.perf_counter()
    before = old_align(aligner, photo, size)
    old_seconds = time.perf_counter() - start
    start = time.perf_counter()
    after = new_align(photo, size)
    new_seconds = time.perf_counter() - start
    both = before is not None and after is not None
    return {"pixels": f"{photo.shape[1]}x{photo.shape[0]}", "old_s": round(old_seconds, 3),
            "new_s": round(new_seconds, 3), "old_face": before is not None,
            "new_face": after is not None, "psnr_db": psnr(before, after) if both else None}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=os.path.join(common.ROOT, "..", "shared", "data",
                                                         "photos"))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threshold", type=float, default=35.0)
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
    parser.add_argument("--large", type=int, default=0,
                        help="also time N photos upscaled to 4000x3000")
    args = parser.parse_args(argv)
    aligner = AlignDlib()
    paths = utils.list_images(args.photos)[:args.limit]
    rows = []
    for path in paths:
        try:
            photo = utils.load_rgb(path)
        except utils.ImageReadError:
            continue
        row = {"photo": os.path.relpath(path, args.photos), **compare(aligner, photo, args.size)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    values = [row["psnr_db"] for row in rows if row["psnr_db"] is not None]
    common.emit({"bench": "align_downscaled", "size": args.size, "photos": len(rows),
                 "faces_old": sum(row["old_face"] for row in rows),
                 "faces_new": sum(row["new_face"] for row in rows),
                 "compared": len(values), "psnr_min_db": min(values),
                 "psnr_median_db": statistics.median(values),
                 "under_threshold": [row["photo"] for row in rows
                                     if row["psnr_db"] is not None
                                     and row["psnr_db"] < args.threshold],
                 "found_by_one_only": [row["photo"] for row in rows
                                       if row["old_face"] != row["new_face"]],
                 "old_s": round(sum(row["old_s"] for row in rows), 1),
                 "new_s": round(sum(row["new_s"] for row in rows), 1)})
    large = [row for row in rows if row["old_face"] and row["new_face"]][:args.large]
    for row in large:
        photo = utils.load_rgb(os.path.join(args.photos, row["photo"]))
        big = cv2.resize(photo, (4000, 3000), interpolation=cv2.INTER_CUBIC)
        common.emit({"bench": "align_downscaled_12mp", "photo": row["photo"],
                     **compare(aligner, big, args.size)})


if __name__ == "__main__":
    main()
