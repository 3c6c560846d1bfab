#!/usr/bin/env python3
"""complete.py's defaults against other flags (A: the defaults before the encoder and early
stopping), on folders of aligned true faces: wall time A/B in one run, and quality paired.

    python bench/cli_ab.py heldout_a heldout_b --out runs/ab               # both, both folders
    python bench/cli_ab.py heldout_b --out runs/ab --only B                # B only (A reused)

For each folder, A and B run as whole ``complete.py`` processes (start-up, model load,
search, blending and writing included), one after the other (A first on odd folders, B
first on even ones), each into ``OUT/<A|B>_<folder>``; an existing run with its
``per_image.csv`` is reused, not rerun (its time then comes from its ``time.json``). Each
run is scored as evaluate.py scores (bench/score_completions.py), and the faces of every
folder are compared paired (bench/paired.py). Prints one JSON line per run (wall seconds,
CPU seconds of the process, the load average before and after, the CPU) and the paired
table over all faces. On a shared machine the CPU seconds are the steadier figure.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shlex
import subprocess
import sys
import time

import common
import paired
import score_completions

# complete.py's defaults before issue 26: from noise, every iteration of 1,000 over z and 200
# of the feature search.
OLD_DEFAULTS = "--start noise --stopTol 0 --nIter 1000 --featureIter 200"


def load() -> float:
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def run(label: str, flags: str, folder: str, out: str, seed: int) -> dict:
    """Run complete.py (or reuse the run in ``out``); its wall time and loads."""
    record = os.path.join(out, "time.json")
    if os.path.exists(os.path.join(out, "per_image.csv")) and os.path.exists(record):
        with open(record) as handle:
            return json.load(handle) | {"reused": True}
    command = [sys.executable, os.path.join(common.ROOT, "complete.py"), folder, "--outDir", out,
               "--seed", str(seed), *shlex.split(flags)]
    before = load()
    started = time.perf_counter()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.path.join(os.path.dirname(out) or ".", f"{os.path.basename(out)}.log"),
              "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT,
                       cwd=common.ROOT)
    wall = time.perf_counter() - started
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (done.ru_utime - used.ru_utime) + (done.ru_stime - used.ru_stime)
    figures = {"run": label, "folder": folder, "flags": flags, "wall_s": round(wall, 1),
               "cpu_s": round(cpu, 1), "load_before": before, "load_after": load()}
    score_completions.main([out, "--method", label])
    with open(record, "w") as handle:
        json.dump(figures, handle)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="Folders of aligned true faces")
    parser.add_argument("--out", required=True, help="Where the runs go")
    parser.add_argument("--a", default=OLD_DEFAULTS, help="A's complete.py flags")
    parser.add_argument("--b", default="", help="B's complete.py flags (default: none)")
    parser.add_argument("--only", choices=("A", "B"), help="Run only A or only B")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    tables = {"A": [], "B": []}
    for number, folder in enumerate(args.folders):
        order = ("A", "B") if number % 2 == 0 else ("B", "A")
        for label in order:
            out = os.path.join(args.out, f"{label}_{os.path.basename(os.path.normpath(folder))}")
            if args.only in (None, label):
                common.emit({"bench": "cli_ab", **run(label, args.a if label == "A" else args.b,
                                                      folder, out, args.seed)})
            tables[label].append(os.path.join(out, "per_image.csv"))
    if args.only:
        return 0
    merged = {}
    for label, tables_of in tables.items():
        merged[label] = os.path.join(args.out, f"{label}_all.csv")
        with open(merged[label], "w", newline="") as handle:
            writer = None
            for table in tables_of:
                with open(table, newline="") as rows:
                    for row in csv.DictReader(rows):
                        row["method"] = "run"
                        writer = writer or csv.DictWriter(handle, fieldnames=list(row))
                        if handle.tell() == 0:
                            writer.writeheader()
                        writer.writerow(row)
    return paired.main([merged["A"], merged["B"], "--method", "run"])


if __name__ == "__main__":
    raise SystemExit(main())
