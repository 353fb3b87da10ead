"""Learning-rate schedules: the sweep's, and 1cycle and cyclical ones built from its result.

The range test needs no special optimizer or callback to drive the rate: an
`ExponentialDecay` whose decay rate is greater than 1 *grows* the rate, and is a
stock, serializable Keras schedule that any optimizer, `fit` or custom loop
accepts (`lr_range_schedule`; `sweep_rates` is its closed form).

From a result to training: `OneCycle` and `Cyclical` are Keras
`LearningRateSchedule`s, registered for serialization (a model compiled with
one saves and loads), pure functions of the optimizer step; build them from a
`Recommendation`'s range with `one_cycle_from` and `cyclical_from`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.core.validation import (
    fraction,
    int_at_least,
    positive_float,
    rate_range,
)

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


_PACKAGE = "tb_lrfinder"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith and Topin's 1cycle policy (arXiv 1708.07120), linear legs.

    With T = total_steps, c = cycle_fraction * T, the steps 0..T:

        step <= c/2:      rate = low + (high - low) * step / (c/2)           (warm up)
        c/2 < step <= c:  rate = high - (high - low) * (step - c/2) / (c/2)  (cool down)
        step > c:         rate = low - (low - low*final_fraction) * (step - c) / (T - c)
                          (annihilation to low * final_fraction)

    Args:
      low: rate at the start and end of the cycle (> 0); the range test's low end.
      high: peak rate (> low); the range test's high end.
      total_steps: optimizer steps of the whole training (>= 2).
      cycle_fraction: share of the steps in the up-and-down cycle, in (0, 1].
      final_fraction: the annihilation phase ends at low * final_fraction.

    Example:

    >>> from tb_lrfinder.sweep.schedules import OneCycle
    >>> schedule = OneCycle(0.01, 0.1, total_steps=100)
    >>> round(float(schedule(45)), 4), round(float(schedule(100)), 6)
    (0.1, 0.0001)
    """

    def __init__(self, low: float, high: float, total_steps: int, cycle_fraction: float = 0.9,
                 final_fraction: float = 0.01, name: str = "one_cycle"):
        super().__init__()
        self.low, self.high = rate_range(low, high)
        self.total_steps = int_at_least("total_steps", total_steps, 2)
        cycle_fraction = positive_float("cycle_fraction", cycle_fraction)
        if cycle_fraction > 1:
            raise LRFinderError(f"cycle_fraction must be in (0, 1], got {cycle_fraction!r}")
        self.cycle_fraction = cycle_fraction
        self.final_fraction = fraction("final_fraction", final_fraction)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        total = float(self.total_steps)
        cycle = self.cycle_fraction * total
        half = cycle / 2.0
        span = self.high - self.low
        up = self.low + span * step / half
        down = self.high - span * (step - half) / half
        tail = max(total - cycle, 1.0)
        end = self.low * self.final_fraction
        annihilate = self.low - (self.low - end) * ops.minimum((step - cycle) / tail, 1.0)
        return ops.where(step <= half, up, ops.where(step <= cycle, down, annihilate))

    def get_config(self):
        return {"low": self.low, "high": self.high, "total_steps": self.total_steps,
                "cycle_fraction": self.cycle_fraction, "final_fraction": self.final_fraction, "name": self.name}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Cyclical(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's cyclical learning rate (arXiv 1506.01186), triangular policies.

        cycle = floor(1 + step / (2 * step_size))
        x     = |step / step_size - 2 * cycle + 1|
        rate  = low + (high - low) * max(0, 1 - x) * scale(cycle)

    scale is 1 for "triangular", 1 / 2**(cycle - 1) for "triangular2", and
    gamma**step for "exp_range".

    Args:
      low, high: the range test's range (0 < low < high).
      step_size: steps in half a cycle (Smith: 2 to 10 epochs' worth).
      mode: "triangular", "triangular2" or "exp_range".
      gamma: decay per step for "exp_range", in (0, 1].
    """

    MODES = ("triangular", "triangular2", "exp_range")

    def __init__(self, low: float, high: float, step_size: int, mode: str = "triangular",
                 gamma: float = 1.0, name: str = "cyclical"):
        super().__init__()
        self.low, self.high = rate_range(low, high)
        self.step_size = int_at_least("step_size", step_size, 1)
        if mode not in self.MODES:
            raise LRFinderError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self.gamma = positive_float("gamma", gamma)
        if self.gamma > 1:
            raise LRFinderError(f"gamma must be in (0, 1], got {gamma!r}")
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        cycle = ops.floor(1.0 + step / (2.0 * self.step_size))
        x = ops.abs(step / self.step_size - 2.0 * cycle + 1.0)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1.0 / ops.power(2.0, cycle - 1.0)
        else:
            scale = ops.power(self.gamma, step)
        return self.low + (self.high - self.low) * ops.maximum(0.0, 1.0 - x) * scale

    def get_config(self):
        return {"low": self.low, "high": self.high, "step_size": self.step_size, "mode": self.mode,
                "gamma": self.gamma, "name": self.name}


def _schedule_range(recommendation) -> tuple[float, float]:
    """A recommendation's (low, high); where the rules agreed exactly, low is the
    article's factor of 10 below the peak."""
    if recommendation is None:
        raise LRFinderError("no recommendation to build a schedule from (see the stop reason)")
    low, high = recommendation.low, recommendation.high
    return (high / 10 if high <= low else low), high


def one_cycle_from(recommendation, total_steps: int, **kwargs) -> OneCycle:
    """A 1cycle schedule over the recommended range (low -> high -> low)."""
    return OneCycle(*_schedule_range(recommendation), total_steps, **kwargs)


def cyclical_from(recommendation, step_size: int, **kwargs) -> Cyclical:
    """A cyclical schedule over the recommended range."""
    return Cyclical(*_schedule_range(recommendation), step_size, **kwargs)
