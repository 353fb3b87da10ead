"""From a range test's result to training: 1cycle and cyclical schedules.

Both are Keras `LearningRateSchedule`s, registered for serialization (a model
compiled with one saves and loads), pure functions of the optimizer step.
Build them from a `Recommendation`'s range with `one_cycle_from` and
`cyclical_from`.
"""

from __future__ import annotations

import keras
from keras import ops

from ._validation import fraction, int_at_least, positive_float, rate_range
from .errors import LRFinderError

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

    >>> from tb_lrfinder.training_schedules import OneCycle
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


def one_cycle_from(recommendation, total_steps: int, **kwargs) -> OneCycle:
    """A 1cycle schedule over the recommended range (low -> high -> low)."""
    if recommendation is None:
        raise LRFinderError("no recommendation to build a schedule from (see the stop reason)")
    low, high = recommendation.low, recommendation.high
    if high <= low:  # the rules agreed exactly: use the article's factor of 10 below the peak
        low = high / 10
    return OneCycle(low, high, total_steps, **kwargs)


def cyclical_from(recommendation, step_size: int, **kwargs) -> Cyclical:
    """A cyclical schedule over the recommended range."""
    if recommendation is None:
        raise LRFinderError("no recommendation to build a schedule from (see the stop reason)")
    low, high = recommendation.low, recommendation.high
    if high <= low:
        low = high / 10
    return Cyclical(low, high, step_size, **kwargs)
