import numpy as np
import pytest

from tb_lrfinder import LRFinderError
from tb_lrfinder.core.smoothing import centered_ema, debiased_ema, rolling_median


def test_debiased_ema_matches_the_article_formula():
    x = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    beta, avg, expected = 0.9, 0.0, []
    for n, value in enumerate(x, start=1):
        avg = beta * avg + (1 - beta) * value
        expected.append(avg / (1 - beta**n))
    np.testing.assert_allclose(debiased_ema(x, 0.9), expected)
    assert debiased_ema(x, 0.9)[0] == 3.0  # debiased: no pull toward 0


def test_non_finite_points_are_carried_not_dropped():
    x = np.array([1.0, np.nan, 1.0, np.inf, 1.0])
    out = debiased_ema(x, 0.5)
    assert out.shape == x.shape
    assert np.isnan(out[1]) and np.isnan(out[3])
    np.testing.assert_allclose(out[[0, 2, 4]], 1.0)


def test_debiased_ema_equals_the_step_by_step_loop_on_random_curves():
    rng = np.random.default_rng(0)
    for beta in (0.0, 0.5, 0.9, 0.98):
        x = rng.lognormal(0.0, 2.0, 2000)
        x[rng.random(2000) < 0.05] = np.nan
        x[rng.random(2000) < 0.02] = np.inf
        expected, average, count = np.full(x.shape, np.nan), 0.0, 0
        for i, value in enumerate(x):
            if np.isfinite(value):
                count += 1
                average = beta * average + (1 - beta) * value
                expected[i] = average / (1 - beta**count)
        np.testing.assert_allclose(debiased_ema(x, beta), expected, rtol=1e-12)
    assert np.isnan(debiased_ema([np.nan, np.inf], 0.9)).all()


def test_centered_smoother_has_no_lag():
    x = np.where(np.arange(101) < 50, 1.0, 0.0)
    lagging, centered = debiased_ema(x, 0.9), centered_ema(x, 0.9)
    # The step sits between 49 and 50; the centered curve crosses 0.5 there,
    # the one-sided EMA several points later.
    assert abs(np.argmax(centered < 0.5) - 50) <= 1
    assert np.argmax(lagging < 0.5) >= 55


def test_beta_is_validated():
    with pytest.raises(LRFinderError, match="smoothing"):
        debiased_ema([1.0], 1.0)


def _naive_rolling_median(x, window):
    """pandas' centered rolling median with min_periods=1, NaN ignored, written out."""
    half = (max(1, int(window)) | 1) // 2
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        inside = x[max(0, i - half): i + half + 1]
        inside = inside[np.isfinite(inside)]
        if len(inside):
            out[i] = np.median(inside)
    return out


def test_rolling_median_equals_the_window_by_window_median():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(0, 120))
        x = rng.normal(size=n) * 10.0 ** rng.uniform(-3, 3) + rng.uniform(-5, 5)
        if rng.random() < 0.3:
            x = np.round(x)  # ties
        if n and rng.random() < 0.5:  # gaps, some windows with no finite point, even counts
            x[rng.random(n) < rng.uniform(0.0, 0.9)] = rng.choice([np.nan, np.inf, -np.inf])
        window = int(rng.integers(1, 2 * n + 3))
        expected = _naive_rolling_median(x, window)
        np.testing.assert_array_equal(rolling_median(x, window), expected)
        at = rng.integers(0, max(n, 1), size=7) if n else np.arange(0)
        np.testing.assert_array_equal(rolling_median(x, window, at=at), expected[at])


def test_rolling_median_ignores_spikes_and_keeps_steps():
    x = np.r_[np.full(50, 2.0), np.full(50, 1.0)]
    x[[10, 70]] = 100.0
    median = rolling_median(x, 11)
    assert median[10] == 2.0 and median[70] == 1.0  # single spikes vanish
    assert median[45] == 2.0 and median[54] == 1.0  # the step is not smeared
    assert np.isnan(rolling_median([np.nan, np.nan], 3)).all()


def test_the_moving_average_of_huge_losses_is_that_of_small_ones_scaled():
    from tb_lrfinder.core.smoothing import debiased_ema

    x = np.random.default_rng(1).uniform(1.0, 2.0, 3000)
    assert np.array_equal(debiased_ema(x * 2.0**1010), debiased_ema(x) * 2.0**1010)  # exact: a power of two
