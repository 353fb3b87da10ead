"""One run's range test: its rate and loss columns picked from a `ScalarTable` (by tag, or by
the candidates a sweep writer uses), and analysed with what its plan recorded."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tb_lrfinder.analysis.curve import analyze
from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.core.momentum import checked_momentum_lag, lag_of_momentum
from tb_lrfinder.core.validation import fraction
from tb_lrfinder.core.validation import stop_factor as checked_stop_factor
from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.table import ScalarTable, read_table
from tb_lrfinder.results.result import RangeTestResult


@dataclass(frozen=True)
class ReadSettings:
    """How a log's runs are read and analysed, each value checked once: the rate and loss tags (None:
    found by the names sweep writers use), the analysis's smoothing (beta) and stop factor, and the
    `momentum` (a beta: SGD's momentum or Adam's beta_1) to take out where a run's plan records no
    lag (None: none)."""

    lr_tag: str | None = None
    loss_tag: str | None = None
    smoothing: float = 0.9
    stop_factor: float = 4.0
    momentum: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "smoothing", fraction("smoothing", self.smoothing))
        object.__setattr__(self, "stop_factor", checked_stop_factor(self.stop_factor))
        if self.momentum is not None:
            object.__setattr__(self, "momentum", fraction("momentum", self.momentum))


def _pick_tag(available: Sequence[str], requested: str | None, candidates: Iterable[str], pattern: str, what: str, run: str) -> str:
    if requested is not None:
        if requested in available:
            return requested
        raise LRFinderError(f"run {run!r} has no tag {requested!r} ({what}); its tags: {_listed(available)}")
    for candidate in candidates:
        if candidate in available:
            return candidate
    regex = re.compile(pattern, re.IGNORECASE)
    named = sorted(t for t in available if regex.search(t.rsplit("/", 1)[-1]))
    matches = [t for t in named if not _held_out(t)]
    if len(matches) > 1:  # a per-step series over a per-epoch one (Lightning's train_loss_step, train_loss_epoch)
        matches = [t for t in matches if "epoch" not in t.lower()] or matches
    if len(matches) == 1:
        return matches[0]
    flag = "--lr-tag" if what == "learning rate" else "--loss-tag"
    argument = "lr_tag" if what == "learning rate" else "loss_tag"
    if matches:
        hint = f"several match ({_listed(matches)})"
    elif named:
        hint = (f"only held-out series match ({_listed(named)}), and a range test reads the training {what} of "
                "each step")
    else:
        hint = "none matches"
    raise LRFinderError(
        f"run {run!r}: cannot tell which tag is the {what}: {hint}; "
        f"its tags: {_listed(available)}. Name it with {flag} ({argument}= in Python)."
    )


def _held_out(tag: str) -> bool:
    """Whether `tag` names a series measured on held-out data (`tags.HELD_OUT_WORDS`)."""
    words = re.split(r"[^a-z]+", tag.lower())
    return any(word in tags.HELD_OUT_WORDS for word in words)


def _listed(names: Sequence[str], shown: int = 20) -> str:
    """`names`, sorted and comma-separated, the first `shown` (a run may hold thousands of tags)."""
    names = sorted(names)
    if not names:
        return "none"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(repr(name) if len(name) <= 80 else repr(name[:77] + "...") for name in names[:shown]) + more


def as_table(scalars) -> ScalarTable:
    return scalars if isinstance(scalars, ScalarTable) else ScalarTable.from_frame(scalars)


@dataclass(frozen=True, eq=False)
class _RunCurve:
    """One run's range-test columns and the tags they came from."""

    run: str
    lr_tag: str
    loss_tag: str
    columns: dict[str, np.ndarray]


def range_test_frame(
    scalars,
    *,
    run: str | None = None,
    lr_tag: str | None = None,
    loss_tag: str | None = None,
):
    """The per-step range-test frame of one run: columns step, learning_rate, loss
    (and val_loss, NaN between evaluations, when the run has a validation overlay;
    skipped_updates, NaN where none, when a loss-scale optimizer skipped some).
    Its `attrs` name the run, lr_tag and loss_tag.

    `scalars`: a tidy frame as `read_scalars` returns (any row order), or a
    `reader.ScalarTable`. Tags are found automatically (this project's,
    Keras's, common names) unless given. Only steps that have both a rate and
    a loss are kept; where a tag repeats a step, its later row wins (as in
    `read_scalars`). Non-finite losses are kept: they are data for the stop
    analysis.
    """
    import pandas as pd

    curve = _run_curve(as_table(scalars), run=run, lr_tag=lr_tag, loss_tag=loss_tag)
    frame = pd.DataFrame(curve.columns, copy=False)
    frame.attrs.update(run=curve.run, lr_tag=curve.lr_tag, loss_tag=curve.loss_tag)
    return frame


def _run_curve(table: ScalarTable, *, run: str | None, lr_tag: str | None, loss_tag: str | None) -> _RunCurve:
    """`range_test_frame`'s columns, as numpy arrays."""
    runs = table.runs
    if not runs:
        raise LRFinderError("the log holds no scalars (nothing was logged yet?)")
    if run is None:
        sweeps = [name for name in runs if not _has(table, name, tags.TRIAL_RATE)]  # a sweep's trials aside
        if len(sweeps) != 1:
            raise LRFinderError(f"the log holds {len(sweeps)} runs; name one of: {_listed(sweeps)}")
        run = sweeps[0]
    elif run not in runs:
        raise LRFinderError(f"no run {run!r}; runs: {', '.join(runs)}")
    available = table.tags_of(run)
    lr_name = _pick_tag(available, lr_tag, tags.LEARNING_RATE_CANDIDATES, r"^(lr|learning_rate)", "learning rate", run)
    loss_name = _pick_tag(available, loss_tag, tags.LOSS_CANDIDATES, r"loss(_step)?$", "loss", run)

    def series(tag):  # the tag's (steps, values), by step (the table holds one row per step); copies, not views
        rows = table.rows(run, tag)
        return table.steps[rows].copy(), table.values[rows].copy()

    rate_steps, rates = series(lr_name)
    loss_steps, losses = series(loss_name)
    if np.array_equal(rate_steps, loss_steps):  # the usual case: both logged at every step
        common = rate_steps
    else:
        common, at_rate, at_loss = np.intersect1d(rate_steps, loss_steps, assume_unique=True, return_indices=True)
        rates, losses = rates[at_rate], losses[at_loss]
    columns = {"step": common, "learning_rate": rates, "loss": losses}
    for tag, column in ((tags.VAL_LOSS, "val_loss"), (tags.SKIPPED_UPDATES, "skipped_updates")):
        if tag in available:
            extra_steps, extra = series(tag)  # not empty: the tag has rows
            at = np.minimum(np.searchsorted(extra_steps, common), len(extra_steps) - 1)
            columns[column] = np.where(extra_steps[at] == common, extra[at], np.nan)
    return _RunCurve(run, lr_name, loss_name, columns)


def read_range_test(
    path: str | os.PathLike,
    *,
    run: str | None = None,
    lr_tag: str | None = None,
    loss_tag: str | None = None,
):
    """`range_test_frame(read_scalars(path), ...)`."""
    return range_test_frame(read_table(path), run=run, lr_tag=lr_tag, loss_tag=loss_tag)


def run_name(path: str, run: str) -> str:
    return path if run == "." else os.path.join(path, run)


def run_directory(path: str, run: str) -> str:
    base = path if os.path.isdir(path) else os.path.dirname(path) or "."
    return os.path.normpath(os.path.join(base, run))


def analyze_run(
    scalars,
    run: str,
    *,
    name: str | None = None,
    log_dir: str = ".",
    settings: ReadSettings = ReadSettings(),
    planned_steps: int | None = None,
) -> RangeTestResult:
    """Analyse one run of a tidy scalar frame (see `reader.read_scalars`) or
    `reader.ScalarTable`.

    `planned_steps` defaults to the plan the sweep wrote into the run
    (`tags.PLAN_STEPS`), if any; so does the optimizer's momentum lag
    (`tags.PLAN_MOMENTUM_LAG`), else `settings.momentum` (for a run from
    another writer), else none.
    """
    table = as_table(scalars)
    curve = _run_curve(table, run=run, lr_tag=settings.lr_tag, loss_tag=settings.loss_tag)
    if planned_steps is None:
        planned_steps = planned_steps_of(table, curve.run)
    momentum_lag, plan_note = _momentum_lag_of(table, curve.run, settings.momentum)
    result = analyze(
        curve.columns, smoothing=settings.smoothing, stop_factor=settings.stop_factor, planned_steps=planned_steps,
        momentum_lag=momentum_lag, rate_is_step_size=last_value(table, curve.run, tags.PLAN_STEP_SIZE) != 0.0,
    )
    if plan_note:
        result = dataclasses.replace(result, notes=result.notes + (plan_note,))
    return RangeTestResult(
        {**curve.columns, "smoothed_loss": result.smoothed}, result, log_dir, name=name or run,
        lr_tag=curve.lr_tag, loss_tag=curve.loss_tag, planned_steps=planned_steps,
        sweep_id=sweep_id_of(table, curve.run, tags.PLAN_SWEEP_ID),
    )


def _momentum_lag_of(table: ScalarTable, run: str, momentum: float | None) -> tuple[float, str]:
    """(the lag the run's plan records, else that of `momentum` (a beta in [0, 1)), else 0; a note
    where the plan's value is not a lag and was ignored, else "")."""
    fallback = 0.0 if momentum is None else lag_of_momentum(fraction("momentum", momentum))
    planned = last_value(table, run, tags.PLAN_MOMENTUM_LAG)
    if planned is None:
        return fallback, ""
    try:
        return checked_momentum_lag(planned), ""
    except LRFinderError as error:
        return fallback, f"the run's plan records {tags.PLAN_MOMENTUM_LAG} = {planned!r}, ignored ({error})"


def sweep_id_of(table: ScalarTable, run: str, tag: str) -> int | None:
    """The sweep id `run` records under `tag` (`tags.PLAN_SWEEP_ID` or `tags.TRIAL_SWEEP_ID`), or None."""
    value = last_value(table, run, tag)
    return int(value) if value is not None and value >= 1 and value.is_integer() else None


def is_report_only(table: ScalarTable, run: str) -> bool:
    """Whether `run` holds only a report's metrics (`tags.METRIC_*`): the report of a combined result,
    written beside its sweeps' runs, is no sweep of its own."""
    names = table.tags_of(run)
    return bool(names) and all(name.startswith(f"{tags.PREFIX}/metrics/") for name in names)


def _has(table: ScalarTable, run: str, tag: str) -> bool:
    """Whether `run` logged `tag`."""
    rows = table.rows(run, tag)
    return rows.stop > rows.start


def last_value(table: ScalarTable, run: str, tag: str) -> float | None:
    """The value `run` logged last (by step) under `tag`, or None: a sweep's plan
    (`tags.PLAN_*`), a trial's rate or tie."""
    rows = table.rows(run, tag)
    return float(table.values[rows.stop - 1]) if rows.stop > rows.start else None


def planned_steps_of(scalars, run: str) -> int | None:
    """The steps the run's sweep was planned for (`tags.PLAN_STEPS`), or None."""
    value = last_value(as_table(scalars), run, tags.PLAN_STEPS)
    return int(value) if value is not None and 1 <= value < 2**63 and value.is_integer() else None
