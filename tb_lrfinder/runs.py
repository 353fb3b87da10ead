"""A log's runs as range tests: each run's frame (step, rate, loss), its analysis, its trials.

The one place that strings reader -> range-test frame -> analysis together,
for `find_lr`, `scripts/analyze.py`, the TensorBoard tab and anyone else with
a log directory. `RangeTestResult` is what every one of them gets.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import analysis as analysis_module
from . import tags
from .errors import LRFinderError
from .reader import last_of_each, read_scalars
from .verify import Trial, Verification, conclude, diverged_trial


@dataclass(frozen=True)
class RangeTestResult:
    """One range test: a run read back from its log and analysed.

    Attributes:
      frame: one row per logged step: step, learning_rate, loss (the batch's
        true loss), smoothed_loss (debiased EMA); val_loss and
        skipped_updates where the run has them.
      analysis: suggestions, recommended rate and stop point.
      log_dir: the run's directory (where a report is written back).
      name: the run as reports name it (path and run).
      lr_tag, loss_tag: the tags the rate and loss were read from.
      planned_steps: steps the sweep was asked to run, where known.
      verification: the trials that confirmed the rate (see `verify`), if any.
      validation_cost: with a validation overlay run by `find_lr`, what it
        cost (see `StepLogger.validation_cost`), else None.
      repeats: with `find_lr(..., repeats=k)`, the k sweeps' own results
        (frame, analysis and log_dir above are the first one's); else ().
      combined: with repeats, the recommendation over all k sweeps (see
        `analysis.combine`); else None.
    """

    frame: pd.DataFrame
    analysis: analysis_module.Analysis
    log_dir: str
    name: str = ""
    lr_tag: str = tags.LEARNING_RATE
    loss_tag: str = tags.LOSS
    planned_steps: int | None = None
    verification: Verification | None = None
    validation_cost: dict | None = None
    repeats: tuple[RangeTestResult, ...] = ()
    combined: analysis_module.Recommendation | None = None

    @property
    def recommended(self) -> analysis_module.Recommendation | None:
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


@dataclass(frozen=True)
class SkippedRun:
    """A run that holds no readable range test, and why."""

    name: str
    reason: str


def _pick_tag(available: Sequence[str], requested: str | None, candidates: Iterable[str], pattern: str, what: str, run: str) -> str:
    if requested is not None:
        if requested in available:
            return requested
        raise LRFinderError(
            f"run {run!r} has no tag {requested!r} ({what}); its tags: {', '.join(sorted(available)) or 'none'}"
        )
    for candidate in candidates:
        if candidate in available:
            return candidate
    regex = re.compile(pattern, re.IGNORECASE)
    matches = sorted(t for t in available if regex.search(t.rsplit("/", 1)[-1]))
    if len(matches) == 1:
        return matches[0]
    flag = "--lr-tag" if what == "learning rate" else "--loss-tag"
    hint = f"several match ({', '.join(matches)})" if matches else "none matches"
    raise LRFinderError(
        f"run {run!r}: cannot tell which tag is the {what}: {hint}; "
        f"its tags: {', '.join(sorted(available)) or 'none'}. Name it with {flag}."
    )


def range_test_frame(
    scalars: pd.DataFrame,
    *,
    run: str | None = None,
    lr_tag: str | None = None,
    loss_tag: str | None = None,
) -> pd.DataFrame:
    """The per-step range-test frame of one run: columns step, learning_rate, loss
    (and val_loss, NaN between evaluations, when the run has a validation overlay;
    skipped_updates, NaN where none, when a loss-scale optimizer skipped some).

    Tags are found automatically (this project's, Keras's, common names) unless
    given. Only steps that have both a rate and a loss are kept; where a tag
    repeats a step, its later row wins (as in `read_scalars`). Rows may come
    in any order. Non-finite losses are kept: they are data for the stop
    analysis.
    """
    runs = list(scalars["run"].unique())
    if not runs:
        raise LRFinderError("the log holds no scalars (nothing was logged yet?)")
    if run is None:
        if len(runs) != 1:
            raise LRFinderError(f"the log holds {len(runs)} runs; name one of: {', '.join(runs)}")
        run = runs[0]
    elif run not in runs:
        raise LRFinderError(f"no run {run!r}; runs: {', '.join(runs)}")
    own = scalars[scalars["run"] == run] if len(runs) > 1 else scalars
    tag_codes, tag_names = pd.factorize(own["tag"])
    available = list(tag_names)
    lr_name = _pick_tag(available, lr_tag, tags.LEARNING_RATE_CANDIDATES, r"^(lr|learning_rate)", "learning rate", run)
    loss_name = _pick_tag(available, loss_tag, tags.LOSS_CANDIDATES, r"loss$", "loss", run)
    steps, values = own["step"].to_numpy(dtype=np.int64), own["value"].to_numpy(dtype=np.float64)

    def series(tag):  # the tag's (steps, values), by step; a repeated step's later write wins
        rows = np.flatnonzero(tag_codes == available.index(tag))
        rows = rows[last_of_each(steps[rows])]
        return steps[rows], values[rows]

    rate_steps, rates = series(lr_name)
    loss_steps, losses = series(loss_name)
    if np.array_equal(rate_steps, loss_steps):  # the usual case: both logged at every step
        common = rate_steps
    else:
        common, at_rate, at_loss = np.intersect1d(rate_steps, loss_steps, assume_unique=True, return_indices=True)
        rates, losses = rates[at_rate], losses[at_loss]
    frame = pd.DataFrame({"step": common, "learning_rate": rates, "loss": losses}, copy=False)
    for tag, column in ((tags.VAL_LOSS, "val_loss"), (tags.SKIPPED_UPDATES, "skipped_updates")):
        if tag in available:
            extra_steps, extra = series(tag)  # not empty: the tag has rows
            at = np.minimum(np.searchsorted(extra_steps, common), len(extra_steps) - 1)
            frame[column] = np.where(extra_steps[at] == common, extra[at], np.nan)
    frame.attrs.update(run=run, lr_tag=lr_name, loss_tag=loss_name)
    return frame


def read_range_test(
    path: str | os.PathLike,
    *,
    run: str | None = None,
    lr_tag: str | None = None,
    loss_tag: str | None = None,
) -> pd.DataFrame:
    """`range_test_frame(read_scalars(path), ...)`."""
    return range_test_frame(read_scalars(path), run=run, lr_tag=lr_tag, loss_tag=loss_tag)


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
    log_dir: str = ".",
    lr_tag: str | None = None,
    loss_tag: str | None = None,
    smoothing: float = 0.9,
    stop_factor: float = 4.0,
    planned_steps: int | None = None,
) -> RangeTestResult:
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
    return RangeTestResult(
        analysis_module.with_smoothed(frame[columns], result), result, log_dir, name=name or run,
        lr_tag=frame.attrs["lr_tag"], loss_tag=frame.attrs["loss_tag"], planned_steps=planned_steps,
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
) -> tuple[list[RangeTestResult], list[SkippedRun]]:
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
) -> tuple[list[RangeTestResult], list[SkippedRun]]:
    """Analyse every run of a tidy scalar frame (see `reader.read_scalars`),
    with its verification trials (runs `<run>_trial_*`) attached; runs
    without a range test are skipped with the reason."""
    analysed, skipped = [], []
    trials = _trial_runs(scalars, directory_of)
    for run in scalars["run"].unique():
        if run in trials:
            continue
        name = name_of(run)
        try:
            result = analyze_run(scalars, run, name=name, log_dir=directory_of(run), lr_tag=lr_tag,
                                 loss_tag=loss_tag, smoothing=smoothing, stop_factor=stop_factor)
        except LRFinderError as exc:
            skipped.append(SkippedRun(name, str(exc)))
            continue
        own = [trial for trial_run, trial in trials.items() if trial_run.startswith(f"{run}_trial_")]
        if own and result.recommended is not None:
            starts = [start for _, start, _ in own if math.isfinite(start)]
            verification = conclude(tuple(trial for trial, _, _ in own), min(starts) if starts else math.nan,
                                    result.recommended.learning_rate, tie=max(tie for _, _, tie in own))
            result = dataclasses.replace(result, verification=verification)
        analysed.append(result)
    return analysed, skipped


def _trial_runs(scalars: pd.DataFrame, directory_of) -> dict[str, tuple[Trial, float, float]]:
    """The verification trials among the runs of `scalars`, by run, each with
    the starting model's held-out loss (its step 0; NaN where not logged) and
    the last comparison's tie (`tags.TRIAL_TIE`; 0 where not logged)."""
    rows = scalars[scalars["tag"].isin([tags.TRIAL_LOSS, tags.TRIAL_RATE, tags.TRIAL_TIE])]
    trials = {}
    for run, own in rows.groupby("run", sort=True, observed=True):
        loss = own[own["tag"] == tags.TRIAL_LOSS].sort_values("step")
        rate = own[own["tag"] == tags.TRIAL_RATE]
        rounds = loss[loss["step"] > 0]
        if rounds.empty or rate.empty:
            continue
        start = loss.loc[loss["step"] == 0, "value"]
        start = float(start.iloc[-1]) if len(start) else math.nan
        losses = tuple(float(v) if math.isfinite(v) else math.inf for v in rounds["value"])
        tie = own.loc[own["tag"] == tags.TRIAL_TIE, "value"]
        trials[run] = (Trial(float(rate["value"].iloc[-1]), losses, int(rounds["step"].iloc[-1]),
                             directory_of(run), diverged_trial(losses[-1], start),
                             first_round_steps=int(rounds["step"].iloc[0])), start,
                       float(tie.iloc[-1]) if len(tie) else 0.0)
    return trials


def read_range_test_run(log_dir: str | os.PathLike, *, smoothing: float = 0.9, stop_factor: float = 4.0,
                        planned_steps: int | None = None) -> RangeTestResult:
    """The range test this project's writer put in the run `log_dir`, analysed."""
    log_dir = os.fspath(log_dir)
    return analyze_run(read_scalars(log_dir), ".", name=log_dir, log_dir=log_dir, lr_tag=tags.LEARNING_RATE,
                       loss_tag=tags.LOSS, smoothing=smoothing, stop_factor=stop_factor,
                       planned_steps=planned_steps)
