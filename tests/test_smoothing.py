import numpy as np
import pytest

from tb_lrfinder import LRFinderError
from tb_lrfinder.smoothing import centered_ema, debiased_ema


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
