"""The analysis's results, frozen dataclasses, and the names of the ways a sweep stops."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Stop reasons.
DIVERGED = "diverged"


NON_FINITE = "non_finite"


LAST_STEP = "last_step"


DATA_EXHAUSTED = "data_exhausted"


TOO_FEW_POINTS = "too_few_points"


NEVER_DIVERGED = (LAST_STEP, DATA_EXHAUSTED)
"""Stop reasons of a sweep that ran out of steps or data without diverging: the top of
its good range is unknown."""


@dataclass(frozen=True)
class Suggestion:
    """A rate one rule suggests, and the step (and loss) it was read at."""

    rule: str
    learning_rate: float
    step: int
    smoothed_loss: float


@dataclass(frozen=True)
class Recommendation:
    """The rate to train with, the range the rules span, and how much to trust it."""

    learning_rate: float
    low: float
    high: float
    confident: bool
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopPoint:
    """Where and why the sweep ended (or, for a log that ran on, should have)."""

    reason: str
    step: int
    learning_rate: float
    message: str


@dataclass(frozen=True)
class LossSummary:
    """Raw loss at the start and end, and the smoothed minimum (with its step and rate)."""

    start: float
    end: float
    minimum: float
    step_at_minimum: int
    rate_at_minimum: float


@dataclass(frozen=True)
class ValidationParting:
    """Where the validation loss (the overlay) stops following the training loss."""

    step: int
    learning_rate: float
    train_minimum_step: int
    message: str


@dataclass(frozen=True)
class Analysis:
    """Everything the post-processor concludes from one range-test curve."""

    stop: StopPoint
    losses: LossSummary | None
    steepest: Suggestion | None
    min_loss_div10: Suggestion | None
    valley: Suggestion | None
    recommended: Recommendation | None
    num_points: int
    swept: tuple[float, float]
    smoothing: float
    stop_factor: float
    smoothed: np.ndarray = field(repr=False, compare=False)
    validation: ValidationParting | None = None
    notes: tuple[str, ...] = ()
    safe: Suggestion | None = None
    momentum_lag: float = 0.0

    @property
    def suggestions(self) -> tuple[Suggestion, ...]:
        return tuple(s for s in (self.safe, self.steepest, self.min_loss_div10, self.valley) if s is not None)
