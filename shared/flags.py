"""Command-line helpers shared by the drivers: validated argparse types, defaults that follow
another flag, and the one-line error.

Importing this module does not import TensorFlow, so ``--help`` and flag errors
answer at once. A bad flag value exits with argparse's code 2 and a message
naming the flag.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

# The defaults the drivers share with the library are written in shared/defaults.py (which the
# library reads too): read them there.
from shared.defaults import DIFFAUG_OPS, random_seed

STARTS = ("auto", "encoder", "noise")
START_HELP = ("Where each image's search starts: 'encoder', E(masked face, mask) of the encoder "
              "stored in <checkpointDir>/encoder (train_encoder.py); 'noise', uniform z (the "
              "blog's); 'auto', the encoder when there is one for this model, else noise")


def _number(kind, text):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a{'n integer' if kind is int else ' number'}")
    if isinstance(value, float) and math.isnan(value):
        raise argparse.ArgumentTypeError("NaN is not allowed")
    return value


def positive_int(text: str) -> int:
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    value = _number(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    value = _number(float, text)
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    value = _number(float, text)
    if value < 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def interval(low: float, high: float, *, low_open: bool = False, high_open: bool = False,
             note: str = ""):
    """An argparse type: a number from ``low`` to ``high``, each end included or not
    (``[0, 1)``: ``high_open``); ``note`` follows the interval in the error message."""
    shown = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        value = _number(float, text)
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if not (above and below):
            raise argparse.ArgumentTypeError(f"must be in {shown}{note}, got {text}")
        return value
    parse.__name__ = f"number in {shown}"
    return parse


unit_interval = interval(0, 1)                          # a share: [0, 1]
open_unit_interval = interval(0, 1, high_open=True)     # momentum and Adam betas: [0, 1)
center_scale = interval(0, 0.5, low_open=True)          # the centre hole's margin: (0, 0.5]
ema_decay = interval(0, 1, high_open=True, note=" (0: no average)")   # 0 turns the average off


def bounded(kind, low, high):
    """An argparse type: a number of ``kind`` (int or float) from ``low`` to ``high``."""
    def parse(text: str):
        value = _number(kind, text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {text}")
        return value
    parse.__name__ = f"{kind.__name__} from {low} to {high}"
    return parse


def image_size(text: str) -> int:
    value = _number(int, text)
    if value < 8 or value > 256 or value & (value - 1):
        raise argparse.ArgumentTypeError(f"must be a power of two from 8 to 256, got {value}")
    return value


def train_size(text: str) -> float:
    """A positive count or 'inf' (the original's default)."""
    if text.strip().lower() in ("inf", "infinity"):
        return math.inf
    return float(positive_int(text))


def diffaug(text: str) -> tuple[str, ...]:
    """A comma list of DiffAugment ops (color, translation, cutout), '' or 'none' for none:
    the ops in the order they are applied (color, translation, cutout), each once."""
    if text.strip().lower() == "none":
        return ()
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in DIFFAUG_OPS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown op '{unknown[0]}': give a comma list of {', '.join(DIFFAUG_OPS)}, '' "
            "or none")
    return tuple(name for name in DIFFAUG_OPS if name in names)


def shard(text: str) -> tuple[int, int]:
    """'I/N' with 0 <= I < N: the I-th (from 0) of N contiguous slices of a list."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like I/N (e.g. 0/4), got '{text}'")
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"needs 0 <= I < N, got '{text}'")
    return index, count


def seed(text: str) -> int:
    """A random seed: an integer from 0 to 2**31 - 1 (what NumPy and TensorFlow both accept),
    or ``random`` for a fresh one (drawn here, when the flags are parsed)."""
    if text.strip().lower() == "random":
        return random_seed()
    value = _number(int, text)
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be from 0 to {2**31 - 1}, got {value}")
    return value


class SameAs:
    """The default of a flag that takes another flag's value: ``--help`` shows
    ``(default: --other)``, and :class:`Parser` fills it in as the flags are parsed."""

    def __init__(self, flag: str):
        self.flag = flag
        self.dest = flag.lstrip("-").replace("-", "_")

    def __repr__(self) -> str:
        return self.flag


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose ``parse_args`` returns every option final: :class:`SameAs`
    defaults take the other flag's value."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, rest = super().parse_known_args(args, namespace)
        for name, value in vars(namespace).items():
            if isinstance(value, SameAs):
                setattr(namespace, name, getattr(namespace, value.dest))
        return namespace, rest


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults in --help, except ``None`` (the help text says what happens)."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


VERBOSE_HELP = ("Show TensorFlow's start-up and C++ log lines (also shown when the "
                "TF_CPP_MIN_LOG_LEVEL environment variable is set)")


def fail(message: str, code: int = 1, prog: str | None = None) -> int:
    """Print one clear error line for the user and return the exit code."""
    if prog is None:
        prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "dcgan"
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code
