"""Host side of `StepLogger`: the divergence guard, and the points it writes.

`StepRecorder` takes the sweep's points in step order, as the compiled train
step produced them (a block of `steps_per_execution` at a time), keeps the
source article's debiased EMA of the loss,

    avg_n = beta * avg_{n-1} + (1 - beta) * loss_n,  smoothed_n = avg_n / (1 - beta**n)

and *halts* (records nothing more) after the first point whose loss is
NaN/inf or whose smoothed loss exceeds its best so far by `stop_factor`
(smoothed - best > (stop_factor - 1) * |best|), or after step `max_steps - 1`.
Points after a halt, which the rest of a compiled block still produces, are
dropped: the log ends where the sweep stopped. Pure Python (no TensorFlow):
the guard is the same rule as `StepWriter`'s in-graph one, applied where it
costs a few microseconds per step instead of a few dozen graph ops.
"""

from __future__ import annotations

import math

from . import tags
from .event_writer import ScalarEventWriter

_POINT_TAGS = (tags.LEARNING_RATE, tags.LOSS, tags.SMOOTHED_LOSS)


class StepRecorder:
    """Applies the guard to each point and writes the points it keeps.

    Args:
      events: where the scalars go.
      stop_factor: divergence threshold (> 1), or None for no guard.
      smoothing: EMA coefficient beta in [0, 1).
      max_steps: the last step recorded is `max_steps - 1`; None for no limit.
        With `detect_skips`, the halt comes with the first point past it.
      detect_skips: a point at the same step as the previous one is a retry of
        a skipped update (a loss-scale optimizer met non-finite gradients):
        it replaces that point and is counted under `tags.SKIPPED_UPDATES`.
    """

    def __init__(self, events: ScalarEventWriter, *, stop_factor: float | None, smoothing: float,
                 max_steps: int | None, detect_skips: bool = False):
        self.events = events
        self.stop_factor = stop_factor
        self.smoothing = smoothing
        self.max_steps = max_steps
        self.detect_skips = detect_skips
        self.halted = False
        self.stop_step: int | None = None
        self.training_samples = 0
        self.validation_evaluations = 0
        self._average, self._bias, self._best = 0.0, 1.0, math.inf
        self._before_last = (0.0, 1.0, math.inf)
        self._last_step: int | None = None
        self.smoothed = math.nan  # of the last point recorded
        self._skipped = 0

    @property
    def last_step(self) -> int | None:
        """The step of the last point recorded, None before the first."""
        return self._last_step

    @property
    def best(self) -> float:
        """The lowest smoothed loss so far (inf before the first finite one)."""
        return self._best

    @property
    def stopped(self) -> bool:
        """Whether the guard (not `max_steps`) halted the sweep."""
        return self.stop_step is not None

    def add(self, step: int, rate: float, loss: float, wall_time: float, *, record: bool = True,
            validation_loss: float = math.nan, samples: int = 0) -> None:
        """Take one train step's point (its loss: the batch's, before the update).

        `record` False: a micro-step of gradient accumulation (only its samples
        count). `validation_loss` (not NaN) is logged beside the loss.
        `samples`: training examples of the step, for the validation cost.
        """
        if self.halted:
            return
        self.training_samples += samples
        if not record:
            return
        if self.max_steps is not None and step >= self.max_steps:
            self.halted = True
            return
        repeat = self.detect_skips and step == self._last_step
        if repeat:  # the retry replaces the skipped attempt, in the EMA too
            self._skipped += 1
            self._average, self._bias, self._best = self._before_last
        else:
            self._skipped = 0
            self._before_last = (self._average, self._bias, self._best)
        beta = self.smoothing
        finite = math.isfinite(loss)
        if finite:  # the EMA advances by finite losses only
            self._average = beta * self._average + (1.0 - beta) * loss
            self._bias *= beta
            smoothed = self._average / (1.0 - self._bias)
        else:
            smoothed = math.nan
        self.smoothed = smoothed
        names, values = _POINT_TAGS, (rate, loss, smoothed)
        if repeat:
            names, values = names + (tags.SKIPPED_UPDATES,), values + (float(self._skipped),)
        if not math.isnan(validation_loss):
            names, values = names + (tags.VAL_LOSS,), values + (validation_loss,)
            self.validation_evaluations += 1
        self.events.scalars(step, names, values, wall_time)
        self._last_step = step
        self._best = min(self._best, smoothed)  # `min` keeps the best over a NaN
        if self.stop_factor is not None:
            # False for a NaN or infinite loss: the difference is NaN or inf.
            within = smoothed - self._best <= (self.stop_factor - 1.0) * abs(self._best)
            if not within:
                self.stop_step, self.halted = step, True
        # The last step ends the sweep; with skip detection only once the
        # next attempt shows that its update was applied (not retried).
        if self.max_steps is not None and step >= self.max_steps - 1 and not self.detect_skips:
            self.halted = True
