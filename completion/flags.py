"""The completion flags that complete.py, serve.py and evaluate.py share, and their meaning.

Each flag is declared once here, with its type, default and help:

* :func:`add_search_flags`: the search (complete.py, serve.py, evaluate.py), every field
  of :class:`completion.config.CompletionConfig` and ``--start``, ``--nRestarts``;
* :func:`add_mask_flags`: the mask types and their parameters (the same three);
* :func:`add_run_flags`: the loss weights, blending, snapshots, seed, precision and
  log lines of a completion (complete.py, serve.py);

and :func:`search_config` turns parsed flags into the search's settings, the one mapping
from flag names to :class:`CompletionConfig`'s fields. Importing this module does not
import TensorFlow, so ``--help`` answers at once.
"""
from __future__ import annotations

import argparse

from completion import masks
from completion.config import APPROACHES, CompletionConfig
from shared import defaults, flags, precision


def _help(text: str, notes: dict | None, name: str) -> str:
    """``text``, and the caller's note on the flag ``name`` (e.g. the demo's default)."""
    note = (notes or {}).get(name)
    return f"{text} ({note})" if note else text


def budget_help(name: str) -> str:
    """The default of ``--nIter`` or ``--featureIter`` by start, for its help."""
    return ", ".join(f"{budget[name]} from {'the encoder' if start == 'encoder' else start}"
                     for start, budget in defaults.BUDGET.items())


def budget(args, from_encoder: bool, **values) -> dict:
    """``{"nIter": ..., "featureIter": ...}``: the flags' values in ``args`` (``values`` by
    flag name replace them), or where one is None (not given), the default of the start
    (:data:`defaults.BUDGET`): from the encoder's z (``from_encoder``) or from noise."""
    default = defaults.BUDGET["encoder" if from_encoder else "noise"]
    given = {name: values[name] if name in values else getattr(args, name)
             for name in ("nIter", "featureIter")}
    return {name: default[name] if value is None else value for name, value in given.items()}


def add_search_flags(parser, notes: dict | None = None) -> None:
    """The search's flags on ``parser`` (a parser or an argument group); ``notes``: flag
    name -> a note added to its help."""
    add = parser.add_argument
    add("--approach", choices=APPROACHES, default=defaults.DEFAULT_APPROACH,
        help="Search over z: projected gradient descent with momentum (the blog's), Adam, or "
             "Hamiltonian Monte Carlo")
    add("--lr", type=flags.positive_float, default=None,
        help="Step size (default: the --approach's: " + ", ".join(
            f"{lr:g} for {approach}" for approach, lr in defaults.DEFAULT_LR.items() if lr)
        + "; momentum's is on the loss per known value, see --sumLoss)")
    add("--momentum", type=flags.open_unit_interval, default=defaults.DEFAULT_MOMENTUM,
        help="Momentum (momentum)")
    add("--beta1", type=flags.open_unit_interval, default=defaults.DEFAULT_ADAM_BETA1,
        help="Adam beta1")
    add("--beta2", type=flags.open_unit_interval, default=defaults.DEFAULT_ADAM_BETA2,
        help="Adam beta2")
    add("--eps", type=flags.positive_float, default=defaults.DEFAULT_ADAM_EPS, help="Adam epsilon")
    add("--hmcBeta", type=flags.positive_float, default=defaults.DEFAULT_HMC_BETA,
        help="HMC inverse temperature")
    add("--hmcEps", type=flags.positive_float, default=defaults.DEFAULT_HMC_EPS,
        help="HMC leapfrog step size")
    add("--hmcL", type=flags.positive_int, default=defaults.DEFAULT_HMC_L,
        help="HMC leapfrog steps per iteration")
    add("--hmcAnneal", type=flags.positive_float, default=defaults.DEFAULT_HMC_ANNEAL,
        help="Multiply hmcBeta by this after every iteration")
    add("--nIter", type=flags.nonnegative_int, default=None,
        help=_help(f"Iterations of the search over z, at most (default: {budget_help('nIter')})",
                   notes, "nIter"))
    add("--featureIter", type=flags.nonnegative_int, default=None,
        help="Then at most this many iterations of the feature search: G's first feature map, "
             "started from the z found, searched with the same loss and the momentum step "
             "(docs/DESIGN.md, 'The feature search'); 0: the blog's search over z only "
             f"(default: {budget_help('featureIter')})")
    add("--featureLr", type=flags.positive_float, default=defaults.DEFAULT_FEATURE_LR,
        help="Momentum step size of the feature search, on the loss per known value")
    add("--stopTol", type=flags.nonnegative_float, default=defaults.DEFAULT_STOP_TOL,
        help="Stop each image's search (each phase) once its fill has stopped changing: when "
             "the hole's mean change over --stopWindow iterations is below this many grey "
             "levels (0-255). --nIter and --featureIter are then the most each phase runs; "
             "0: every iteration runs")
    add("--stopWindow", type=flags.positive_int, default=defaults.DEFAULT_STOP_WINDOW,
        help="Iterations between the checks of --stopTol")
    add("--start", choices=flags.STARTS, default=defaults.DEFAULT_START, help=flags.START_HELP)
    add("--lam", type=flags.nonnegative_float, default=defaults.DEFAULT_LAM,
        help="Weight of the perceptual loss -log D(G(z)) against the contextual L1 loss")
    add("--sumLoss", action="store_true",
        help="momentum: step on the gradient of the summed loss, the blog's scale, instead of "
             "the loss per known value (about 9,000 times smaller for the centre hole; then "
             "pass an lr of about 1e-5)")
    add("--nRestarts", type=flags.positive_int, default=defaults.DEFAULT_RESTARTS,
        help="Random starts per image; each image keeps the one with the lowest final loss")


def add_mask_flags(parser, mask_types=masks.MASK_TYPES, notes: dict | None = None) -> None:
    """The mask flags on ``parser``: ``--maskType`` (one of ``mask_types``) and the
    parameters of the types; ``notes`` as for :func:`add_search_flags`."""
    add = parser.add_argument
    add("--maskType", choices=mask_types, default=defaults.DEFAULT_MASK_TYPE,
        help=_help("Which pixels are missing", notes, "maskType"))
    add("--centerScale", type=flags.center_scale, default=defaults.DEFAULT_CENTER_SCALE,
        help="center mask: the hole spans rows/columns imgSize*scale to imgSize*(1-scale)")
    add("--fractionMasked", type=flags.unit_interval, default=defaults.DEFAULT_FRACTION_MASKED,
        help=_help("random mask: probability that a pixel is missing", notes,
                   "fractionMasked"))
    add("--halfSide", choices=masks.HALF_SIDES, default=defaults.DEFAULT_HALF_SIDE,
        help=_help("half mask: which half is missing", notes, "halfSide"))
    add("--patternFraction", type=flags.unit_interval, default=defaults.DEFAULT_PATTERN_FRACTION,
        help="pattern mask: share of missing pixels (the paper's random pattern: about 25%%)")


def add_run_flags(parser) -> None:
    """The flags of how a completion runs beyond the search: the loss weights, blending,
    snapshots, seed, precision and log lines."""
    add = parser.add_argument
    add("--weighted", action=argparse.BooleanOptionalAction, default=True,
        help="The paper's importance-weighted contextual loss: a known pixel weighs the "
             "fraction of missing pixels in the --weightWindow square around it "
             "(--no-weighted: every known pixel weighs 1, the blog's loss)")
    add("--weightWindow", type=flags.positive_int, default=defaults.DEFAULT_WEIGHT_WINDOW,
        help="Window (odd) of the importance weights of --weighted")
    add("--blend", action=argparse.BooleanOptionalAction, default=True,
        help="Poisson-blend G(z) into the hole for the final per-image completions "
             "(known pixels unchanged, G(z)'s gradients kept in the hole; --no-blend: "
             "G(z) pasted as it is, the blog's)")
    add("--outInterval", type=flags.positive_int, default=defaults.DEFAULT_OUT_INTERVAL,
        help="Write G(z) and the completion every this many iterations")
    add("--seed", type=flags.seed, default=None,
        help="Seed for z and random masks (default: a random seed)")
    add("--precision", choices=precision.CHOICES, default=defaults.DEFAULT_PRECISION,
        help=f"Compute precision of G and D: {precision.AUTO_HELP} (z, gradients and the "
             "loss stay float32; options.json records the precision used)")
    add("--verbose", action="store_true", help=flags.VERBOSE_HELP)


def search_config(args, from_encoder: bool = False, **values) -> CompletionConfig:
    """The search's settings from the flags of :func:`add_search_flags` and ``--outInterval``
    in ``args`` (parsed flags, or any object with them as attributes:
    :class:`completion.job.Options`); ``values`` (by flag name) replace some of them: the
    web page's inputs, evaluate.py's chunk. ``lr`` None is the approach's default;
    ``nIter`` and ``featureIter`` None are the start's (:func:`budget`: from the encoder's z
    if ``from_encoder``, else from noise). A value out of range raises ValueError."""
    iterations = budget(args, from_encoder, **values)

    def flag(name):
        if name in iterations:
            return iterations[name]
        return values[name] if name in values else getattr(args, name)

    return CompletionConfig(
        approach=flag("approach"), lr=flag("lr"), momentum=flag("momentum"),
        beta1=flag("beta1"), beta2=flag("beta2"), eps=flag("eps"), hmc_beta=flag("hmcBeta"),
        hmc_eps=flag("hmcEps"), hmc_L=flag("hmcL"), hmc_anneal=flag("hmcAnneal"),
        lam=flag("lam"), n_iter=flag("nIter"), out_interval=flag("outInterval"),
        normalize=not flag("sumLoss"), feature_iter=flag("featureIter"),
        feature_lr=flag("featureLr"), stop_tol=flag("stopTol"), stop_window=flag("stopWindow"))
