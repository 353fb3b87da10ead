"""Argument checks that raise `LRFinderError` naming the bad argument."""

from __future__ import annotations

import math
import numbers

import numpy as np

from tb_lrfinder.core.errors import LRFinderError


def positive_float(name: str, value: object) -> float:
    """Return `value` as a finite float > 0, or raise naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LRFinderError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise LRFinderError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def stop_factor(value: object) -> float:
    """Return the divergence threshold as a finite float > 1, or raise naming it."""
    value = positive_float("stop_factor", value)
    if value <= 1.0:
        raise LRFinderError(f"stop_factor must be > 1, got {value!r}")
    return value


def int_at_least(name: str, value: object, minimum: int) -> int:
    """Return `value` as an int >= `minimum`, or raise naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise LRFinderError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise LRFinderError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def rate_range(min_lr: object, max_lr: object) -> tuple[float, float]:
    """Validate a sweep's bounds: 0 < min_lr < max_lr, both finite."""
    low = positive_float("min_lr", min_lr)
    high = positive_float("max_lr", max_lr)
    if high <= low:
        raise LRFinderError(
            f"max_lr must be greater than min_lr, got min_lr={low!r}, max_lr={high!r}"
        )
    return low, high


def fraction(name: str, value: object) -> float:
    """Return `value` as a float in [0, 1), or raise naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LRFinderError(f"{name} must be a number in [0, 1), got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise LRFinderError(f"{name} must be in [0, 1), got {value!r}")
    return value


def numeric_column(name: str, values: object, dtype) -> np.ndarray:
    """Return a column of numbers as a 1-D array of `dtype`, or raise naming the column."""
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise LRFinderError(f"column {name!r} must hold numbers: {exc}") from None
    if array.ndim != 1:
        raise LRFinderError(f"column {name!r} must be one-dimensional, got shape {array.shape}")
    return array
