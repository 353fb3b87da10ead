"""An optimizer's momentum as the steps its response lags the rate."""

from __future__ import annotations

from tb_lrfinder.core.errors import LRFinderError

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
