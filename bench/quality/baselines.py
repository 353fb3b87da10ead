"""Peer rules, ported faithfully, for the quality benchmark.

fastai (fastai/callback/schedule.py, v2: `valley`, `minimum`, `steep`): its
LRFinder records the loss smoothed by a debiased EMA with beta 0.98 (the
Recorder's `smooth_loss`), stops once that exceeds 4x its best, and hands the
suggestion functions the points from `num_it // 10` to the fifth from last.
The three functions below are its code, in numpy.
"""

from __future__ import annotations

import numpy as np

from tb_lrfinder.core.smoothing import debiased_ema


def fastai_curve(rates, losses, num_it: int):
    """The (rates, smoothed losses) fastai's suggestion functions see."""
    smoothed = debiased_ema(losses, 0.98)
    stop = len(smoothed)
    best = np.inf
    for i, value in enumerate(smoothed):  # stop_div: past 4x the best smoothed loss, or NaN
        if not np.isfinite(value) or value > 4 * best:
            stop = i
            break
        best = min(best, value)
    rates, smoothed = np.asarray(rates)[:stop], smoothed[:stop]
    return rates[num_it // 10 : -5], smoothed[num_it // 10 : -5]


def valley(lrs, losses):
    """fastai's `valley`: about 2/3 down the longest falling stretch (O(n^2), as fastai)."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx])


def minimum(lrs, losses):
    """fastai's `minimum`: a tenth of the rate at the lowest loss."""
    return float(lrs[int(np.argmin(losses))]) / 10


def steep(lrs, losses):
    """fastai's `steep`: where the loss falls fastest against log(rate)."""
    grads = (losses[1:] - losses[:-1]) / (np.log(lrs[1:]) - np.log(lrs[:-1]))
    return float(lrs[int(np.argmin(grads))])


def fastai_rule(function):
    def rule(sweep):
        lrs, losses = fastai_curve(sweep["learning_rate"], sweep["loss"], sweep["num_steps"])
        if len(lrs) < 2:
            return None
        return function(lrs, losses)

    rule.__name__ = f"fastai_{function.__name__}"
    return rule
