"""Logs in, analyses out: read every run under some paths and analyse each.

The one place that strings reader -> range-test frame -> analysis together,
for `find_lr`, `scripts/analyze.py` and anyone else with a log directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

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
        for run in scalars["run"].unique():
            name = _run_name(path, run)
            try:
                analysed.append(
                    analyze_run(scalars, run, name=name, directory=_run_directory(path, run),
                                lr_tag=lr_tag, loss_tag=loss_tag,
                                smoothing=smoothing, stop_factor=stop_factor)
                )
            except LRFinderError as exc:
                skipped.append(SkippedRun(name, str(exc)))
    return analysed, skipped
