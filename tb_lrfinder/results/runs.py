"""A log's runs as range tests: every run of a log directory analysed, the repeats of one
`find_lr(repeats=k)` combined, each sweep's verification trials attached (`read_results`)."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable
from typing import NamedTuple

from tb_lrfinder.analysis.curve import combine
from tb_lrfinder.analysis.verdicts import Trial, conclude, diverged_trial
from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.table import ScalarTable, read_table
from tb_lrfinder.results.curves import (
    ReadSettings,
    analyze_run,
    as_table,
    is_report_only,
    last_value,
    run_directory,
    run_name,
    sweep_id_of,
)
from tb_lrfinder.results.result import RangeTestResult, SkippedRun


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
    settings = ReadSettings(lr_tag, loss_tag, smoothing, stop_factor, momentum)
    analysed, skipped = [], []
    for path in map(os.fspath, paths):
        table = read_table(path)
        if len(table) == 0:
            raise LRFinderError(f"{path!r}: the event files hold no scalars (nothing was logged yet?)")
        more, less = analyze_scalars(
            table, name_of=lambda run, path=path: run_name(path, run),
            directory_of=lambda run, path=path: run_directory(path, run), settings=settings,
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

    from tb_lrfinder.logformat.files import LogReadWarning

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
    settings: ReadSettings = ReadSettings(),
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

    `settings` say how (see `ReadSettings`).
    """
    table = as_table(scalars)
    analysed: dict[str, RangeTestResult] = {}
    skipped = []
    trials = _trial_runs(table, directory_of)
    for run in table.runs:
        if run in trials or is_report_only(table, run):
            continue
        name = name_of(run)
        try:
            analysed[run] = analyze_run(table, run, name=name, log_dir=directory_of(run), settings=settings)
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
                               combined=combine([member.analysis for member in members]))


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
        loss_rows, rate = table.rows(run, tags.TRIAL_LOSS), last_value(table, run, tags.TRIAL_RATE)
        steps, values = table.steps[loss_rows], table.values[loss_rows]  # by step: the table is sorted
        rounds = steps > 0
        if not rounds.any() or rate is None:
            continue
        start = float(values[steps == 0][-1]) if (steps == 0).any() else math.nan
        losses = tuple(float(v) if math.isfinite(v) else math.inf for v in values[rounds])
        tie, planned = last_value(table, run, tags.TRIAL_TIE), last_value(table, run, tags.TRIAL_TRAINING_STEPS)
        trials[run] = _TrialRun(Trial(rate, losses, int(steps[rounds][-1]),
                                      directory_of(run), diverged_trial(losses[-1], start),
                                      first_round_steps=int(steps[rounds][0])), start,
                                0.0 if tie is None else tie, sweep_id_of(table, run, tags.TRIAL_SWEEP_ID),
                                int(planned) if planned is not None and math.isfinite(planned) and planned >= 1
                                else None)
    return trials


def read_range_test_run(log_dir: str | os.PathLike, *, smoothing: float = 0.9, stop_factor: float = 4.0,
                        planned_steps: int | None = None) -> RangeTestResult:
    """The range test this project's writer put in the run `log_dir`, analysed."""
    log_dir = os.fspath(log_dir)
    return analyze_run(read_table(log_dir), ".", name=log_dir, log_dir=log_dir, planned_steps=planned_steps,
                       settings=ReadSettings(tags.LEARNING_RATE, tags.LOSS, smoothing, stop_factor))
