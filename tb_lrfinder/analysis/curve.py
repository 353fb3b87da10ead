"""`analyze` a range-test curve, and `combine` repeated sweeps' recommendations.

Input: a curve with columns step, learning_rate, loss: a pandas DataFrame or any mapping of
column names to arrays. Output: an `Analysis`, a frozen dataclass; nothing here prints or plots.
`find_stop` says where and why the sweep ended; up to there the rules of `rules` read the curve."""

from __future__ import annotations

import numpy as np

from tb_lrfinder.analysis.rules import (
    NOISE_LIMIT,
    _noise,
    longest_valley,
    min_loss_div10,
    recommend,
    safe_rate,
    steepest_descent,
    sweep_axis,
)
from tb_lrfinder.analysis.stops import FLAT_TOLERANCE, find_stop, is_flat
from tb_lrfinder.analysis.types import (
    NEVER_DIVERGED,
    TOO_FEW_POINTS,
    Analysis,
    LossSummary,
    Recommendation,
    StopPoint,
    ValidationParting,
)
from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.core.momentum import checked_momentum_lag
from tb_lrfinder.core.smoothing import centered_ema, debiased_ema, time_constant
from tb_lrfinder.core.validation import fraction, int_at_least, numeric_column
from tb_lrfinder.core.validation import stop_factor as checked_stop_factor

MIN_POINTS = 8
"""Fewest usable points (before the stop) the rules need."""


DISAGREEMENT_FACTOR = 3.0
"""Rates further apart than this (two readings of the minimum, or repeated sweeps) lower confidence."""


SAME_ORDER_STEPS = 10
"""Repeated sweeps whose first this many smoothed losses agree to float32 precision saw the same batches."""


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
    caveats = _caveats(stop, u_rates, u_losses, u_smoothed, centered, median_minimum, losses_summary,
                       rate_is_step_size=rate_is_step_size)
    rules = [s for s in (safe, steepest, by_minimum, valley) if s is not None]
    recommended = recommend(rules, swept, extra_caveats=caveats, ceiling=ceiling)
    validation = None
    if "val_loss" in frame.keys():
        validation = validation_parting(
            steps, rates, smoothed, numeric_column("val_loss", frame["val_loss"], np.float64), stop.step
        )
    notes = _skipped_updates_notes(frame, steps)
    return Analysis(
        stop, losses_summary, steepest, by_minimum, valley, recommended, len(losses), swept, beta, stop_factor,
        smoothed, validation, tuple(notes), safe, float(momentum_lag),
    )


def _caveats(stop, u_rates, u_losses, u_smoothed, centered, median_minimum, losses_summary, *,
             rate_is_step_size: bool) -> list[str]:
    """Why the recommendation read from the usable part of a curve may not be trusted (none: it may)."""
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
    return caveats


def _skipped_updates_notes(frame, steps) -> list[str]:
    """A note where a loss-scale optimizer skipped updates (column skipped_updates, NaN where absent)."""
    if "skipped_updates" not in frame.keys():
        return []
    skipped = numeric_column("skipped_updates", frame["skipped_updates"], np.float64)
    skipped = np.where(np.isnan(skipped), 0.0, skipped)
    if skipped.sum() == 0:
        return []
    where = steps[skipped > 0]
    return [f"{int(skipped.sum())} update(s) were skipped for non-finite gradients (loss scaling) at "
            f"{len(where)} step(s), first at step {int(where[0])}: the loss scale adjusting, not divergence"]


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
