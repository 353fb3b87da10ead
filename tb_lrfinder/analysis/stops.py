"""Where and why a sweep ended (`find_stop`), and whether a curve is flat."""

from __future__ import annotations

import numpy as np

from tb_lrfinder.analysis.types import (
    DATA_EXHAUSTED,
    DIVERGED,
    LAST_STEP,
    NON_FINITE,
    StopPoint,
)
from tb_lrfinder.core.divergence import diverged, floor_scales
from tb_lrfinder.core.smoothing import centered_ema, time_constant

FLAT_TOLERANCE = 1e-5
"""A loss whose finite values all lie within this fraction of their median's size never moved
(`is_flat`): its wiggles are rounding, and no rule reads them."""


def find_stop(steps, rates, losses, smoothed, *, stop_factor: float, planned_steps: int | None,
              beta: float = 0.9) -> StopPoint:
    """The first non-finite loss, or the first step whose smoothed loss (a
    debiased EMA with `beta`) exceeds the best so far by `stop_factor` or
    climbs back over CLIMB_BACK of its drop, or else the end of the log."""
    finite = np.isfinite(losses)
    first_bad = int(np.argmin(finite)) if not finite.all() else len(losses)
    best = np.fmin.accumulate(np.where(np.isfinite(smoothed), smoothed, np.inf))
    scales = floor_scales(losses, beta)
    rise = diverged(smoothed, best, stop_factor, scales)
    first_rise = int(np.argmax(rise)) if rise.any() else len(losses)
    if first_bad < len(losses) and first_bad <= first_rise:
        i = first_bad
        return StopPoint(
            NON_FINITE, int(steps[i]), float(rates[i]),
            f"the loss became {losses[i]} at step {steps[i]} (rate {rates[i]:.3g}): the sweep blew up there",
        )
    if first_rise < len(losses):
        i = first_rise
        passed = f"passed {stop_factor:g}x its best"
        if scales[i] > abs(best[i]):
            passed = (f"rose above its best by more than {stop_factor - 1:g}x the loss's size at the start "
                      f"({scales[i]:.3g}; the loss goes below zero, so {stop_factor:g}x its best has no floor to "
                      "count from)")
        return StopPoint(
            DIVERGED, int(steps[i]), float(rates[i]),
            f"the smoothed loss {passed} at step {steps[i]} "
            f"(rate {rates[i]:.3g}): the sweep diverged there, as a complete sweep should",
        )
    climb = None if is_flat(losses) else _first_climb_back(np.asarray(losses, dtype=np.float64), smoothed, beta)
    if climb is not None:
        i, lowest = climb
        return StopPoint(
            DIVERGED, int(steps[i]), float(rates[i]),
            f"the smoothed loss climbed back over half of its drop at step {steps[i]} (rate {rates[i]:.3g}) "
            f"after its minimum at rate {rates[lowest]:.3g}, without passing {stop_factor:g}x its best "
            "(training collapsed rather than exploded): the sweep had passed the usable range. The sweep "
            f"itself ran on past it, to step {steps[-1]}: this rule needs the curve's lowest point, known only "
            "afterwards, so it is applied when a sweep is read, and the points after it are not used",
        )
    i = len(losses) - 1
    if planned_steps is not None and len(losses) < planned_steps:
        return StopPoint(
            DATA_EXHAUSTED, int(steps[i]), float(rates[i]),
            f"the data ran out after {len(losses)} of {planned_steps} steps (rate {rates[i]:.3g}) "
            "before the loss diverged: give more data or fewer steps, or raise max_lr",
        )
    return StopPoint(
        LAST_STEP, int(steps[i]), float(rates[i]),
        f"the sweep reached its last step (rate {rates[i]:.3g}) without diverging: "
        "the result is inconclusive near the top of the range; raise max_lr to find it, and verify the rate "
        "(find_lr(verify=True)): a rate read from a sweep that never diverged is less reliable",
    )


CLIMB_BACK = 0.5
"""Fraction of the loss's drop that, regained after the minimum, counts as divergence."""


def _first_climb_back(losses, smoothed, beta: float) -> tuple[int, int] | None:
    """(index, index of the minimum) of the first point after the smoothed
    minimum that has climbed back more than CLIMB_BACK of the drop from the
    start to the minimum; None if the loss never does.

    The start is the median raw loss over the smoother's first time constant
    (1 / (1 - beta) points), and the minimum is looked for after it (within
    it the smoothed loss is a few raw points: a low first batch is not a
    drop). A drop counts only if it exceeds twice the raw loss's typical
    scatter (the median distance from its centered smoothing): a flat, noisy
    curve has not collapsed, it never fell.
    """
    window = time_constant(beta)
    later = smoothed[window:]
    if not np.isfinite(later).any():
        return None
    lowest = window + int(np.nanargmin(later))
    raw = losses[np.isfinite(losses)]
    start = np.median(raw[:window])
    drop = start - smoothed[lowest]
    scatter = np.median(np.abs(raw - centered_ema(raw, beta)))
    if not drop > 2.0 * scatter:  # (scatter >= 0: no drop at all is out too)
        return None
    after = np.nonzero(smoothed[lowest:] - smoothed[lowest] > CLIMB_BACK * drop)[0]
    return (lowest + int(after[0]), lowest) if after.size else None


def is_flat(losses) -> bool:
    """Whether the finite losses all lie within `FLAT_TOLERANCE` of their median's size
    (a model that does not learn, or a loss that ignores the weights); False without any."""
    finite = np.asarray(losses, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        return False
    spread = float(finite.max()) - float(finite.min())
    return spread <= FLAT_TOLERANCE * max(abs(float(np.median(finite))), float(np.finfo(np.float64).tiny))
