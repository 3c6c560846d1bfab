"""The search's settings, :class:`CompletionConfig`, without TensorFlow.

:mod:`completion` runs the search they describe; the drivers' flags map onto them
(:func:`completion_flags.search_config`) before TensorFlow loads, and ``lr`` None is
resolved here, in one place (:func:`default_lr`), for every caller.
"""
from __future__ import annotations

import dataclasses

from flags import DEFAULT_FEATURE_LR, DEFAULT_LR

APPROACHES = ("momentum", "adam", "hmc")


def default_lr(approach: str) -> float:
    """The default step size of ``approach`` (measured on held-out faces, docs/EXPERIMENTS.md)."""
    return DEFAULT_LR[approach]


@dataclasses.dataclass(frozen=True)
class CompletionConfig:
    """The search's settings; ``lr`` None means the approach's :func:`default_lr`."""
    approach: str = "momentum"
    lr: float | None = None
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    hmc_beta: float = 0.2
    hmc_eps: float = 0.001
    hmc_L: int = 100
    hmc_anneal: float = 1.0
    lam: float = 0.1
    n_iter: int = 1000
    out_interval: int = 50    # iterations per compiled call, and between snapshots
    normalize: bool = True    # momentum: step on the loss per known value (completion.py)
    # Then this many iterations of the feature search on G's first feature map (0 here:
    # the blog's search over z only; the drivers' default is flags.DEFAULT_FEATURE_ITER),
    # with this momentum step on the loss per known value.
    feature_iter: int = 0
    feature_lr: float = DEFAULT_FEATURE_LR
    # Stop each image's search (each phase) once its fill has stopped changing: every
    # ``stop_window`` iterations, the mean absolute change of G(z) over the image's hole
    # since the last check, in 8-bit grey levels (0-255); below ``stop_tol`` the image
    # stops. 0: every iteration runs (n_iter and feature_iter are then exact counts).
    stop_tol: float = 0.0
    stop_window: int = 10

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
