#!/usr/bin/env python3
"""Does memory grow with the dataset? Peak resident memory of train_dcgan.py training a
few steps on 1,000 and on 30,000 images (symlinks to real faces in a temporary folder).

    python bench/bench_memory.py --source ../shared/data/faces

Prints one JSON line per size with the child process's peak RSS, and their ratio.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import common


def peak_rss_mib(argv) -> float:
    """Run ``argv`` in a child process and return its peak resident memory in MiB."""
    code = ("import resource, runpy, sys; sys.argv = %r; "
            "sys.path.insert(0, %r)\ntry:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
            % (argv, common.ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("PEAK_KIB")]
    if done.returncode or not lines:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
    return int(lines[-1].split()[1]) / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=os.path.join(common.ROOT, "..", "shared", "data",
                                                         "faces"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 30000])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    import utils
    paths = utils.list_images(args.source)
    results = {}
    for size in args.sizes:
        if size > len(paths):
            raise SystemExit(f"--source has {len(paths)} images, fewer than {size}")
        with tempfile.TemporaryDirectory() as folder:
            data = os.path.join(folder, "data")
            os.mkdir(data)
            for index, path in enumerate(paths[:size]):
                os.symlink(os.path.abspath(path),
                           os.path.join(data, f"{index:06d}{os.path.splitext(path)[1]}"))
            # --train_size limits each epoch to --steps batches; the whole folder is listed,
            # shuffled and handed to tf.data as for a real run.
            results[size] = peak_rss_mib([
                os.path.join(common.ROOT, "train_dcgan.py"), "--dataset", data,
                "--epoch", "1", "--train_size", str(64 * args.steps),
                "--checkpoint_dir", os.path.join(folder, "ck"),
                "--sample_dir", os.path.join(folder, "s"), "--log_dir", os.path.join(folder, "l"),
                "--seed", "0"])
        common.emit({"bench": "memory", "images": size, "steps": args.steps,
                     "peak_rss_mib": results[size]})
    small, large = min(results), max(results)
    common.emit({"bench": "memory", "ratio_large_over_small": results[large] / results[small],
                 "sizes": [small, large]})


if __name__ == "__main__":
    main()
