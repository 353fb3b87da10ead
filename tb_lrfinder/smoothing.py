"""Smoothing of the per-step loss curve.

Non-finite losses are carried, not dropped: the output has a NaN at each
non-finite input, and the smoother skips those points in its state.
"""

from __future__ import annotations

import numpy as np

from ._validation import fraction


def debiased_ema(values, beta: float = 0.9) -> np.ndarray:
    """The source article's debiased exponential moving average.

        avg_n = beta * avg_{n-1} + (1 - beta) * x_n       (avg_0 = 0)
        smoothed_n = avg_n / (1 - beta**n)                (n counts finite points)

    It lags the raw curve (it only looks back), which is what an online stop
    rule needs. Non-finite x_n give NaN and leave the average unchanged.
    """
    beta = fraction("smoothing", beta)
    x = np.asarray(values, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    average = 0.0
    count = 0
    for i, value in enumerate(x):
        if not np.isfinite(value):
            continue
        count += 1
        average = beta * average + (1.0 - beta) * value
        out[i] = average / (1.0 - beta**count)
    return out


def centered_ema(values, beta: float = 0.9) -> np.ndarray:
    """A zero-lag smoother for offline analysis: the mean of a forward and a
    backward debiased EMA, so a feature is not shifted toward later steps.
    """
    x = np.asarray(values, dtype=np.float64)
    forward = debiased_ema(x, beta)
    backward = debiased_ema(x[::-1], beta)[::-1]
    return (forward + backward) / 2.0
