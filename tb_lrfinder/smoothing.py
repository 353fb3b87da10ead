"""Smoothing of the per-step loss curve.

Non-finite losses are carried, not dropped: the output has a NaN at each
non-finite input, and the smoother skips those points in its state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import fraction


def debiased_ema(values, beta: float = 0.9) -> np.ndarray:
    """The source article's debiased exponential moving average.

        avg_n = beta * avg_{n-1} + (1 - beta) * x_n       (avg_0 = 0)
        smoothed_n = avg_n / (1 - beta**n)                (n counts finite points)

    It lags the raw curve (it only looks back), which is what an online stop
    rule needs. Non-finite x_n give NaN and leave the average unchanged.

    smoothed_n is the beta**age-weighted mean of the points so far, which is
    pandas' adjusted exponentially weighted mean (computed there, in C).
    """
    beta = fraction("smoothing", beta)
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.any():
        return np.full(x.shape, np.nan)
    weighted = pd.Series(np.where(finite, x, np.nan)).ewm(alpha=1.0 - beta, adjust=True, ignore_na=True)
    return np.where(finite, weighted.mean().to_numpy(), np.nan)


def time_constant(beta: float) -> int:
    """Points in the debiased EMA's first time constant, 1 / (1 - beta) (at least 1)."""
    return max(1, round(1.0 / (1.0 - beta)))


def centered_ema(values, beta: float = 0.9) -> np.ndarray:
    """A zero-lag smoother for offline analysis: the mean of a forward and a
    backward debiased EMA, so a feature is not shifted toward later steps.
    """
    x = np.asarray(values, dtype=np.float64)
    forward = debiased_ema(x, beta)
    backward = debiased_ema(x[::-1], beta)[::-1]
    return (forward + backward) / 2.0


def rolling_median(values, window: int) -> np.ndarray:
    """A centered running median over `window` points (odd; shorter at the
    ends). Robust to single spikes and to the explosion at a sweep's end;
    non-finite inputs are ignored in each window."""
    x = np.asarray(values, dtype=np.float64)
    window = max(1, int(window)) | 1
    series = pd.Series(np.where(np.isfinite(x), x, np.nan))
    return series.rolling(window, center=True, min_periods=1).median().to_numpy()
