#!/usr/bin/env python3
"""Split aligned faces into a training folder and a held-out folder (symbolic links).

    python data/split.py --set celeba10k=aligned/celeba10k --set utkface=aligned/utkface \\
        --train runs/train --heldout runs/heldout

Each ``--set NAME=FOLDER`` is a flat folder of aligned faces made by
``align/align-dlib.py ... --flatten`` from ``../shared/data/faces/NAME``. A face
is held out when ``NAME/<raw file>`` is listed in ``--list`` (default
``data/heldout.txt``, the shipped model's split); the aligned file of raw
``000001.jpg`` is ``000001.png``. Links are named ``<prefix><file>`` (prefix
``celeba_`` for celeba10k, ``utk_`` for utkface, else ``NAME_``) so sets cannot
collide, and point to the aligned files: nothing is copied. Re-running adds
what is missing and leaves the rest.
"""
from __future__ import annotations

import argparse
import os
import sys

PREFIXES = {"celeba10k": "celeba_", "utkface": "utk_"}
DEFAULT_LIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "heldout.txt")


def read_list(path: str) -> set[str]:
    """The held-out raw paths (``set/file``) of a list file; ``#`` starts a comment."""
    with open(path) as handle:
        return {line.strip() for line in handle if line.strip() and not line.startswith("#")}


def split(sets: dict[str, str], heldout: set[str], train_dir: str,
          heldout_dir: str) -> dict[str, int]:
    """Link every aligned face of ``sets`` into ``train_dir`` or ``heldout_dir``; counts."""
    held_stems = {(entry.split("/", 1)[0], os.path.splitext(entry.split("/", 1)[1])[0])
                  for entry in heldout if "/" in entry}
    counts = {"train": 0, "heldout": 0}
    for target in (train_dir, heldout_dir):
        os.makedirs(target, exist_ok=True)
    for name, folder in sets.items():
        prefix = PREFIXES.get(name, f"{name}_")
        for file in sorted(os.listdir(folder)):
            if not file.lower().endswith(".png"):
                continue
            kind = "heldout" if (name, os.path.splitext(file)[0]) in held_stems else "train"
            link = os.path.join(heldout_dir if kind == "heldout" else train_dir, prefix + file)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(os.path.join(folder, file)), link)
            counts[kind] += 1
    return counts


def parse_set(text: str) -> tuple[str, str]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=FOLDER, got '{text}'")
    return name, folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=parse_set, action="append", required=True,
                        metavar="NAME=FOLDER", help="a folder of aligned faces of set NAME")
    parser.add_argument("--list", default=DEFAULT_LIST, help="held-out raw files, one per line")
    parser.add_argument("--train", required=True, help="folder for the training links")
    parser.add_argument("--heldout", required=True, help="folder for the held-out links")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.list):
        parser.error(f"--list {args.list}: no such file")
    for name, folder in args.set:
        if not os.path.isdir(folder):
            parser.error(f"--set {name}={folder}: no such folder")
    counts = split(dict(args.set), read_list(args.list), args.train, args.heldout)
    print(f"training faces: {counts['train']} in {args.train}; held out: {counts['heldout']} "
          f"in {args.heldout}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
