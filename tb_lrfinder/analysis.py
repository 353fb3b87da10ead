"""Suggestions and stop-point analysis of a range-test curve.

Input: a curve with columns step, learning_rate, loss: a pandas DataFrame or
any mapping of column names to arrays (see `runs.range_test_frame`).
Output: an `Analysis`, a frozen dataclass; nothing here prints or plots.

`find_stop` says where and why the sweep ended. Up to there, four rules read
the curve: `safe_rate` (the recommended rate: the minimum of a running median
of the raw loss, divided by SAFE_DIVISOR and by the optimizer's momentum
lag), `steepest_descent` and `min_loss_div10` (the source article's minimum
and maximum rates) and `longest_valley` (fastai's). `recommend` turns them
into a rate, a range and caveats (the curve noisy or short, its minimum
unclear, the loss never falling or never diverging); `combine` does so over
repeated sweeps. The README's "How a rate is chosen" gives the rules' regret
against a grid search, task by task.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from ._validation import fraction, int_at_least, numeric_column
from ._validation import stop_factor as checked_stop_factor
from .errors import LRFinderError
from .smoothing import centered_ema, debiased_ema, rolling_median, time_constant

MIN_POINTS = 8
"""Fewest usable points (before the stop) the rules need."""

DISAGREEMENT_FACTOR = 3.0
"""Rates further apart than this (two readings of the minimum, or repeated sweeps) lower confidence."""
SAME_ORDER_STEPS = 10
"""Repeated sweeps whose first this many smoothed losses agree to float32 precision saw the same batches."""
NOISE_LIMIT = 0.25

FLAT_TOLERANCE = 1e-5
"""A loss whose finite values all lie within this fraction of their median's size never moved
(`is_flat`): its wiggles are rounding, and no rule reads them."""

SAFE_WINDOW_DECADES = 0.5
"""Width of the running median the safe rule reads the minimum from, in decades of rate."""
SAFE_SEARCH_DECADES = 3.0
"""The safe rule looks for the minimum within this many decades below the stop."""
SAFE_DIVISOR = 1.5
"""The safe rate is the (lag-corrected) rate at the minimum divided by this (chosen on the quality
benchmark's tasks: bench/quality/DECISIONS.md)."""

# Stop reasons.
DIVERGED = "diverged"
NON_FINITE = "non_finite"
LAST_STEP = "last_step"
DATA_EXHAUSTED = "data_exhausted"
TOO_FEW_POINTS = "too_few_points"
NEVER_DIVERGED = (LAST_STEP, DATA_EXHAUSTED)
"""Stop reasons of a sweep that ran out of steps or data without diverging: the top of
its good range is unknown."""


@dataclass(frozen=True)
class Suggestion:
    """A rate one rule suggests, and the step (and loss) it was read at."""

    rule: str
    learning_rate: float
    step: int
    smoothed_loss: float


@dataclass(frozen=True)
class Recommendation:
    """The rate to train with, the range the rules span, and how much to trust it."""

    learning_rate: float
    low: float
    high: float
    confident: bool
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopPoint:
    """Where and why the sweep ended (or, for a log that ran on, should have)."""

    reason: str
    step: int
    learning_rate: float
    message: str


@dataclass(frozen=True)
class LossSummary:
    """Raw loss at the start and end, and the smoothed minimum (with its step and rate)."""

    start: float
    end: float
    minimum: float
    step_at_minimum: int
    rate_at_minimum: float


@dataclass(frozen=True)
class ValidationParting:
    """Where the validation loss (the overlay) stops following the training loss."""

    step: int
    learning_rate: float
    train_minimum_step: int
    message: str


@dataclass(frozen=True)
class Analysis:
    """Everything the post-processor concludes from one range-test curve."""

    stop: StopPoint
    losses: LossSummary | None
    steepest: Suggestion | None
    min_loss_div10: Suggestion | None
    valley: Suggestion | None
    recommended: Recommendation | None
    num_points: int
    swept: tuple[float, float]
    smoothing: float
    stop_factor: float
    smoothed: np.ndarray = field(repr=False, compare=False)
    validation: ValidationParting | None = None
    notes: tuple[str, ...] = ()
    safe: Suggestion | None = None
    momentum_lag: float = 0.0

    @property
    def suggestions(self) -> tuple[Suggestion, ...]:
        return tuple(s for s in (self.safe, self.steepest, self.min_loss_div10, self.valley) if s is not None)


def _validated_curve(curve):
    missing = {"step", "learning_rate", "loss"} - set(curve.keys())
    if missing:
        raise LRFinderError(f"range-test frame lacks column(s) {sorted(missing)}")
    steps = numeric_column("step", curve["step"], np.int64)
    rates = numeric_column("learning_rate", curve["learning_rate"], np.float64)
    losses = numeric_column("loss", curve["loss"], np.float64)
    if len(steps) == 0:
        raise LRFinderError("the range test has no points (no step has both a rate and a loss)")
    if not len(steps) == len(rates) == len(losses):
        raise LRFinderError(f"the curve's columns differ in length: step {len(steps)}, "
                            f"learning_rate {len(rates)}, loss {len(losses)}")
    if np.any(np.diff(steps) <= 0):
        raise LRFinderError("steps must be strictly increasing (use runs.range_test_frame to merge restarts)")
    if not np.all(np.isfinite(rates)) or np.any(rates <= 0):
        bad = int(steps[~(np.isfinite(rates) & (rates > 0))][0])
        raise LRFinderError(f"learning rate must be finite and > 0; step {bad} has {rates[steps == bad][0]!r}")
    if len(rates) > 1 and (np.any(np.diff(rates) < 0) or rates[-1] <= rates[0]):
        raise LRFinderError(
            "the learning rate does not increase over the run "
            f"({rates[0]:.3g} at step {steps[0]} to {rates[-1]:.3g} at step {steps[-1]}): "
            "this is not a range test, or the wrong tag was taken for the rate"
        )
    return steps, rates, losses


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
            "(training collapsed rather than exploded): the sweep had passed the usable range",
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


MAX_MOMENTUM_LAG = 1e6
"""The largest momentum lag taken as one (beta = 0.999999); a plan recording more is damaged."""


def checked_momentum_lag(value: object) -> float:
    """`value` as a momentum lag (a finite number in [0, MAX_MOMENTUM_LAG]), or raise naming it."""
    try:
        lag = float(value)
    except (TypeError, ValueError):
        raise LRFinderError(f"momentum_lag must be a number, got {value!r}") from None
    if not 0.0 <= lag <= MAX_MOMENTUM_LAG:  # NaN fails too
        raise LRFinderError(f"momentum_lag must be a finite number in [0, {MAX_MOMENTUM_LAG:g}], got {value!r}")
    return lag


def lag_of_momentum(beta: float) -> float:
    """Steps an optimizer with momentum `beta` (SGD's momentum, Adam's beta_1)
    lags the rate: beta / (1 - beta); 0 outside 0 < beta < 1."""
    return beta / (1.0 - beta) if 0.0 < beta < 1.0 else 0.0


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


def analyze(
    frame,
    *,
    smoothing: float = 0.9,
    stop_factor: float = 4.0,
    planned_steps: int | None = None,
    momentum_lag: float = 0.0,
    rate_is_step_size: bool = True,
) -> Analysis:
    """Suggestions, recommended rate and stop point of one range-test curve.

    Args:
      frame: columns step, learning_rate (> 0, increasing), loss (NaN allowed);
        optional val_loss and skipped_updates (NaN where absent). A pandas
        DataFrame or a mapping of column names to equally long arrays.
      smoothing: beta of the debiased EMA (the article's 0.9).
      stop_factor: divergence threshold on the smoothed loss (the article's 4).
      planned_steps: steps the sweep was meant to run; fewer means the data ran out.
      momentum_lag: steps the optimizer's response lags the rate (beta/(1-beta)
        for momentum or Adam's beta_1; 0 for plain SGD), taken out by the safe rule.
      rate_is_step_size: False for an optimizer whose rate scales the weights
        it sets (FTRL): the curve cannot show good constant rates, and the
        recommendation says so (not confident).

    Raises:
      LRFinderError: the frame is empty or its rates do not increase.
    """
    beta = fraction("smoothing", smoothing)
    stop_factor = checked_stop_factor(stop_factor)
    momentum_lag = checked_momentum_lag(momentum_lag)
    if planned_steps is not None:
        planned_steps = int_at_least("planned_steps", planned_steps, 1)
    steps, rates, losses = _validated_curve(frame)
    smoothed = debiased_ema(losses, beta)
    stop = find_stop(steps, rates, losses, smoothed, stop_factor=stop_factor, planned_steps=planned_steps, beta=beta)
    swept = (float(rates[0]), float(rates[-1]))
    # The rules look at the curve up to the stop, the stop point excluded.
    usable = int(np.searchsorted(steps, stop.step)) + (stop.reason in NEVER_DIVERGED)
    u_steps, u_rates, u_losses, u_smoothed = steps[:usable], rates[:usable], losses[:usable], smoothed[:usable]
    finite = np.isfinite(u_smoothed)
    losses_summary = None
    if finite.any():
        lowest = int(np.nanargmin(u_smoothed))
        losses_summary = LossSummary(
            float(losses[0]), float(losses[-1]), float(u_smoothed[lowest]), int(u_steps[lowest]), float(u_rates[lowest])
        )
    if finite.sum() < MIN_POINTS:
        stop_note = stop.message
        stop = StopPoint(
            TOO_FEW_POINTS, stop.step, stop.learning_rate,
            f"only {int(finite.sum())} usable points before the stop (the rules need {MIN_POINTS}); {stop_note}",
        )
        return Analysis(stop, losses_summary, None, None, None, None, len(losses), swept, beta, stop_factor, smoothed)

    if is_flat(u_losses):
        level = float(np.median(u_losses[np.isfinite(u_losses)]))
        note = (f"the loss never fell: it stayed at {level:.6g} (within {FLAT_TOLERANCE:g} of its size) over the "
                f"{int(finite.sum())} steps before the stop, so the curve shows no rate: check that the model can "
                "learn (trainable weights, a loss that depends on them) and that max_lr is high enough to move it")
        return Analysis(stop, losses_summary, None, None, None, None, len(losses), swept, beta, stop_factor, smoothed,
                        notes=(note,), momentum_lag=float(momentum_lag))
    u_steps, u_rates, u_losses, u_smoothed = u_steps[finite], u_rates[finite], u_losses[finite], u_smoothed[finite]
    axis = sweep_axis(rates)
    steepest = steepest_descent(u_rates if axis == "linear" else np.log10(u_rates), u_smoothed, u_steps, u_rates,
                                settle=time_constant(beta) if beta > 0 else 0)
    by_minimum = min_loss_div10(u_smoothed, u_steps, u_rates)
    valley = longest_valley(u_smoothed, u_steps, u_rates)
    safe, ceiling, median_minimum = safe_rate(u_rates, u_losses, u_steps, momentum_lag=momentum_lag) or (None,) * 3
    centered = centered_ema(u_losses, beta)
    caveats = []
    if stop.reason in NEVER_DIVERGED:
        caveats.append("the loss never diverged, so the top of the good range is unknown")
    if median_minimum is not None:
        # Two zero-lag smoothers locate the minimum; where they disagree, it is not well defined.
        smoothed_minimum = float(u_rates[int(np.nanargmin(centered))])
        apart = max(median_minimum / smoothed_minimum, smoothed_minimum / median_minimum)
        if apart > DISAGREEMENT_FACTOR:
            caveats.append(
                f"the loss's minimum is unclear: its running median is lowest at rate {median_minimum:.3g}, its "
                f"smoothed curve at {smoothed_minimum:.3g} ({apart:.1f}x apart, more than {DISAGREEMENT_FACTOR:g}x)"
            )
    if _noise(u_losses, centered) > NOISE_LIMIT:
        caveats.append("the loss is too noisy to read reliably (use more steps or a larger batch)")
    if len(u_losses) < 2 * MIN_POINTS:
        caveats.append(f"the curve is short ({len(u_losses)} usable points)")
    if losses_summary is not None and not losses_summary.minimum < u_smoothed[0] - 1e-12 * abs(u_smoothed[0]):
        caveats.append("the loss never fell below its starting value")
    if not rate_is_step_size:
        caveats.append("the optimizer's rate is not a step size (FTRL): the curve does not show where constant "
                       "rates train well; compare constant rates (verify=True searches the whole swept range)")
    rules = [s for s in (safe, steepest, by_minimum, valley) if s is not None]
    recommended = recommend(rules, swept, extra_caveats=caveats, ceiling=ceiling)
    validation = None
    if "val_loss" in frame.keys():
        validation = validation_parting(
            steps, rates, smoothed, numeric_column("val_loss", frame["val_loss"], np.float64), stop.step
        )
    notes = []
    if "skipped_updates" in frame.keys():
        skipped = numeric_column("skipped_updates", frame["skipped_updates"], np.float64)
        skipped = np.where(np.isnan(skipped), 0.0, skipped)
        if skipped.sum() > 0:
            where = steps[skipped > 0]
            notes.append(
                f"{int(skipped.sum())} update(s) were skipped for non-finite gradients (loss scaling) at "
                f"{len(where)} step(s), first at step {int(where[0])}: the loss scale adjusting, not divergence"
            )
    return Analysis(
        stop, losses_summary, steepest, by_minimum, valley, recommended, len(losses), swept, beta, stop_factor,
        smoothed, validation, tuple(notes), safe, float(momentum_lag),
    )


def combine(analyses) -> Recommendation | None:
    """One recommendation from sweeps of the same model on different data
    orders: the geometric median of their rates, but no higher than the
    lowest top of their ranges (past that, some sweep saw trouble); confident
    only when each is and their rates agree within DISAGREEMENT_FACTOR."""
    recommendations = [a.recommended for a in analyses if a.recommended is not None]
    if not recommendations:
        return None
    rates = np.array([r.learning_rate for r in recommendations])
    high = min(r.high for r in recommendations)
    rate = min(float(np.exp(np.median(np.log(rates)))), high)
    low = min(r.low for r in recommendations)
    caveats = []
    if len(recommendations) < len(analyses):
        caveats.append(f"{len(analyses) - len(recommendations)} of {len(analyses)} sweeps gave no rate")
    spread = float(rates.max() / rates.min())
    if spread > DISAGREEMENT_FACTOR:
        caveats.append(f"the repeated sweeps disagree by {spread:.1f}x (more than {DISAGREEMENT_FACTOR:g}x)")
    if len(analyses) > 1 and _same_batches(analyses):
        caveats.append("the repeated sweeps saw the same batches in the same order (their first losses are "
                       "equal), so they cannot show how the rate depends on it: give data that is reshuffled on "
                       "each pass (shuffle=True for arrays, a Dataset shuffled with reshuffle_each_iteration)")
    for r in recommendations:
        caveats += [c for c in r.caveats if c not in caveats]
    return Recommendation(rate, min(low, rate), high, confident=not caveats, caveats=tuple(caveats))


def _same_batches(analyses) -> bool:
    """Whether the sweeps' first `SAME_ORDER_STEPS` smoothed losses agree to float32 precision."""
    firsts = [np.asarray(a.smoothed[:SAME_ORDER_STEPS], dtype=np.float64) for a in analyses]
    n = min(len(f) for f in firsts)
    return n > 0 and all(np.allclose(f[:n], firsts[0][:n], rtol=1e-6, atol=0.0) for f in firsts[1:])


def validation_parting(steps, rates, smoothed, val_losses, stop_step: int) -> ValidationParting | None:
    """Where the validation loss bottoms out, compared with the training loss.

    Uses the validation points up to the stop, lightly smoothed (EMA, beta
    0.5: they are few). None when there are fewer than 3 such points.
    """
    mask = np.isfinite(val_losses) & (steps <= stop_step)
    if mask.sum() < 3:
        return None
    v_steps, v_rates = steps[mask], rates[mask]
    v_smoothed = debiased_ema(val_losses[mask], 0.5)
    lowest = int(np.nanargmin(v_smoothed))
    upto = steps <= stop_step
    train_lowest = int(steps[upto][np.nanargmin(np.where(np.isfinite(smoothed[upto]), smoothed[upto], np.inf))])
    step, rate = int(v_steps[lowest]), float(v_rates[lowest])
    if step < train_lowest:
        message = (
            f"the validation loss stops falling at step {step} (rate {rate:.3g}) while the training loss "
            f"falls until step {train_lowest}: over-fitting or instability shows there first; "
            f"prefer rates below {rate:.3g}"
        )
    else:
        message = (
            f"the validation loss follows the training loss to its minimum (validation minimum at step {step}, "
            f"rate {rate:.3g}; training minimum at step {train_lowest})"
        )
    return ValidationParting(step, rate, train_lowest, message)
