"""`SweepSettings`: `find_lr`'s settings, validated once, frozen, and handed whole to each step."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tb_lrfinder.analysis.halving import trial_budget
from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.core.validation import (
    fraction,
    int_at_least,
    positive_float,
    rate_range,
)
from tb_lrfinder.core.validation import stop_factor as checked_stop_factor
from tb_lrfinder.training.log_folders import IF_EXISTS


@dataclass(frozen=True)
class SweepSettings:
    """What `find_lr` was asked to do, each value checked (an error names the bad argument).

    The sweep: `min_lr` to `max_lr` over `num_steps` optimizer steps, on batches of `batch_size`
    (None: as `fit` chooses), `shuffle`d; its stop rule and smoothing (`stop_factor`,
    `smoothing`), the validation overlay's period and size. Around it: `repeats` sweeps,
    `candidates` rates verified (0: none) within `verify_budget` of `train_steps`, a `report`
    written back, what is shown (`verbose`: 0, 1 or 2) and `if_exists`. See `find_lr`.
    """

    min_lr: float = 1e-7
    max_lr: float = 10.0
    num_steps: int = 100
    stop_factor: float = 4.0
    smoothing: float = 0.9
    batch_size: int | None = None
    shuffle: bool = True
    verbose: int = 1
    report: bool = True
    validation_every: int = 10
    validation_samples: int = 256
    repeats: int = 1
    candidates: int = 0
    train_steps: int | None = None
    verify_budget: float | None = 0.1
    if_exists: str = "new"

    def __post_init__(self):
        checked = {}
        checked["min_lr"], checked["max_lr"] = rate_range(self.min_lr, self.max_lr)
        if self.if_exists not in IF_EXISTS:
            raise LRFinderError(f"if_exists must be one of {', '.join(map(repr, IF_EXISTS))}, "
                                f"got {self.if_exists!r}")
        checked["num_steps"] = int_at_least("num_steps", self.num_steps, 2)
        checked["repeats"] = int_at_least("repeats", self.repeats, 1)
        checked["stop_factor"] = checked_stop_factor(self.stop_factor)
        checked["smoothing"] = fraction("smoothing", self.smoothing)
        if self.batch_size is not None:
            checked["batch_size"] = int_at_least("batch_size", self.batch_size, 1)
        checked["validation_every"] = int_at_least("validation_every", self.validation_every, 1)
        checked["validation_samples"] = int_at_least("validation_samples", self.validation_samples, 1)
        checked["candidates"] = int_at_least("verify", self.candidates, 0)
        if self.train_steps is not None:
            checked["train_steps"] = int_at_least("train_steps", self.train_steps, 1)
        if self.verify_budget is not None:
            checked["verify_budget"] = positive_float("verify_budget", self.verify_budget)
            if checked["verify_budget"] > 1:
                raise LRFinderError(f"verify_budget is the share of the training (train_steps) that the sweep and "
                                    f"the trials may take, in (0, 1], got {self.verify_budget!r} (for a number of "
                                    "steps, call verify_rate(..., budget=steps))")
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        _check_resolution(self.min_lr, self.max_lr, self.num_steps)

    @classmethod
    def of_call(cls, *, verify: bool | int | None, verbose, **arguments) -> SweepSettings:
        """The settings of a `find_lr` call: `verify` (True: 5 candidates; False or 0: none; None: 5 where
        `verifies_within_budget`, else none; else how many, >= 2) as `candidates`, `verbose` ("auto",
        True, 0, 1 or 2) as 0, 1 or 2."""
        if verify is None:
            candidates = 5 if cls.verifies_within_budget(**arguments) else 0
        elif not verify:
            if arguments.get("train_steps") is not None:
                raise LRFinderError("train_steps is the length of the training whose share verification may "
                                    "take: it needs verification (verify=False turned it off)")
            candidates = 0
        else:
            candidates = 5 if verify is True else int_at_least("verify", verify, 2)
        shown = 0 if verbose in (0, False) else (2 if verbose == 2 else 1)
        return cls(candidates=candidates, verbose=shown, **arguments)

    @staticmethod
    def verifies_within_budget(*, train_steps=None, verify_budget=0.1, num_steps=100, repeats=1, **_) -> bool:
        """Whether `find_lr` verifies without being asked: where `train_steps` is given and
        `verify_budget` of it holds the planned sweep(s) and 5 candidates' trials (`trial_budget`)."""
        if train_steps is None or verify_budget is None:
            return False
        swept = int_at_least("num_steps", num_steps, 2) * int_at_least("repeats", repeats, 1)
        return trial_budget(positive_float("verify_budget", verify_budget),
                            training_steps=int_at_least("train_steps", train_steps, 1),
                            swept_steps=swept, candidates=5) is not None

    def replace(self, **changes) -> SweepSettings:
        """These settings with `changes` (checked again)."""
        return dataclasses.replace(self, **changes)


def _check_resolution(min_lr: float, max_lr: float, num_steps: int) -> None:
    """The sweep's rates must be float32 numbers that grow from step to step."""
    tiny, huge = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    if min_lr < tiny or max_lr > huge:
        raise LRFinderError(
            f"min_lr and max_lr must lie within float32's normal range [{tiny:.3g}, {huge:.3g}] "
            f"(the optimizer's rate is float32), got min_lr={min_lr!r}, max_lr={max_lr!r}"
        )
    growth = (max_lr / min_lr) ** (1.0 / num_steps)
    if growth - 1.0 < 4 * float(np.finfo(np.float32).eps):
        raise LRFinderError(
            f"num_steps={num_steps} is too many for the range {min_lr:g} to {max_lr:g}: the rate would grow by "
            f"{growth - 1:.2g} a step, below float32's resolution, so steps would share a rate; use fewer steps"
        )
