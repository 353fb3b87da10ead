"""A log's runs as range tests: each run's curve (step, rate, loss), its analysis, its trials.

The one place that strings reader -> range-test curve -> analysis together,
for `find_lr`, `scripts/analyze.py`, the TensorBoard tab and anyone else with
a log directory. `RangeTestResult` is what every one of them gets. Works on
numpy columns (`reader.ScalarTable`); pandas is imported only when a
DataFrame is asked for (`range_test_frame`, `RangeTestResult.frame`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import analysis as analysis_module
from . import tags
from ._validation import fraction
from .errors import LRFinderError
from .reader import ScalarTable, read_table
from .verify import Trial, Verification, conclude, diverged_trial


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
    sweep_id: int | None = None

    @functools.cached_property
    def frame(self):
        """`curve` as a pandas DataFrame (built on first use)."""
        import pandas as pd

        return pd.DataFrame(dict(self.curve), copy=False)

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


def _as_table(scalars) -> ScalarTable:
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

    curve = _run_curve(_as_table(scalars), run=run, lr_tag=lr_tag, loss_tag=loss_tag)
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


def _run_name(path: str, run: str) -> str:
    return path if run == "." else os.path.join(path, run)


def _run_directory(path: str, run: str) -> str:
    base = path if os.path.isdir(path) else os.path.dirname(path) or "."
    return os.path.normpath(os.path.join(base, run))


def analyze_run(
    scalars,
    run: str,
    *,
    name: str | None = None,
    log_dir: str = ".",
    lr_tag: str | None = None,
    loss_tag: str | None = None,
    smoothing: float = 0.9,
    stop_factor: float = 4.0,
    planned_steps: int | None = None,
    momentum: float | None = None,
) -> RangeTestResult:
    """Analyse one run of a tidy scalar frame (see `reader.read_scalars`) or
    `reader.ScalarTable`.

    `planned_steps` defaults to the plan the sweep wrote into the run
    (`tags.PLAN_STEPS`), if any; so does the optimizer's momentum lag
    (`tags.PLAN_MOMENTUM_LAG`), else `momentum` (beta: SGD's momentum or
    Adam's beta_1, for a run from another writer), else none.
    """
    table = _as_table(scalars)
    curve = _run_curve(table, run=run, lr_tag=lr_tag, loss_tag=loss_tag)
    if planned_steps is None:
        planned_steps = planned_steps_of(table, curve.run)
    momentum_lag, plan_note = _momentum_lag_of(table, curve.run, momentum)
    result = analysis_module.analyze(
        curve.columns, smoothing=smoothing, stop_factor=stop_factor, planned_steps=planned_steps,
        momentum_lag=momentum_lag, rate_is_step_size=_last_value(table, curve.run, tags.PLAN_STEP_SIZE) != 0.0,
    )
    if plan_note:
        result = dataclasses.replace(result, notes=result.notes + (plan_note,))
    return RangeTestResult(
        {**curve.columns, "smoothed_loss": result.smoothed}, result, log_dir, name=name or run,
        lr_tag=curve.lr_tag, loss_tag=curve.loss_tag, planned_steps=planned_steps,
        sweep_id=_sweep_id_of(table, curve.run, tags.PLAN_SWEEP_ID),
    )


def _momentum_lag_of(table: ScalarTable, run: str, momentum: float | None) -> tuple[float, str]:
    """(the lag the run's plan records, else that of `momentum` (a beta in [0, 1)), else 0; a note
    where the plan's value is not a lag and was ignored, else "")."""
    fallback = 0.0 if momentum is None else analysis_module.lag_of_momentum(fraction("momentum", momentum))
    planned = _last_value(table, run, tags.PLAN_MOMENTUM_LAG)
    if planned is None:
        return fallback, ""
    try:
        return analysis_module.checked_momentum_lag(planned), ""
    except LRFinderError as error:
        return fallback, f"the run's plan records {tags.PLAN_MOMENTUM_LAG} = {planned!r}, ignored ({error})"


def _sweep_id_of(table: ScalarTable, run: str, tag: str) -> int | None:
    """The sweep id `run` records under `tag` (`tags.PLAN_SWEEP_ID` or `tags.TRIAL_SWEEP_ID`), or None."""
    value = _last_value(table, run, tag)
    return int(value) if value is not None and value >= 1 and value.is_integer() else None


def _report_only(table: ScalarTable, run: str) -> bool:
    """Whether `run` holds only a report's metrics (`tags.METRIC_*`): the report of a combined result,
    written beside its sweeps' runs, is no sweep of its own."""
    names = table.tags_of(run)
    return bool(names) and all(name.startswith(f"{tags.PREFIX}/metrics/") for name in names)


def _has(table: ScalarTable, run: str, tag: str) -> bool:
    """Whether `run` logged `tag`."""
    rows = table.rows(run, tag)
    return rows.stop > rows.start


def _last_value(table: ScalarTable, run: str, tag: str) -> float | None:
    """The value `run` logged last (by step) under `tag`, or None: a sweep's plan
    (`tags.PLAN_*`), a trial's rate or tie."""
    rows = table.rows(run, tag)
    return float(table.values[rows.stop - 1]) if rows.stop > rows.start else None


def planned_steps_of(scalars, run: str) -> int | None:
    """The steps the run's sweep was planned for (`tags.PLAN_STEPS`), or None."""
    value = _last_value(_as_table(scalars), run, tags.PLAN_STEPS)
    return int(value) if value is not None and 1 <= value < 2**63 and value.is_integer() else None


def analyze_paths(
    paths: Iterable[str | os.PathLike],
    *,
    lr_tag: str | None = None,
    loss_tag: str | None = None,
    smoothing: float = 0.9,
    stop_factor: float = 4.0,
    momentum: float | None = None,
) -> tuple[list[RangeTestResult], list[SkippedRun]]:
    """Analyse every run under `paths`; runs without a range test are skipped with the reason.
    `momentum` (a beta) is taken out where a run's plan does not record the lag (see `analyze_run`).

    Raises:
      LRFinderError: a path cannot be read at all (missing, no event files); a bad `momentum`.
    """
    analysed, skipped = [], []
    for path in map(os.fspath, paths):
        table = read_table(path)
        if len(table) == 0:
            raise LRFinderError(f"{path!r}: the event files hold no scalars (nothing was logged yet?)")
        more, less = analyze_scalars(
            table, name_of=lambda run, path=path: _run_name(path, run),
            directory_of=lambda run, path=path: _run_directory(path, run),
            lr_tag=lr_tag, loss_tag=loss_tag, smoothing=smoothing, stop_factor=stop_factor, momentum=momentum,
        )
        analysed += more
        skipped += less
    return analysed, skipped


def read_results(path: str | os.PathLike, *more: str | os.PathLike, lr_tag: str | None = None,
                 loss_tag: str | None = None, smoothing: float = 0.9, stop_factor: float = 4.0,
                 momentum: float | None = None) -> list[RangeTestResult]:
    """Every range test in the logs under `path` (and `more` paths), analysed: one `RangeTestResult`
    per sweep, with its verification trials, repeats combined (no TensorFlow).

    Each path may be an event file, a run directory or a root of runs. Runs that hold no range test
    are skipped and named in one `reader.LogReadWarning` (`runs.analyze_paths` returns them instead).
    Options as for `analyze_paths`.

    Raises:
      LRFinderError: a path cannot be read at all (missing, no event files), or bad options.

    >>> import os, tempfile
    >>> from tb_lrfinder import StepRecorder, read_results
    >>> run = os.path.join(tempfile.mkdtemp(), "sweep")
    >>> with StepRecorder(run, stop_factor=4.0) as recorder:
    ...     for step in range(60):
    ...         if recorder.record(step, 1e-4 * 1.2**step, 2.0 - step / 50 if step < 45 else 2.0 ** (step - 40)):
    ...             break
    >>> (result,) = read_results(run)
    >>> result.analysis.stop.reason
    'diverged'
    """
    import warnings

    from .reader import LogReadWarning

    results, skipped = analyze_paths([path, *more], lr_tag=lr_tag, loss_tag=loss_tag, smoothing=smoothing,
                                     stop_factor=stop_factor, momentum=momentum)
    if skipped:
        listed = "; ".join(f"{s.name}: {s.reason}" for s in skipped[:3])
        more_text = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        warnings.warn(f"{len(skipped)} run(s) hold no range test and were skipped ({listed}{more_text})",
                      LogReadWarning, stacklevel=2)
    return results


def analyze_scalars(
    scalars,
    *,
    name_of=lambda run: run,
    directory_of=lambda run: ".",
    lr_tag: str | None = None,
    loss_tag: str | None = None,
    smoothing: float = 0.9,
    stop_factor: float = 4.0,
    momentum: float | None = None,
) -> tuple[list[RangeTestResult], list[SkippedRun]]:
    """Analyse every run of a tidy scalar frame (see `reader.read_scalars`) or
    `reader.ScalarTable`, with its verification trials attached; runs without
    a range test are skipped with the reason.

    The sweeps `find_lr(..., repeats=k)` writes (runs `<root>/repeat_<i>`) are
    one result, named after `<root>`, as `find_lr` returns it: the combined
    recommendation (`analysis.combine`), its sweeps in `repeats`.

    A run's trials are those that carry its sweep id (`tags.TRIAL_SWEEP_ID`,
    wherever they are in the table): trials left by a deleted run of another
    sweep never are. In a log whose sweep records no id (written before ids
    were), its trials are the runs `<run>/trial_*` and `<run>_trial_*` that
    record none either.

    Raises:
      LRFinderError: a bad `momentum` (not a reason to skip a run).
    """
    if momentum is not None:
        fraction("momentum", momentum)
    table = _as_table(scalars)
    analysed: dict[str, RangeTestResult] = {}
    skipped = []
    trials = _trial_runs(table, directory_of)
    for run in table.runs:
        if run in trials or _report_only(table, run):
            continue
        name = name_of(run)
        try:
            analysed[run] = analyze_run(table, run, name=name, log_dir=directory_of(run), lr_tag=lr_tag,
                                        loss_tag=loss_tag, smoothing=smoothing, stop_factor=stop_factor,
                                        momentum=momentum)
        except LRFinderError as exc:
            skipped.append(SkippedRun(name, str(exc)))
    results = []
    for runs in _repeat_groups(analysed):
        members = [analysed[run] for run in runs]
        result = members[0] if len(runs) == 1 else _combined(members, name_of, directory_of, runs[0])
        own = [trial for trial_run, trial in trials.items()
               if any(_trial_of(trial_run, trial.sweep_id, run, analysed[run].sweep_id) for run in runs)]
        if own and result.recommended is not None:
            starts = [t.start for t in own if math.isfinite(t.start)]
            verification = conclude(tuple(t.trial for t in own), min(starts) if starts else math.nan,
                                    result.recommended.learning_rate, tie=max(t.tie for t in own))
            planned = max((t.training_steps for t in own if t.training_steps), default=None)
            if planned is not None:  # the share of that training sweep(s) and trials took
                verification = dataclasses.replace(verification, training_steps=planned, sweep_steps=sum(
                    len(member.curve["step"]) for member in (result.repeats or (result,))))
            result = dataclasses.replace(result, verification=verification)
        results.append(result)
    return results, skipped


_REPEAT = re.compile(r"^(?:(.*)/)?repeat_(\d+)$")
"""A run `find_lr(..., repeats=k)` wrote: `<root>/repeat_<i>` (group 1: the root, None at the top)."""


def _repeat_groups(runs: Iterable[str]) -> list[list[str]]:
    """The runs, in order, with the repeats of one root together (by their index); a lone repeat alone."""
    roots: dict[str, list[tuple[int, str]]] = {}
    for run in runs:
        match = _REPEAT.match(run)
        if match:
            roots.setdefault(match.group(1) or ".", []).append((int(match.group(2)), run))
    groups, done = [], set()
    for run in runs:
        match = _REPEAT.match(run)
        root = (match.group(1) or ".") if match else None
        if root is None or len(roots[root]) < 2:
            groups.append([run])
        elif root not in done:
            done.add(root)
            groups.append([name for _, name in sorted(roots[root])])
    return groups


def _combined(members: list[RangeTestResult], name_of, directory_of, first_run: str) -> RangeTestResult:
    """The sweeps of `find_lr(..., repeats=k)` as the one result `find_lr` returns: the first sweep's
    curve and analysis, the combined recommendation, every sweep in `repeats`."""
    root = _REPEAT.match(first_run).group(1) or "."
    return dataclasses.replace(members[0], name=name_of(root), log_dir=directory_of(root), repeats=tuple(members),
                               combined=analysis_module.combine([member.analysis for member in members]))


def _trial_of(trial_run: str, trial_sweep_id: int | None, run: str, sweep_id: int | None) -> bool:
    """Whether the trial run `trial_run` (recording `trial_sweep_id`) verified the sweep `run`
    (recording `sweep_id`): the same id, or, where neither records one, the trial's place."""
    if sweep_id is not None or trial_sweep_id is not None:
        return sweep_id == trial_sweep_id
    inside = "trial_" if run == "." else f"{run}/trial_"
    return trial_run.startswith(inside) or trial_run.startswith(f"{run}_trial_")


class _TrialRun(NamedTuple):
    """A verification trial read from its run: the trial, the starting model's held-out loss (its
    step 0; NaN where not logged), the last comparison's tie (`tags.TRIAL_TIE`; 0 where not logged),
    the id of the sweep it verified (`tags.TRIAL_SWEEP_ID`) and the planned training's steps
    (`tags.TRIAL_TRAINING_STEPS`), each None where not logged."""

    trial: Trial
    start: float
    tie: float
    sweep_id: int | None
    training_steps: int | None


def _trial_runs(table: ScalarTable, directory_of) -> dict[str, _TrialRun]:
    """The verification trials among the runs of `table`, by run."""
    trials = {}
    for run in table.runs:
        loss_rows, rate = table.rows(run, tags.TRIAL_LOSS), _last_value(table, run, tags.TRIAL_RATE)
        steps, values = table.steps[loss_rows], table.values[loss_rows]  # by step: the table is sorted
        rounds = steps > 0
        if not rounds.any() or rate is None:
            continue
        start = float(values[steps == 0][-1]) if (steps == 0).any() else math.nan
        losses = tuple(float(v) if math.isfinite(v) else math.inf for v in values[rounds])
        tie, planned = _last_value(table, run, tags.TRIAL_TIE), _last_value(table, run, tags.TRIAL_TRAINING_STEPS)
        trials[run] = _TrialRun(Trial(rate, losses, int(steps[rounds][-1]),
                                      directory_of(run), diverged_trial(losses[-1], start),
                                      first_round_steps=int(steps[rounds][0])), start,
                                0.0 if tie is None else tie, _sweep_id_of(table, run, tags.TRIAL_SWEEP_ID),
                                int(planned) if planned is not None and math.isfinite(planned) and planned >= 1
                                else None)
    return trials


def read_range_test_run(log_dir: str | os.PathLike, *, smoothing: float = 0.9, stop_factor: float = 4.0,
                        planned_steps: int | None = None) -> RangeTestResult:
    """The range test this project's writer put in the run `log_dir`, analysed."""
    log_dir = os.fspath(log_dir)
    return analyze_run(read_table(log_dir), ".", name=log_dir, log_dir=log_dir, lr_tag=tags.LEARNING_RATE,
                       loss_tag=tags.LOSS, smoothing=smoothing, stop_factor=stop_factor,
                       planned_steps=planned_steps)
