import itertools

import numpy as np
import pandas as pd
import pytest

from tb_lrfinder import LRFinderError
from tb_lrfinder.analysis.curve import analyze
from tb_lrfinder.analysis.rules import (
    SAFE_DIVISOR,
    SAFE_WINDOW_DECADES,
    lag_shift,
    longest_valley,
)
from tb_lrfinder.analysis.types import (
    DATA_EXHAUSTED,
    DIVERGED,
    LAST_STEP,
    NON_FINITE,
    TOO_FEW_POINTS,
)


def _frame(losses, min_lr=1e-6, max_lr=10.0):
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    rates = min_lr * (max_lr / min_lr) ** (np.arange(n) / n)
    return pd.DataFrame({"step": np.arange(n), "learning_rate": rates, "loss": losses})


def _valley_curve(n=200, scale=1.0, offset=0.0):
    """Flat, then a descent centred at log10(rate) = -3, a minimum near 1e-1, then a blow-up."""
    log_rates = np.log10(1e-6 * (10 / 1e-6) ** (np.arange(n) / n))
    descent = 1.0 / (1.0 + np.exp(-(log_rates + 3.0) * 3.0))  # 0 -> 1 around 1e-3
    blow_up = np.exp(np.clip((log_rates + 1.0) * 4.0, None, 50))  # rises after 1e-1
    return offset + scale * (2.0 - 1.5 * descent + 0.05 * blow_up)


def test_rules_on_a_known_curve():
    result = analyze(_frame(_valley_curve()), smoothing=0.0)  # beta 0: smoothed == raw
    assert result.stop.reason == DIVERGED
    assert result.steepest.learning_rate == pytest.approx(1e-3, rel=0.15)
    minimum = result.losses.rate_at_minimum
    assert 1e-2 < minimum < 1e-1
    assert result.min_loss_div10.learning_rate == pytest.approx(minimum / 10)
    # On a noise-free curve the falling stretch starts at step 0; the valley
    # rule takes the point halfway down it (in steps).
    assert result.valley.step == pytest.approx(result.losses.step_at_minimum / 2, abs=2)
    rec = result.recommended
    assert rec.low <= rec.learning_rate <= rec.high
    assert rec.low == pytest.approx(min(s.learning_rate for s in result.suggestions), rel=1e-12)


def test_scale_and_sign_do_not_change_the_rates():
    base = analyze(_frame(_valley_curve()), smoothing=0.0)
    for scale, offset in ((1e-4, 0.0), (1e4, 0.0), (1.0, -5.0)):
        other = analyze(_frame(_valley_curve(scale=scale, offset=offset)), smoothing=0.0)
        assert other.recommended.learning_rate == pytest.approx(base.recommended.learning_rate)
        assert other.stop.step == base.stop.step or offset != 0.0


def test_stop_at_first_nan():
    losses = _valley_curve()
    losses[150] = np.nan
    result = analyze(_frame(losses))
    assert result.stop.reason == NON_FINITE and result.stop.step == 150
    assert "nan" in result.stop.message


def test_divergence_step_is_where_smoothed_loss_passes_4x_best():
    losses = np.concatenate([np.linspace(2.0, 0.5, 50), [0.5, 1.9, 2.1, 9.0]])
    result = analyze(_frame(losses), smoothing=0.0)
    assert result.stop.reason == DIVERGED and result.stop.step == 52  # 5.0 > 4 * 0.5


def test_reaching_the_last_step_is_inconclusive():
    result = analyze(_frame(np.linspace(2.0, 1.0, 60)))
    assert result.stop.reason == LAST_STEP
    assert "raise max_lr" in result.stop.message
    assert not result.recommended.confident


def test_data_exhausted_needs_planned_steps():
    result = analyze(_frame(np.linspace(2.0, 1.0, 60)), planned_steps=100)
    assert result.stop.reason == DATA_EXHAUSTED and "60 of 100" in result.stop.message


def test_too_few_points():
    result = analyze(_frame([1.0, 0.9, 0.8]))
    assert result.stop.reason == TOO_FEW_POINTS
    assert result.recommended is None and result.steepest is None


def test_a_clear_valley_is_confident():
    result = analyze(_frame(_valley_curve()))
    assert result.stop.reason == DIVERGED
    assert result.recommended.confident and result.recommended.caveats == ()


def test_an_unclear_minimum_lowers_confidence():
    # A broad valley around 1e-2, and three outliers far below it at 1e-4: the running
    # median ignores them, a smoothed curve follows them there.
    log_rates = np.log10(_rates(140, 1e-6, 10.0))
    losses = 1.0 + 0.5 * (log_rates + 2.0) ** 2
    losses = np.where(log_rates > 0.5, 50.0, losses)  # diverges
    dip = int(np.searchsorted(log_rates, -4.0))
    losses[dip : dip + 3] = -40.0
    result = analyze(_frame(losses, 1e-6, 10.0))
    assert not result.recommended.confident
    assert any("minimum is unclear" in c for c in result.recommended.caveats)


def test_learning_rate_must_increase():
    frame = _frame(np.linspace(2, 1, 20))
    frame["learning_rate"] = frame["learning_rate"].to_numpy()[::-1]
    with pytest.raises(LRFinderError, match="does not increase"):
        analyze(frame)
    frame["learning_rate"] = 0.1
    with pytest.raises(LRFinderError, match="does not increase"):
        analyze(frame)


def test_valley_rule_matches_fastai_quadratic_reference():
    rng = np.random.default_rng(5)

    def fastai_valley(values):  # fastai.callback.schedule.valley, verbatim logic
        n = len(values)
        max_start, max_end, lds = 0, 0, [1] * n
        for i in range(1, n):
            for j in range(0, i):
                if values[i] < values[j] and lds[i] < lds[j] + 1:
                    lds[i] = lds[j] + 1
                if lds[max_end] < lds[i]:
                    max_end = i
                    max_start = max_end - lds[max_end]
        sections = (max_end - max_start) / 3
        return max_start + int(sections) + int(sections / 2)

    for trial in range(40):
        n = int(rng.integers(3, 120))
        losses = np.cumsum(rng.normal(size=n))
        if trial % 2:
            losses = np.round(losses)  # ties: the falling run must fall strictly
        steps = np.arange(n)
        got = longest_valley(losses, steps, 10.0 ** (steps / 10))
        if got is not None:  # None only where the longest falling run is shorter than 3
            assert got.step == fastai_valley(list(losses))
        else:
            assert not any(a > b > c for a, b, c in itertools.combinations(losses, 3))


def test_recommendation_stays_inside_the_swept_range():
    # Minimum right at the start: min_loss/10 points below the sweep.
    losses = np.concatenate([[1.0, 0.5, 0.4], np.linspace(0.45, 1.5, 40)])
    result = analyze(_frame(losses, min_lr=1e-3, max_lr=1.0), smoothing=0.0)
    assert result.min_loss_div10.learning_rate < 1e-3
    rec = result.recommended
    assert rec.low == pytest.approx(1e-3) and 1e-3 <= rec.learning_rate <= rec.high
    assert any("lower min_lr" in c for c in rec.caveats)


def test_collapse_to_chance_level_counts_as_divergence():
    # Falls from 2.3 to 1.0, then climbs back to 2.3 (dead network) without reaching 4x the best.
    losses = np.concatenate([np.linspace(2.3, 1.0, 60), np.linspace(1.0, 2.3, 30), np.full(20, 2.3)])
    result = analyze(_frame(losses), smoothing=0.0)
    assert result.stop.reason == DIVERGED
    assert result.stop.step == 60 + int(np.argmax(np.linspace(1.0, 2.3, 30) - 1.0 > 0.65))
    assert "collapsed" in result.stop.message and "raise max_lr" not in result.stop.message
    # The online stop rule cannot know the curve's minimum: the analysis says the sweep ran on, and to where.
    assert "The sweep itself ran on past it, to step 109" in result.stop.message


def test_a_flat_noisy_start_is_not_taken_for_a_collapse():
    # Nothing learned at the sweep's low rates: the loss is noise around a level, so its
    # smoothed minimum comes early by chance and "climbs back" within the noise.
    rng = np.random.default_rng(0)
    losses = 4.0 + rng.normal(0.0, 0.8, 100)
    losses[90:] = np.linspace(6.0, 10.0, 10)  # it rises at the end
    result = analyze(_frame(losses))
    assert result.stop.reason != TOO_FEW_POINTS
    assert result.stop.step >= 90 or result.stop.reason == LAST_STEP
    assert result.recommended is not None and not result.recommended.confident


def test_a_low_first_batch_is_not_a_drop():
    # A flat, noisy curve whose first batch happens to be its lowest point: the debiased EMA
    # starts at that one point, so the smoothed loss "climbs back" at step 1. Not a collapse.
    rng = np.random.default_rng(1)
    losses = 1.6 + rng.normal(0.0, 0.45, 100)
    losses[0] = 0.6
    result = analyze(_frame(losses))
    assert result.stop.reason == LAST_STEP
    assert result.recommended is not None and not result.recommended.confident


def test_a_loss_below_zero_diverges_past_its_start_size_and_says_so():
    # beta 0: smoothed == raw, the start's size is |2.0|. From a best of -0.5, 4x would be
    # passed at 1.0; measured against the start's size, the rise must exceed 3 x 2.0.
    losses = [2.0, -0.5, -0.45, -0.4, -0.42, -0.38, -0.41, -0.4, -0.39, 1.0, 5.0, 7.0]
    stop = analyze(_frame(losses), smoothing=0.0).stop
    assert stop.reason == DIVERGED and stop.step == 11
    assert "goes below zero" in stop.message


def test_validation_parting_point():
    n = 100
    train = np.linspace(2.0, 0.5, n)
    val = np.full(n, np.nan)
    val[::10] = np.concatenate([np.linspace(2.0, 1.0, 5), np.linspace(1.1, 2.0, 5)])  # bottoms out at step 40
    frame = _frame(train).assign(val_loss=val)
    result = analyze(frame, smoothing=0.0)
    assert result.validation.step in (40, 50) and result.validation.train_minimum_step == 99
    assert "stops falling" in result.validation.message
    assert analyze(_frame(train)).validation is None


def _rates(n, min_lr=1e-6, max_lr=10.0):
    return min_lr * (max_lr / min_lr) ** (np.arange(n) / n)


def test_safe_rule_is_the_median_minimum_divided_and_lag_corrected():
    losses = _valley_curve()
    rates = _rates(len(losses))
    result = analyze(_frame(losses), smoothing=0.0)
    stop = result.stop.step
    per_decade = (stop - 1) / np.log10(rates[stop - 1] / rates[0])
    window = int(round(SAFE_WINDOW_DECADES * per_decade)) | 1
    median = pd.Series(losses[:stop]).rolling(window, center=True, min_periods=1).median()
    at_minimum = rates[int(np.argmin(median))]
    assert result.safe.learning_rate == pytest.approx(at_minimum / SAFE_DIVISOR)
    assert result.recommended.learning_rate == result.safe.learning_rate
    assert result.recommended.high <= at_minimum  # the range never reaches past the minimum
    # Momentum 0.9 (lag 9 steps) moves the rate down by the growth over 9 steps.
    lagged = analyze(_frame(losses), smoothing=0.0, momentum_lag=9.0)
    growth = rates[1] / rates[0]
    assert lagged.safe.learning_rate == pytest.approx(result.safe.learning_rate / growth**9)
    # Momentum 0.99 (lag 99): growth**99 would be about 3000 here; momentum cannot shift the curve by
    # more than 1 / (1 - 0.99) = 100.
    high = analyze(_frame(losses), smoothing=0.0, momentum_lag=99.0)
    assert growth**99 > 1000
    assert high.safe.learning_rate == pytest.approx(result.safe.learning_rate / 100.0)


def test_a_rate_that_is_not_a_step_size_makes_the_recommendation_unconfident():
    """FTRL's curve cannot show good constant rates: the same rate, flagged."""
    plain = analyze(_frame(_valley_curve()))
    ftrl = analyze(_frame(_valley_curve()), rate_is_step_size=False)
    assert plain.recommended.confident
    assert ftrl.recommended.learning_rate == plain.recommended.learning_rate
    assert not ftrl.recommended.confident
    assert any("not a step size" in c for c in ftrl.recommended.caveats)


def test_the_lag_shift_is_first_order_and_bounded_by_momentum():
    assert lag_shift(1.1, 0.0) == 1.0
    assert lag_shift(1.05, 9.0) == pytest.approx(1.05**9)  # 1.55 < 10
    assert lag_shift(1.5, 9.0) == 10.0  # 1.5**9 = 38 > 1 / (1 - 0.9)
    assert lag_shift(1.2, 99.0) == 100.0
    assert lag_shift(1.2, -1.0) == 1.0  # no momentum, no shift


def test_safe_rule_on_a_noisy_regression_like_curve():
    rng = np.random.default_rng(3)
    n = 100
    log_rates = np.log10(_rates(n, 1e-7, 10.0))
    clean = 20.0 - 12.0 / (1 + np.exp(-(log_rates + 2.0) * 4))  # falls from 20 to 8 around 1e-2
    clean = clean + np.exp(np.clip((log_rates + 0.5) * 6, None, 30))  # explodes past ~0.3
    noisy = clean * rng.lognormal(0.0, 0.45, n)  # batch-32 MSE: multiplicative noise, spikes
    result = analyze(_frame(noisy, 1e-7, 10.0))
    rate = result.recommended.learning_rate
    assert rate > 1e-7 * 10  # never the sweep's first rates
    assert 1e-3 <= rate <= 0.1  # on the floor of the descent, below the explosion


def test_a_loss_that_never_falls_gives_no_confident_rate():
    rng = np.random.default_rng(4)
    losses = 2.3 + 0.01 * rng.standard_normal(100)
    losses[90:] = np.linspace(3, 40, 10)
    result = analyze(_frame(losses, 1e-7, 10.0))
    assert not result.recommended.confident
    assert result.recommended.learning_rate > 1e-7


def test_a_cliff_right_after_the_minimum_keeps_the_rate_below_it():
    n = 120
    log_rates = np.log10(_rates(n, 1e-5, 10.0))
    losses = 2.3 - 2.0 / (1 + np.exp(-(log_rates + 2.5) * 3))
    cliff = int(np.searchsorted(log_rates, -1.0))  # the minimum, then training collapses at once
    losses[cliff:] = 2.3
    result = analyze(_frame(losses, 1e-5, 10.0), smoothing=0.0)
    assert result.stop.reason == DIVERGED
    # at least the safe divisor below the cliff (less 5% for the grid of rates)
    assert result.recommended.learning_rate <= 10 ** log_rates[cliff] / (0.95 * SAFE_DIVISOR)
    assert result.recommended.high < 10 ** log_rates[cliff]


def test_the_steepest_descent_is_not_read_in_the_smoother_s_warm_up():
    """A debiased EMA follows single batches for its first 1/(1-beta) points: one noisy first batch
    made the start the steepest part of 197 of the quality benchmark's 560 sweeps (rates near 1e-7,
    where nothing is learned), and the range's low end with it."""
    losses = _valley_curve()
    losses[0] += 0.5  # a first batch well above the rest
    result = analyze(_frame(losses))
    assert 5e-4 < result.steepest.learning_rate < 5e-3  # the descent around 1e-3 (the EMA lags it a little)
    assert result.recommended.low > 1e-4
    raw = analyze(_frame(losses), smoothing=0.0)  # no smoother, no warm-up: the first slope is read
    assert raw.steepest.step == 0


def test_shifted_and_negative_losses_give_the_same_safe_rate():
    base = analyze(_frame(_valley_curve()))
    for scale, offset in ((1e-3, 0.0), (1e3, 0.0), (1.0, -10.0), (0.5, 100.0)):
        other = analyze(_frame(_valley_curve(scale=scale, offset=offset)))
        assert other.safe.learning_rate == pytest.approx(base.safe.learning_rate)


def test_a_staircase_rate_is_read_by_its_steps_not_as_zero_slopes():
    losses = _valley_curve(n=240)
    rates = np.repeat(_rates(60), 4)  # each rate held for 4 steps
    frame = pd.DataFrame({"step": np.arange(240), "learning_rate": rates, "loss": losses})
    result = analyze(frame, smoothing=0.0)
    assert result.steepest is not None and result.steepest.step > 0
    assert result.recommended.learning_rate > rates[0] * 10


def test_a_curve_of_non_numbers_is_refused_naming_the_column():
    curve = {"step": [0, 1, 2], "learning_rate": [1e-3, 1e-2, "fast"], "loss": [1.0, 0.5, 0.4]}
    with pytest.raises(LRFinderError, match="'learning_rate' must hold numbers"):
        analyze(curve)
    with pytest.raises(LRFinderError, match="differ in length"):
        analyze({"step": [0, 1, 2], "learning_rate": [1e-3, 1e-2, 1e-1], "loss": [1.0, 0.5]})


@pytest.mark.parametrize("wiggle", [0.0, 1e-7])
def test_a_flat_loss_never_fell_and_gives_no_rate(wiggle):
    # A loss that does not depend on the weights, logged in float32: constant, or rounding wiggles.
    rng = np.random.default_rng(5)
    losses = np.float32(0.6931) + np.float32(wiggle) * rng.integers(-1, 2, 100)
    result = analyze(_frame(losses, 1e-7, 10.0))
    assert result.stop.reason == LAST_STEP  # not "diverged ... training collapsed"
    assert result.recommended is None and result.suggestions == ()
    assert any("never fell" in note for note in result.notes)


def test_a_flat_loss_that_blows_up_still_diverges():
    losses = np.full(100, 0.6931)
    losses[90:] = np.linspace(3, 40, 10)
    assert analyze(_frame(losses, 1e-7, 10.0)).stop.reason == DIVERGED


def test_losses_near_the_largest_float_give_the_rates_of_small_ones():
    curve = _valley_curve()
    small = analyze(_frame(curve))
    huge = analyze(_frame(curve * 2.0**1000))  # ~1e301: the moving average must not overflow
    assert np.isfinite(huge.smoothed).all()
    assert huge.stop == small.stop
    assert huge.recommended.learning_rate == small.recommended.learning_rate
    assert huge.recommended.confident == small.recommended.confident


@pytest.mark.parametrize("lag", [1e30, float("nan"), -1.0, float("inf")])
def test_a_momentum_lag_that_is_not_one_is_refused_naming_it(lag):
    with pytest.raises(LRFinderError, match="momentum_lag"):
        analyze(_frame(_valley_curve()), momentum_lag=lag)
