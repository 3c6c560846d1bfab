#!/usr/bin/env python3
"""Paired comparison of two evaluate.py runs on the same faces: mean +- standard error of
each figure's per-face difference (B - A).

    python bench/paired.py evalA/per_image.csv evalB/per_image.csv --method ours_weighted_blend

Prints one line per figure: A's mean, B's mean, the mean difference and its standard error
over the faces both runs scored, and whether the difference is beyond 2 standard errors.
"""
import argparse
import csv
import math
import sys

FIGURES = ("psnr_whole", "psnr_hole", "ssim_hole", "identity", "iterations")


def read(path: str, method: str) -> dict:
    with open(path, newline="") as handle:
        return {row["image"]: row for row in csv.DictReader(handle) if row["method"] == method}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="per_image.csv of run A (the reference)")
    parser.add_argument("b", help="per_image.csv of run B")
    parser.add_argument("--method", default="ours_weighted_blend")
    parser.add_argument("--methodB", default=None, help="B's method (default: --method)")
    args = parser.parse_args(argv)
    a, b = read(args.a, args.method), read(args.b, args.methodB or args.method)
    faces = sorted(set(a) & set(b))
    if not faces:
        sys.exit("paired.py: the two runs share no face for that method")
    print(f"{len(faces)} faces in both runs")
    for figure in FIGURES:
        try:
            pairs = [(float(a[f][figure]), float(b[f][figure])) for f in faces]
        except (KeyError, ValueError):
            continue
        diffs = [y - x for x, y in pairs]
        n = len(diffs)
        mean = sum(diffs) / n
        se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1) / n) if n > 1 else math.nan
        mean_a = sum(x for x, _ in pairs) / n
        mean_b = sum(y for _, y in pairs) / n
        flag = "beyond 2 SE" if abs(mean) > 2 * se else "within 2 SE"
        print(f"{figure:11s} A {mean_a:8.4f}  B {mean_b:8.4f}  B-A {mean:+.4f} +- {se:.4f}  {flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
