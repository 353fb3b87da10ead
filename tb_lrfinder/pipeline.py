"""Logs in, analyses out: read every run under some paths and analyse each.

The one place that strings reader -> range-test frame -> analysis together,
for `find_lr`, `scripts/analyze.py` and anyone else with a log directory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import analysis as analysis_module
from . import tags
from .errors import LRFinderError
from .reader import range_test_frame, read_scalars


@dataclass(frozen=True)
class RunAnalysis:
    """One run's range-test frame (step, learning_rate, loss, smoothed_loss) and analysis.

    `directory` is the run's folder (where a report is written back).
    """

    name: str
    directory: str
    frame: pd.DataFrame
    analysis: analysis_module.Analysis
    lr_tag: str
    loss_tag: str
    trials: tuple[TrialRun, ...] = ()

    @property
    def verified_rate(self) -> float | None:
        """The rate the verification trials confirmed (see `verify`), or None without trials."""
        finished = [t for t in self.trials if t.losses]
        if not finished:
            return None
        rounds = max(len(t.losses) for t in finished)
        best = min((t for t in finished if len(t.losses) == rounds), key=lambda t: t.losses[-1])
        return best.learning_rate if np.isfinite(best.losses[-1]) else None


@dataclass(frozen=True)
class TrialRun:
    """A verification trial read back from its run: rate, held-out loss per round, steps trained."""

    name: str
    learning_rate: float
    losses: tuple[float, ...]
    steps: int


@dataclass(frozen=True)
class SkippedRun:
    """A run that holds no readable range test, and why."""

    name: str
    reason: str


def _run_name(path: str, run: str) -> str:
    return path if run == "." else os.path.join(path, run)


def _run_directory(path: str, run: str) -> str:
    base = path if os.path.isdir(path) else os.path.dirname(path) or "."
    return os.path.normpath(os.path.join(base, run))


def analyze_run(
    scalars: pd.DataFrame,
    run: str,
    *,
    name: str | None = None,
    directory: str = ".",
    lr_tag: str | None = None,
    loss_tag: str | None = None,
    smoothing: float = 0.9,
    stop_factor: float = 4.0,
    planned_steps: int | None = None,
) -> RunAnalysis:
    """Analyse one run of a tidy scalar frame (see `reader.read_scalars`).

    `planned_steps` defaults to the plan the sweep wrote into the run
    (`tags.PLAN_STEPS`), if any.
    """
    frame = range_test_frame(scalars, run=run, lr_tag=lr_tag, loss_tag=loss_tag)
    if planned_steps is None:
        planned_steps = planned_steps_of(scalars, frame.attrs["run"])
    result = analysis_module.analyze(
        frame, smoothing=smoothing, stop_factor=stop_factor, planned_steps=planned_steps,
        momentum_lag=_plan_value(scalars, frame.attrs["run"], tags.PLAN_MOMENTUM_LAG) or 0.0,
    )
    columns = [c for c in ("step", "learning_rate", "loss", "val_loss", "skipped_updates") if c in frame.columns]
    return RunAnalysis(
        name or run,
        directory,
        analysis_module.with_smoothed(frame[columns], result),
        result,
        frame.attrs["lr_tag"],
        frame.attrs["loss_tag"],
    )


def _plan_value(scalars: pd.DataFrame, run: str, tag: str) -> float | None:
    """The value the run's sweep plan gives `tag` (see `tags.PLAN_*`), or None."""
    rows = scalars[(scalars["run"] == run) & (scalars["tag"] == tag)]
    return None if rows.empty else float(rows["value"].iloc[-1])


def planned_steps_of(scalars: pd.DataFrame, run: str) -> int | None:
    """The steps the run's sweep was planned for (`tags.PLAN_STEPS`), or None."""
    value = _plan_value(scalars, run, tags.PLAN_STEPS)
    return int(value) if value is not None and value >= 1 and value.is_integer() else None


def analyze_paths(
    paths: Iterable[str | os.PathLike],
    *,
    lr_tag: str | None = None,
    loss_tag: str | None = None,
    smoothing: float = 0.9,
    stop_factor: float = 4.0,
) -> tuple[list[RunAnalysis], list[SkippedRun]]:
    """Analyse every run under `paths`; runs without a range test are skipped with the reason.

    Raises:
      LRFinderError: a path cannot be read at all (missing, no event files).
    """
    analysed, skipped = [], []
    for path in map(os.fspath, paths):
        scalars = read_scalars(path)
        if scalars.empty:
            raise LRFinderError(f"{path!r}: the event files hold no scalars (nothing was logged yet?)")
        more, less = analyze_scalars(
            scalars, name_of=lambda run, path=path: _run_name(path, run),
            directory_of=lambda run, path=path: _run_directory(path, run),
            lr_tag=lr_tag, loss_tag=loss_tag, smoothing=smoothing, stop_factor=stop_factor,
        )
        analysed += more
        skipped += less
    return analysed, skipped


def analyze_scalars(
    scalars: pd.DataFrame,
    *,
    name_of=lambda run: run,
    directory_of=lambda run: ".",
    lr_tag: str | None = None,
    loss_tag: str | None = None,
    smoothing: float = 0.9,
    stop_factor: float = 4.0,
) -> tuple[list[RunAnalysis], list[SkippedRun]]:
    """Analyse every run of a tidy scalar frame (see `reader.read_scalars`),
    with its verification trials (runs `<run>_trial_*`) attached; runs
    without a range test are skipped with the reason."""
    analysed, skipped = [], []
    trials = _trial_runs(scalars)
    for run in scalars["run"].unique():
        if run in trials:
            continue
        name = name_of(run)
        try:
            result = analyze_run(scalars, run, name=name, directory=directory_of(run), lr_tag=lr_tag,
                                 loss_tag=loss_tag, smoothing=smoothing, stop_factor=stop_factor)
        except LRFinderError as exc:
            skipped.append(SkippedRun(name, str(exc)))
            continue
        own = tuple(trial for trial_run, trial in trials.items() if trial_run.startswith(f"{run}_trial_"))
        analysed.append(dataclasses.replace(result, trials=own) if own else result)
    return analysed, skipped


def _trial_runs(scalars: pd.DataFrame) -> dict[str, TrialRun]:
    """The verification trials among the runs of `scalars`, by run."""
    rows = scalars[scalars["tag"].isin([tags.TRIAL_LOSS, tags.TRIAL_RATE])]
    trials = {}
    for run, own in rows.groupby("run", sort=True):
        loss = own[own["tag"] == tags.TRIAL_LOSS].sort_values("step")
        rate = own[own["tag"] == tags.TRIAL_RATE]
        if loss.empty or rate.empty:
            continue
        trials[run] = TrialRun(run, float(rate["value"].iloc[-1]), tuple(float(v) for v in loss["value"]),
                               int(loss["step"].iloc[-1]))
    return trials
