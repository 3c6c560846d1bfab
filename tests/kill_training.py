"""Kill a real training process with SIGKILL at random moments, resume after each kill.

Used by tests/test_reliability.py (run as its own process):

    python tests/kill_training.py DATASET WORKDIR --kills 20 --seed 0

Each trainer is ``train_dcgan.main`` in a child forked from this process, which
has imported TensorFlow but never run it (so the fork is safe and a child starts
in about a second instead of paying the import again). The tiny model saves a
checkpoint after every step, so most kills land in or near a checkpoint write.
After every kill the next child must resume from a checkpoint that

* has the step its name says,
* is at least as new as the last checkpoint the killed child reported saved,
* is no newer than the last step the killed child started.

The last child is stopped with SIGINT and must save and say how to resume.
Prints one JSON line: kills, resumes, fallbacks past damaged checkpoints, steps.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import train_dcgan  # noqa: E402
from training import loop  # noqa: E402,F401  (imports TensorFlow before the forks; runs nothing)

STEP = re.compile(r" step: (\d+) ")
SAVED = re.compile(r"Saved checkpoint .*-(\d+)$", re.M)
PR_SET_PDEATHSIG = 1
RESUMED = re.compile(r"Resuming from (.*-(\d+)) at step (\d+)")


def start_trainer(dataset: str, workdir: str, number: int) -> tuple[int, str]:
    log = os.path.join(workdir, f"trainer-{number:02d}.log")
    open(log, "w").close()
    pid = os.fork()
    if pid == 0:  # the child: a real training run, output to its own log
        try:  # Linux: die with this driver, so a failed test leaves no trainer behind
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
        handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(handle, 1)
        os.dup2(handle, 2)
        code = 1
        try:
            code = train_dcgan.main([
                "--dataset", dataset, "--epoch", "100000", "--batch_size", "4",
                "--image_size", "8", "--z_dim", "8", "--gf_dim", "8", "--df_dim", "8",
                "--g_steps", "1", "--checkpoint_dir", os.path.join(workdir, "checkpoint"),
                "--sample_dir", os.path.join(workdir, "samples"),
                "--log_dir", os.path.join(workdir, "logs"), "--seed", "1",
                "--checkpoint_interval", "1", "--log_interval", "1", "--sample_interval", "5",
                "--precision", "float32"])
        finally:
            sys.stdout.flush()
            os._exit(code)
    return pid, log


def wait_for_steps(pid: int, log: str, timeout: float = 120.0) -> None:
    """Wait until the child has logged a training step (or fail if it exits first)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(log) as handle:
            if STEP.search(handle.read()):
                return
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            raise SystemExit(f"trainer exited ({status}) before stepping:\n{open(log).read()}")
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    raise SystemExit(f"trainer did not start stepping in {timeout}s:\n{open(log).read()}")


def parse(log: str) -> dict:
    text = open(log).read()
    resumed = RESUMED.search(text)
    if resumed and int(resumed.group(2)) != int(resumed.group(3)):
        raise SystemExit(f"{log}: checkpoint name and restored step differ: {resumed.group(0)}")
    steps = [int(s) for s in STEP.findall(text)]
    return {"resumed": int(resumed.group(3)) if resumed else 0,
            "saved": max(map(int, SAVED.findall(text)), default=None),
            "last_step": max(steps, default=None),
            "fallbacks": text.count("trying an older one"), "text": text}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("workdir")
    parser.add_argument("--kills", type=int, default=14,
                        help="kills at a random moment after the trainer logged its first step")
    parser.add_argument("--early_kills", type=int, default=6,
                        help="kills at a random moment of start-up (loading, restoring, tracing)")
    parser.add_argument("--max_delay", type=float, default=1.0,
                        help="late kills come up to this many seconds after the first step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    rng = random.Random(args.seed)
    plan = ["late"] * args.kills + ["early"] * args.early_kills
    rng.shuffle(plan)
    started = time.time()
    saved, latest, resumed_before = 0, 0, 0  # newest step known saved / started / resumed
    fallbacks = 0
    for number, kind in enumerate(plan + ["sigint"]):
        pid, log = start_trainer(args.dataset, args.workdir, number)
        try:
            if kind == "early":
                time.sleep(rng.uniform(0.2, 2.5))
            else:
                wait_for_steps(pid, log)
                time.sleep(rng.uniform(0, args.max_delay))
            os.kill(pid, signal.SIGINT if kind == "sigint" else signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            raise
        run = parse(log)
        fallbacks += run["fallbacks"]
        if "Resuming from" in run["text"] or run["last_step"] is not None:
            # from the newest checkpoint known complete, or a newer one; never a future one
            if not max(saved, resumed_before) <= run["resumed"] <= latest:
                raise SystemExit(f"trainer {number} resumed at step {run['resumed']}, expected "
                                 f"{max(saved, resumed_before)}..{latest}:\n{run['text']}")
            resumed_before = run["resumed"]
        saved = max(saved, run["saved"] or 0)
        latest = max(latest, run["last_step"] or 0, run["resumed"])
    # The last trainer got SIGINT: exit 130 after saving its last step, saying how to resume.
    code = os.waitstatus_to_exitcode(status)
    if code != 130 or "Run the same command again" not in run["text"] or \
            run["saved"] != run["last_step"]:
        raise SystemExit(f"SIGINT: exit code {code}, expected 130 and a final save:\n{run['text']}")
    print(json.dumps({"kills": len(plan), "late_kills": args.kills,
                      "early_kills": args.early_kills, "fallbacks": fallbacks,
                      "final_step": run["saved"], "seconds": round(time.time() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
