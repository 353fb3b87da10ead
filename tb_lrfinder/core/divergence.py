"""The stop rule, applied online by the recorder and to a whole curve by the analysis."""

from __future__ import annotations

import math

import numpy as np

from tb_lrfinder.core.smoothing import time_constant


def diverged(smoothed, best, stop_factor: float, floor_scale=0.0):
    """The stop rule: whether the smoothed loss has risen past `stop_factor`
    times its best so far, measured from the loss's floor,

        smoothed - best > (stop_factor - 1) * max(|best|, floor_scale)

    For a loss that has stayed >= 0 `floor_scale` is 0 and this is the
    article's smoothed > stop_factor * best. A loss that goes below zero
    (Keras's Poisson loss) has no floor at 0 to measure from: there
    `floor_scale` is the loss's size at the start (see `floor_scale`), so
    that a best near zero does not turn noise into divergence. Floats or
    numpy arrays; false for NaN. The recorder applies it online, `find_stop`
    to a whole curve.
    """
    if isinstance(best, np.ndarray):
        return smoothed - best > (stop_factor - 1.0) * np.maximum(np.abs(best), floor_scale)
    return smoothed - best > (stop_factor - 1.0) * max(abs(best), floor_scale)  # the recorder's step: no numpy


def floor_scale(first_losses, beta: float, *, negative: bool) -> float:
    """`diverged`'s floor_scale: 0 while no loss was negative (the floor is
    0); after that the median |loss| over the smoother's first time constant
    of finite losses, and infinite (no divergence called) until that many
    were seen: before, the smoothed loss is a few noisy raw points."""
    if not negative:
        return 0.0
    if len(first_losses) < time_constant(beta):
        return math.inf
    return float(np.median(np.abs(first_losses[: time_constant(beta)])))


def floor_scales(losses, beta: float) -> np.ndarray:
    """`floor_scale` at each point of a curve, as the recorder has it online."""
    losses = np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(losses)
    negative = np.logical_or.accumulate(finite & (losses < 0)) if len(losses) else np.zeros(0, bool)
    first = losses[finite][: time_constant(beta)]
    seen = np.minimum(np.cumsum(finite), len(first))  # finite losses seen, up to the time constant
    sizes = np.array([floor_scale(first[:k], beta, negative=True) for k in range(len(first) + 1)])
    return np.where(negative, sizes[seen], 0.0)
