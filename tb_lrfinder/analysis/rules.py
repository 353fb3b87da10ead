"""The suggestion rules read from a range-test curve, and the recommendation they make.

`safe_rate` (the recommended rate: the minimum of a running median of the raw loss, divided by
SAFE_DIVISOR and by the optimizer's momentum lag), `steepest_descent` and `min_loss_div10` (the
source article's minimum and maximum rates) and `longest_valley` (fastai's). `recommend` turns
them into a rate, a range and caveats."""

from __future__ import annotations

import bisect
import math

import numpy as np

from tb_lrfinder.analysis.types import Recommendation, Suggestion
from tb_lrfinder.core.smoothing import rolling_median

NOISE_LIMIT = 0.25


SAFE_WINDOW_DECADES = 0.5
"""Width of the running median the safe rule reads the minimum from, in decades of rate."""


SAFE_SEARCH_DECADES = 3.0
"""The safe rule looks for the minimum within this many decades below the stop."""


SAFE_DIVISOR = 1.5
"""The safe rate is the (lag-corrected) rate at the minimum divided by this (chosen on the quality
benchmark's tasks: bench/quality/DECISIONS.md)."""


def sweep_axis(rates) -> str:
    """"linear" if the rate grows by a constant step, else "log" (exponential sweeps)."""
    increments = np.diff(rates)
    if len(increments) >= 2 and np.all(increments > 0):
        spread = np.std(increments) / np.mean(increments)
        if spread < 1e-3:
            return "linear"
    return "log"


def steepest_descent(axis_values, smoothed, steps, rates, *, settle: int = 0) -> Suggestion | None:
    """Most negative slope of the smoothed loss against the sweep's axis
    (log10(rate) for exponential sweeps, the rate for linear ones), after the
    first `settle` points and before its minimum.

    Slopes are central differences over the whole curve, so the drop into the
    minimum is not mistaken for the steepest part of the descent. `settle`:
    the smoother's warm-up (a debiased EMA's first time constant), where it
    follows single batches and its slope is noise.
    """
    lowest = int(np.nanargmin(smoothed))
    if lowest < settle + 2:
        return None
    # A staircase (a rate held for several steps) repeats axis values: slopes
    # are taken over the last point of each rate.
    distinct = np.append(np.diff(axis_values) > 0, True)[:lowest]
    if distinct.sum() < 3:
        return None
    kept = np.flatnonzero(distinct)
    slopes = np.full(lowest, np.nan)
    slopes[kept] = np.gradient(smoothed[kept], axis_values[kept])
    slopes[:settle] = np.nan
    if np.isnan(slopes).all():
        return None
    i = int(np.nanargmin(slopes))
    if not slopes[i] < 0:
        return None
    return Suggestion("steepest", float(rates[i]), int(steps[i]), float(smoothed[i]))


def min_loss_div10(smoothed, steps, rates) -> Suggestion:
    """The rate at the minimum smoothed loss, divided by 10."""
    i = int(np.nanargmin(smoothed))
    return Suggestion("min_loss_div10", float(rates[i]) / 10.0, int(steps[i]), float(smoothed[i]))


def longest_valley(smoothed, steps, rates) -> Suggestion | None:
    """fastai's valley rule: the longest strictly falling subsequence of the
    loss marks the valley; the rate about halfway down it is suggested.

    O(n log n) (patience sorting) instead of fastai's O(n^2) loop.
    """
    n = len(smoothed)
    # Patience sorting on the negated losses: tails[k] is the smallest last key
    # of a rising run of length k + 1. A run longer than any before appears
    # exactly when a key is appended, so the last append marks the first end
    # of a longest run (fastai keeps the first).
    tails: list[float] = []
    append, find = tails.append, bisect.bisect_left
    end = -1
    for i, key in enumerate((-np.asarray(smoothed, dtype=np.float64)).tolist()):
        k = find(tails, key)
        if k == len(tails):
            append(key)
            end = i
        else:
            tails[k] = key
    if len(tails) < 3:
        return None
    start = end - len(tails)
    sections = (end - start) / 3
    i = max(0, min(n - 1, start + int(sections) + int(sections / 2)))
    return Suggestion("valley", float(rates[i]), int(steps[i]), float(smoothed[i]))


def lag_shift(growth: float, momentum_lag: float) -> float:
    """The factor by which momentum shifts a sweep's curve to higher rates:

        shift = min(growth**lag, 1 + lag),   lag = beta / (1 - beta)

    growth**lag is the first-order shift of a response `lag` steps late; it
    is bounded by 1 / (1 - beta) = 1 + lag, the most momentum can shift it
    (the weights of the rates momentum sums, beta**k / growth**k, add up to
    at least 1). The bound matters at high momentum or few steps (momentum
    0.99 on a 100-step sweep over 8 decades: 1e8 unbounded, 100 bounded).
    """
    lag = max(momentum_lag, 0.0)
    return min(growth**lag, 1.0 + lag)


def safe_rate(rates, losses, steps, *, momentum_lag: float = 0.0) -> tuple[Suggestion, float, float] | None:
    """The safe rule: (its suggestion, the lag-corrected rate at the minimum,
    the rate at the minimum as swept).

        r_min  = rate at the minimum of median(loss over SAFE_WINDOW_DECADES of rate),
                 searched over rates >= last rate / 10**SAFE_SEARCH_DECADES
        r_safe = r_min / lag_shift(growth, momentum_lag) / SAFE_DIVISOR

    where growth is the sweep's rate factor per step. The running median
    ignores single spikes and noise that an average follows; it is centered,
    so the minimum is not shifted toward later (higher) rates. The search
    window keeps a noisy flat start from passing for the minimum (the
    minimum sits within a decade or two of the stop on every benchmark task).
    An optimizer with momentum (SGD's momentum, Adam's beta_1) responds to
    the rate about beta/(1-beta) steps late, which shifts the curve to higher
    rates (`lag_shift`); that shift is taken out. Repeated rates (a
    staircase) are fine: only the rates' span and order are used.
    """
    rates = np.asarray(rates, dtype=np.float64)
    if len(rates) < 3 or rates[-1] <= rates[0]:
        return None
    decades = np.log10(rates[-1] / rates[0])
    per_decade = (len(rates) - 1) / decades
    window = round(SAFE_WINDOW_DECADES * per_decade)
    first = int(np.searchsorted(rates, rates[-1] / 10.0**SAFE_SEARCH_DECADES))  # rates ascend
    median = rolling_median(losses, window, at=np.arange(first, len(rates)))
    lowest = first + int(np.argmin(np.where(np.isfinite(median), median, np.inf)))
    growth = (rates[-1] / rates[0]) ** (1.0 / (len(rates) - 1)) if sweep_axis(rates) == "log" else 1.0
    corrected = float(rates[lowest]) / lag_shift(growth, momentum_lag)
    rate = corrected / SAFE_DIVISOR
    at = int(np.clip(np.searchsorted(rates, rate), 0, len(rates) - 1))
    median_at = median[at - first] if at >= first else rolling_median(losses, window, at=[at])[0]
    return Suggestion("safe", rate, int(steps[at]), float(median_at)), corrected, float(rates[lowest])


def _noise(losses, smoothed_centered) -> float:
    """Typical raw-vs-smooth deviation, relative to the loss's total drop."""
    drop = np.nanmax(smoothed_centered) - np.nanmin(smoothed_centered)
    deviation = np.nanmedian(np.abs(losses - smoothed_centered))
    return float(deviation / drop) if drop > 0 else math.inf


def recommend(
    suggestions, swept: tuple[float, float], *, extra_caveats=(), ceiling: float | None = None
) -> Recommendation | None:
    """The rate to train with, the range the rules span, and caveats.

    The rate is the safe rule's when it applies (see `safe_rate`), else the
    geometric median of the others. The range is the rules' span, its top
    capped at `ceiling` (the lag-corrected minimum: no rule's rate beyond
    it is offered). Rate and range are clipped to the swept range: a rate
    below it (the minimum within a decade or so of the start) says min_lr
    was too high. The rules' span is not a caveat by itself: they estimate
    different points (the steepest descent lies below the minimum, the
    minimum / 10 an order of magnitude below it).
    """
    if not suggestions:
        return None
    caveats = list(extra_caveats)
    by_rule = {s.rule: s.learning_rate for s in suggestions}
    log_rates = np.log(list(by_rule.values()))
    if "safe" in by_rule:
        rate = by_rule["safe"]
    else:
        rate = float(np.exp(np.median(log_rates)))
        caveats.append("no safe rate: the curve has no clear minimum")
    low, high = float(np.exp(log_rates.min())), float(np.exp(log_rates.max()))
    if ceiling is not None:
        high = max(min(high, ceiling), rate)
    if rate < swept[0]:
        caveats.append(f"the recommended rate {rate:.3g} lies below the swept range: lower min_lr")
    rate, low, high = (float(np.clip(v, *swept)) for v in (rate, low, high))
    return Recommendation(rate, low, high, confident=not caveats, caveats=tuple(caveats))
