"""The sweep's learning-rate schedule: a growing Keras `ExponentialDecay`.

The range test needs no special optimizer or callback to drive the rate: an
`ExponentialDecay` whose decay rate is greater than 1 *grows* the rate, and is a
stock, serializable Keras schedule that any optimizer, `fit` or custom loop
accepts.
"""

from __future__ import annotations

import numpy as np

from ._validation import int_at_least, rate_range
from .errors import LRFinderError

MODES = ("exponential", "linear")


def _mode(mode: str) -> str:
    if mode not in MODES:
        raise LRFinderError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def sweep_rates(min_lr: float, max_lr: float, num_steps: int, *, mode: str = "exponential") -> np.ndarray:
    """Rates of a sweep at steps 0 .. num_steps-1, as float64.

    exponential: rate(step) = min_lr * (max_lr / min_lr) ** (step / num_steps)
    linear:      rate(step) = min_lr + (max_lr - min_lr) * step / num_steps

    The closed form of `lr_range_schedule`; it needs no TensorFlow.
    """
    low, high = rate_range(min_lr, max_lr)
    steps = int_at_least("num_steps", num_steps, 2)
    fraction = np.arange(steps, dtype=np.float64) / steps
    if _mode(mode) == "linear":
        return low + (high - low) * fraction
    return low * (high / low) ** fraction


def lr_range_schedule(
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    *,
    mode: str = "exponential",
    gradient_accumulation_steps: int | None = None,
):
    """A Keras schedule that sweeps the rate from min_lr to max_lr.

    exponential (default): rate(step) = min_lr * (max_lr / min_lr) ** (step / num_steps)
    linear:                rate(step) = min_lr + (max_lr - min_lr) * step / num_steps

    i.e. `keras.optimizers.schedules.ExponentialDecay(initial_learning_rate=min_lr,
    decay_steps=num_steps, decay_rate=max_lr / min_lr)`: a decay rate > 1 makes
    the rate grow by the constant factor (max_lr/min_lr)**(1/num_steps) each
    optimizer step. At step num_steps the rate reaches max_lr.

    The linear mode (a `PolynomialDecay` of power 1 running upward) spends its
    steps evenly in rate, for a close look at a range already known to be
    good; the exponential mode covers many decades.

    Args:
      min_lr: rate at step 0 (> 0).
      max_lr: rate at step `num_steps` (> min_lr).
      num_steps: optimizer steps the sweep spans (>= 2).
      mode: "exponential" or "linear".
      gradient_accumulation_steps: for an optimizer that accumulates k
        micro-batches per update (Keras's `gradient_accumulation_steps`): its
        schedule sees micro-steps, so the rate is held for k of them and
        `step` in the formulas counts applied updates (exponential mode only).

    Returns:
      A stock Keras schedule (`ExponentialDecay` or `PolynomialDecay`); it
      saves and loads with the model.

    Raises:
      LRFinderError: an argument is out of range (the message names it).

    Example:

    >>> import keras
    >>> from tb_lrfinder import lr_range_schedule
    >>> schedule = lr_range_schedule(1e-6, 1.0, num_steps=60)
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)
    >>> round(float(schedule(60)), 6)
    1.0
    """
    low, high = rate_range(min_lr, max_lr)
    steps = int_at_least("num_steps", num_steps, 2)
    import keras

    if gradient_accumulation_steps:
        k = int_at_least("gradient_accumulation_steps", gradient_accumulation_steps, 1)
        if _mode(mode) != "exponential":
            raise LRFinderError("gradient_accumulation_steps needs mode='exponential'")
        return keras.optimizers.schedules.ExponentialDecay(
            initial_learning_rate=low,
            decay_steps=k,
            decay_rate=(high / low) ** (1.0 / steps),
            staircase=True,
            name="lr_range_test_accumulated",
        )
    if _mode(mode) == "linear":
        return keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate=low,
            decay_steps=steps,
            end_learning_rate=high,
            power=1.0,
            name="lr_range_test_linear",
        )
    return keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=low,
        decay_steps=steps,
        decay_rate=high / low,
        staircase=False,
        name="lr_range_test",
    )
