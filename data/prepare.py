#!/usr/bin/env python3
"""The blog's whole data preparation in one resumable command.

    python data/prepare.py lfw                                   # download, verify, extract, align
    python data/prepare.py celeba --source ~/Downloads/img_align_celeba.zip
    python data/prepare.py mine --source photos.tgz --sha256 HEX  # any archive or folder of photos

Stages, each skipped when already done (run the same command again to resume):

1. fetch    -- download ``--source`` (http/https/file URL) to ``<root>/<name>/<file>``
               with a progress bar (to ``<file>.part``, renamed when complete);
               a local archive or folder is used where it is;
2. verify   -- SHA-256 and MD5 of the archive against ``--sha256``/``--md5`` or the
               dataset's published checksum; a mismatch stops with an error (and a
               downloaded file is deleted so the next run fetches it again);
3. extract  -- .tgz/.tar.gz/.tar/.zip into ``<root>/<name>/raw`` (paths that would
               escape that folder are refused);
4. align    -- ``align/`` (OpenFace's innerEyesAndBottomLip, 64x64 by default) with
               ``--flatten``: every face in ``<root>/<name>/aligned/<photo name>.png``,
               the layout ``train_dcgan.py --dataset`` reads.

The blog's steps were ``wget lfw.tgz; tar xf``, OpenFace's ``align-dlib.py ...
--size 64`` and ``find . -name '*.png' -exec mv {} . \\;``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from tqdm import tqdm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__":  # `python data/prepare.py`: Python puts data/, not the project, on the path
    sys.path.insert(0, ROOT)

from align import cli as align_cli  # noqa: E402
from align.core import BORDER_MODES, LANDMARK_SETS  # noqa: E402
from shared import flags  # noqa: E402
from shared.errors import UserError  # noqa: E402

CELEBA_HELP = (
    "CelebA cannot be downloaded by a script: its hosts (Google Drive and Baidu, linked "
    "from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html) need a browser. Download "
    "'Align&Cropped Images' -> img_align_celeba.zip (1.4 GB) by hand, then run "
    "`python data/prepare.py celeba --source PATH/TO/img_align_celeba.zip` (or pass the "
    "extracted img_align_celeba folder). CelebA is for non-commercial research only.")

# Known datasets. Checksums are MD5s as recorded by torchvision's LFW and CelebA
# loaders (we do not know published SHA-256s of these files; pass --sha256 to
# pin one, and the SHA-256 of every archive is printed so you can).
DATASETS = {
    "lfw": dict(url="http://vis-www.cs.umass.edu/lfw/lfw.tgz", md5="a17d05bd522c52d84eca14327a23d494",
                sha256=None, pad=0.0),
    "celeba": dict(url=None, md5="00d2c5bc6d35e252742224ab0c1e8fcb", sha256=None, pad=0.0,
                   archive_name="img_align_celeba.zip"),
}
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".zip")
CHUNK = 1 << 20


class PrepareError(UserError):
    """A user-facing failure: the message says what went wrong and what to do."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prepare.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("name", help="dataset: 'lfw', 'celeba', or a name of your own (then --source is "
                                     "needed); everything goes to <root>/<name>/")
    parser.add_argument("--source", default=None,
                        help="URL (http, https, file) or local path of the archive, or a folder of photos; "
                             "default for lfw: " + DATASETS["lfw"]["url"])
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of the archive (hex)")
    parser.add_argument("--md5", default=None,
                        help="expected MD5 of the archive; default for lfw and celeba: the published one")
    parser.add_argument("--root", default=os.path.join(ROOT, "data"), help="where <name>/ is made")
    parser.add_argument("--size", type=flags.bounded(int, 8, 4096), default=64,
                        help="side of the aligned faces")
    parser.add_argument("--landmarks", default="innerEyesAndBottomLip", choices=sorted(LANDMARK_SETS))
    parser.add_argument("--pad", type=flags.bounded(float, 0.0, 2.0), default=None,
                        help="align's --pad (0.1 suits tightly cropped faces); default per dataset, 0")
    parser.add_argument("--border", default="black", choices=BORDER_MODES,
                        help="align's --border: what fills the aligned square beyond the photo "
                             "(replicate suits tightly cropped faces)")
    parser.add_argument("-j", "--jobs", type=flags.positive_int, default=1,
                        help="alignment worker processes")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def log(message: str) -> None:
    print(f"[prepare] {message}", flush=True)


def is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https", "file", "ftp")


def archive_name_for(source: str) -> str:
    name = os.path.basename(urllib.parse.urlparse(source).path) if is_url(source) else os.path.basename(source)
    return name or "download"


def download(url: str, target: str, quiet: bool = False) -> None:
    """Fetch ``url`` to ``target`` via ``target.part``; the final name appears only when complete."""
    partial = target + ".part"
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as output:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {os.path.basename(target)}",
                      disable=quiet) as progress:
                while chunk := response.read(CHUNK):
                    output.write(chunk)
                    progress.update(len(chunk))
        if total is not None and os.path.getsize(partial) != total:
            raise PrepareError(f"download of {url} stopped after {os.path.getsize(partial)} of {total} "
                               "bytes; run again to retry")
    except (urllib.error.URLError, OSError, ValueError) as error:
        if os.path.exists(partial):
            os.remove(partial)
        reason = getattr(error, "reason", error)
        if isinstance(error, urllib.error.HTTPError):
            reason = f"HTTP {error.code} {error.reason}"
        raise PrepareError(f"cannot download {url}: {reason}") from None
    os.replace(partial, target)


def file_digests(path: str, quiet: bool = False) -> dict:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as stream, tqdm(total=os.path.getsize(path), unit="B", unit_scale=True,
                                          desc=f"checksum {os.path.basename(path)}", disable=quiet) as progress:
        while chunk := stream.read(CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
            progress.update(len(chunk))
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def verify(path: str, expected: dict, marker: str, downloaded: bool, quiet: bool) -> None:
    """Check ``path`` against the expected digests; remember success in ``marker``."""
    stat = os.stat(path)
    identity = {"size": stat.st_size, "mtime": stat.st_mtime, **{k: v for k, v in expected.items() if v}}
    if os.path.exists(marker):
        with open(marker) as stream:
            if json.load(stream).get("identity") == identity:
                log(f"verify: {os.path.basename(path)} already verified, skipping")
                return
    digests = file_digests(path, quiet)
    log(f"verify: sha256 {digests['sha256']}  md5 {digests['md5']}")
    checked = []
    for kind in ("sha256", "md5"):
        want = expected.get(kind)
        if not want:
            continue
        if digests[kind] != want.lower():
            if downloaded:
                os.remove(path)
                hint = "the download was deleted; run again to fetch it again, or check the URL"
            else:
                hint = f"{path} was left in place; check that it is the right file"
            raise PrepareError(f"{kind} mismatch for {path}: expected {want.lower()}, got {digests[kind]}; {hint}")
        checked.append(kind)
    if checked:
        log(f"verify: {' and '.join(checked)} match")
    else:
        print(f"[prepare] WARNING: {path} is NOT VERIFIED: no checksum is known for it. Pass "
              f"--sha256 {digests['sha256']} next time to pin this file.", file=sys.stderr, flush=True)
    with open(marker, "w") as stream:
        json.dump({"identity": identity, **digests}, stream)


def _inside(root: str, member: str) -> bool:
    target = os.path.realpath(os.path.join(root, member))
    return target == os.path.realpath(root) or target.startswith(os.path.realpath(root) + os.sep)


def extract(archive: str, destination: str, quiet: bool = False) -> None:
    """Unpack into ``destination``; a ``.complete`` marker makes the stage resumable."""
    marker = os.path.join(destination, ".complete")
    if os.path.exists(marker):
        log(f"extract: {destination} already complete, skipping")
        return
    os.makedirs(destination, exist_ok=True)
    try:
        if archive.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as bundle:
                members = bundle.infolist()
                for member in tqdm(members, desc="extract", unit="file", disable=quiet):
                    if not _inside(destination, member.filename):
                        raise PrepareError(f"{archive}: member {member.filename!r} would be written outside "
                                           f"{destination}; refusing to extract")
                    bundle.extract(member, destination)
        else:
            with tarfile.open(archive) as bundle:
                members = bundle.getmembers()
                for member in tqdm(members, desc="extract", unit="file", disable=quiet):
                    try:  # the 'data' filter refuses absolute paths, '..', links out, devices
                        bundle.extract(member, destination, filter="data")
                    except tarfile.FilterError as error:
                        raise PrepareError(f"{archive}: unsafe member {member.name!r} ({error}); "
                                           "refusing to extract") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise PrepareError(f"cannot extract {archive}: {error}") from None
    open(marker, "w").close()


def prepare(args: argparse.Namespace) -> int:
    preset = DATASETS.get(args.name, {})
    source = args.source or preset.get("url")
    if source is None:
        raise PrepareError(CELEBA_HELP if args.name == "celeba" else
                           f"no --source for dataset {args.name!r}: pass a URL, an archive or a folder")
    folder = os.path.join(os.path.abspath(args.root), args.name)
    os.makedirs(folder, exist_ok=True)
    aligned = os.path.join(folder, "aligned")

    # 1. fetch
    if is_url(source):
        archive = os.path.join(folder, archive_name_for(source))
        downloaded = True
        if os.path.exists(archive):
            log(f"fetch: {archive} already downloaded, skipping")
        else:
            log(f"fetch: {source} -> {archive}")
            download(source, archive, args.quiet)
    else:
        archive = os.path.abspath(os.path.expanduser(source))
        downloaded = False
        if not os.path.exists(archive):
            raise PrepareError(f"--source {source!r} does not exist" +
                               (f". {CELEBA_HELP}" if args.name == "celeba" else ""))
        log(f"fetch: using local {archive}")

    # 2. verify, 3. extract
    if os.path.isdir(archive):
        photos = archive
        log(f"verify/extract: {archive} is a folder of photos, nothing to unpack")
    else:
        if not archive.lower().endswith(ARCHIVE_SUFFIXES):
            raise PrepareError(f"{archive}: not a .tgz/.tar.gz/.tar/.zip archive")
        user_checksum = args.sha256 or args.md5
        expected = {"sha256": args.sha256, "md5": args.md5} if user_checksum else \
            {"sha256": preset.get("sha256"), "md5": preset.get("md5")}
        verify(archive, expected, os.path.join(folder, f".{os.path.basename(archive)}.verified"),
               downloaded, args.quiet)
        photos = os.path.join(folder, "raw")
        extract(archive, photos, args.quiet)

    # 4. align and flatten (resumable by itself: existing outputs are skipped)
    pad = args.pad if args.pad is not None else preset.get("pad", 0.0)
    log(f"align: {photos} -> {aligned} ({args.landmarks}, {args.size}x{args.size}, pad {pad}, "
        f"border {args.border})")
    argv = [photos, "align", args.landmarks, aligned, "--size", str(args.size), "--flatten",
            "--pad", str(pad), "--border", args.border, "-j", str(args.jobs)] + (["--quiet"] if args.quiet else [])
    code = align_cli.main(argv)
    if code != 0:
        return code
    count = sum(1 for name in os.listdir(aligned) if name.endswith(".png")) if os.path.isdir(aligned) else 0
    log(f"done: {count} aligned faces in {aligned}")
    log(f"train with: python train_dcgan.py --dataset {aligned}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return prepare(args)
    except UserError as error:
        return flags.fail(str(error), prog="prepare.py")
    except KeyboardInterrupt:
        return flags.fail("interrupted; run the same command again to resume", 130, "prepare.py")


if __name__ == "__main__":
    sys.exit(main())
