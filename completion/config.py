"""The search's settings, :class:`CompletionConfig`, without TensorFlow.

:mod:`completion.search` runs the search they describe; the drivers' flags map onto them
(:func:`completion.flags.search_config`) before TensorFlow loads, and ``lr`` None is
resolved here, in one place (:func:`default_lr`), for every caller.
"""
from __future__ import annotations

import dataclasses

from shared import defaults

APPROACHES = ("momentum", "adam", "hmc")


def default_lr(approach: str) -> float:
    """The default step size of ``approach`` (measured on held-out faces, docs/EXPERIMENTS.md)."""
    return defaults.DEFAULT_LR[approach]


@dataclasses.dataclass(frozen=True)
class CompletionConfig:
    """The search's settings; ``lr`` None means the approach's :func:`default_lr`. The
    defaults are complete.py's (:mod:`shared.defaults`): with no arguments, the search a
    command runs with no flags."""
    approach: str = defaults.DEFAULT_APPROACH
    lr: float | None = None
    momentum: float = defaults.DEFAULT_MOMENTUM
    beta1: float = defaults.DEFAULT_ADAM_BETA1
    beta2: float = defaults.DEFAULT_ADAM_BETA2
    eps: float = defaults.DEFAULT_ADAM_EPS
    hmc_beta: float = defaults.DEFAULT_HMC_BETA
    hmc_eps: float = defaults.DEFAULT_HMC_EPS
    hmc_L: int = defaults.DEFAULT_HMC_L
    hmc_anneal: float = defaults.DEFAULT_HMC_ANNEAL
    lam: float = defaults.DEFAULT_LAM
    n_iter: int = defaults.DEFAULT_N_ITER
    out_interval: int = defaults.DEFAULT_OUT_INTERVAL   # iterations per compiled call and
                                                        # between snapshots
    normalize: bool = True    # momentum: step on the loss per known value (completion/search.py)
    # Then at most this many iterations of the feature search on G's first feature map
    # (0: the blog's search over z only), with this momentum step on the loss per known value.
    feature_iter: int = defaults.DEFAULT_FEATURE_ITER
    feature_lr: float = defaults.DEFAULT_FEATURE_LR
    # Stop each image's search (each phase) once its fill has stopped changing: every
    # ``stop_window`` iterations, the mean absolute change of G(z) over the image's hole
    # since the last check, in 8-bit grey levels (0-255); below ``stop_tol`` the image
    # stops. 0: every iteration runs (n_iter and feature_iter are then exact counts).
    stop_tol: float = defaults.DEFAULT_STOP_TOL
    stop_window: int = defaults.DEFAULT_STOP_WINDOW

    def __post_init__(self):
        if self.approach not in APPROACHES:
            raise ValueError(f"approach must be one of {APPROACHES}, got {self.approach!r}")
        if self.lr is None:
            object.__setattr__(self, "lr", default_lr(self.approach))
        if (self.n_iter < 0 or self.feature_iter < 0 or self.out_interval < 1
                or self.hmc_L < 1 or self.stop_window < 1):
            raise ValueError("n_iter and feature_iter must be >= 0, out_interval, hmc_L and "
                             "stop_window >= 1")
        if not self.stop_tol >= 0:
            raise ValueError(f"stop_tol must be >= 0, got {self.stop_tol}")

    @property
    def total_iter(self) -> int:
        """Iterations of the whole search: z's, then the feature map's."""
        return self.n_iter + self.feature_iter
