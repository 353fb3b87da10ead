"""`RangeTestResult`: one range test's curve, analysis, repeats and verification, what every
reader of a sweep gets (`find_lr`, `read_results`, the command line, the tab)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tb_lrfinder.analysis.types import Analysis, Recommendation
from tb_lrfinder.analysis.verdicts import Verification
from tb_lrfinder.logformat import tags


@dataclass(frozen=True)
class RangeTestResult:
    """One range test: a run read back from its log and analysed.

    Attributes:
      curve: one array per column, one entry per logged step: step,
        learning_rate, loss (the batch's true loss), smoothed_loss (debiased
        EMA); val_loss and skipped_updates where the run has them. `frame`
        is the same as a pandas DataFrame.
      analysis: suggestions, recommended rate and stop point.
      log_dir: the run's directory (where a report is written back).
      name: the run as reports name it (path and run).
      lr_tag, loss_tag: the tags the rate and loss were read from.
      planned_steps: steps the sweep was asked to run, where known.
      verification: the trials that confirmed the rate (see `verify`), if any.
      validation_cost: with a validation overlay run by `find_lr`, what it
        cost (see `StepLogger.validation_cost`), else None.
      repeats: with `find_lr(..., repeats=k)`, the k sweeps' own results
        (curve, analysis and log_dir above are the first one's); else ().
      combined: with repeats, the recommendation over all k sweeps (see
        `analysis.combine`); else None.
      sweep_id: the id the sweep recorded in its plan (`tags.PLAN_SWEEP_ID`),
        which its verification trials carry too; None where it recorded none.
    """

    curve: Mapping[str, np.ndarray]
    analysis: Analysis
    log_dir: str
    name: str = ""
    lr_tag: str = tags.LEARNING_RATE
    loss_tag: str = tags.LOSS
    planned_steps: int | None = None
    verification: Verification | None = None
    validation_cost: dict | None = None
    repeats: tuple[RangeTestResult, ...] = ()
    combined: Recommendation | None = None
    sweep_id: int | None = None

    @functools.cached_property
    def frame(self):
        """`curve` as a pandas DataFrame (built on first use)."""
        import pandas as pd

        return pd.DataFrame(dict(self.curve), copy=False)

    @property
    def recommended(self) -> Recommendation | None:
        """The recommendation: over all repeats where there are several, else the sweep's."""
        return self.combined if self.repeats else self.analysis.recommended

    @property
    def verified_rate(self) -> float | None:
        """The rate the verification trials confirmed, or None."""
        verification = self.verification
        return verification.learning_rate if verification is not None and verification.confirmed else None

    @property
    def learning_rate(self) -> float | None:
        """The rate to train with: the verified one where trials confirmed one,
        else the recommended one; None if the curve was unreadable."""
        if self.verified_rate is not None:
            return self.verified_rate
        recommended = self.recommended
        return None if recommended is None else recommended.learning_rate

    def __repr__(self) -> str:
        """One line: the run, its points, the rate to use and why the sweep stopped (the curve
        itself is in `curve` and `frame`)."""
        rec = self.recommended
        parts = [f"name={self.name!r}", f"points={len(self.curve['step'])}",
                 "recommended=none" if rec is None else
                 f"recommended={rec.learning_rate:.3g} (range {rec.low:.3g}..{rec.high:.3g}, "
                 f"{'confident' if rec.confident else 'not confident'})"]
        if self.verification is not None:
            verified = self.verified_rate
            parts.append("verified=unconfirmed" if verified is None else f"verified={verified:.3g}")
        if self.repeats:
            parts.append(f"repeats={len(self.repeats)}")
        stop = self.analysis.stop
        parts.append(f"stop={stop.reason} at step {stop.step} (rate {stop.learning_rate:.3g})")
        return f"RangeTestResult({', '.join(parts)})"


@dataclass(frozen=True)
class SkippedRun:
    """A run that holds no readable range test, and why."""

    name: str
    reason: str
