#!/usr/bin/env python3
"""The web page's wait: from pressing Complete to the pasted photo, on the page's own code path.

    python bench/bench_page.py                                  # the page's defaults, centre mask
    python bench/bench_page.py --photo PATH --runs 5 -- --stopTol 0    # serve.py's flags after --

Builds serve.py's page state with serve.py's flags (its defaults unless given after ``--``),
loads the photo as an upload does (not timed: the page finds the faces on upload), then
times ``Handlers.on_complete`` with the page's default inputs and the chosen mask from the
call until its last output (the pasted photo written to disk), ``--runs`` times. The first
run of a process also traces the compiled search; the server does that once at start-up
(``serve.warm_up``), so it is reported apart (``first_s``) and not in the median. Prints one
JSON line: the median, each run's seconds and iterations, and the CPU.
"""
import argparse
import os
import statistics
import sys
import time
import types

import common

DEFAULT_PHOTO = os.path.join(common.ROOT, "..", "shared", "data", "photos", "deepface",
                             "img1.jpg")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ours, serve_flags = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) \
        if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", default=DEFAULT_PHOTO,
                        help="A photo with a face (default: a 1382x1868 portrait from "
                             "../shared/data/photos/deepface)")
    parser.add_argument("--mask", default="center", help="The page's mask choice")
    parser.add_argument("--runs", type=int, default=5, help="Timed presses of Complete")
    args = parser.parse_args(ours)

    import serve

    serve.import_gradio()
    page_args = serve.build_parser().parse_args(serve_flags)
    page = serve.Page(page_args)
    handlers = serve.Handlers(page)
    photo, message = page.load(args.photo, os.path.basename(args.photo),
                               page_args.checkpointDir)
    if not photo.faces:
        sys.exit(f"bench_page.py: no face in {args.photo}: {message}")
    a = page.args
    request = types.SimpleNamespace(session_hash="bench")
    started_warm = time.perf_counter()
    serve.warm_up(page, page_args.checkpointDir)
    warm_up_s = time.perf_counter() - started_warm
    from completion import search as completion_search

    times, statuses, traces = [], [], []
    for _ in range(args.runs + 1):
        started = time.perf_counter()
        outputs = list(handlers.on_complete(
            photo, None, "1", args.mask, a.centerScale, a.fractionMasked, a.halfSide,
            a.patternFraction, a.approach, a.nIter, a.lr, a.lam, a.outInterval, a.nRestarts,
            a.seed, a.weighted, a.blend, a.checkpointDir, a.stopTol, request))
        times.append(time.perf_counter() - started)
        statuses.append(outputs[-1][1])
        traces.append(sum(search.run.experimental_get_tracing_count()
                          for search in completion_search._SHARED_SEARCHES.values()))
    status = statuses[-1]
    if "Pasted" not in status:
        sys.exit(f"bench_page.py: the completion did not finish: {status}")
    common.emit({"bench": "page_complete", "photo": os.path.basename(args.photo),
                 "size": f"{photo.rgb.shape[1]}x{photo.rgb.shape[0]}", "mask": args.mask,
                 "serve_flags": serve_flags, "warm_up_s": round(warm_up_s, 2),
                 "first_s": round(times[0], 3), "median_s": round(statistics.median(times[1:]), 3),
                 "runs_s": [round(t, 3) for t in times[1:]],
                 "iterations": [int(s.split()[1]) for s in statuses], "traces": traces,
                 "status": status})


if __name__ == "__main__":
    main()
