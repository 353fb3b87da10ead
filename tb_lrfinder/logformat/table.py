"""Event files -> every scalar point of every run, as one tidy table.

`read_table` returns it as numpy columns (`ScalarTable`: what the analysis reads, without
importing pandas); `read_frame` as a pandas DataFrame. Several event files in one run (a
restarted writer) are merged by step, the later write winning."""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass

import numpy as np

from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.core.validation import numeric_column
from tb_lrfinder.logformat.directory import find_event_files
from tb_lrfinder.logformat.files import LogReadWarning, read_file_columns


@dataclass(frozen=True, eq=False)
class ScalarTable:
    """Scalar points as numpy columns: one row per (run, tag, step), sorted by
    run, tag, step. A row's run is `run_names[run_codes[row]]`, its tag
    `tag_names[tag_codes[row]]`; names are sorted."""

    run_names: tuple[str, ...]
    tag_names: tuple[str, ...]
    run_codes: np.ndarray
    tag_codes: np.ndarray
    steps: np.ndarray
    wall_times: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.steps)

    def rows(self, run: str, tag: str | None = None) -> slice:
        """The rows of `run` (of `tag` only, if given), by step: one slice, as
        the table is sorted (empty where there are none)."""
        if run not in self.run_names or (tag is not None and tag not in self.tag_names):
            return slice(0, 0)
        code = self.run_names.index(run)
        if tag is None:
            # Needles of the column's dtype: a list would be int64, and numpy would cast the whole column.
            start, stop = np.searchsorted(self.run_codes, np.array([code, code + 1], dtype=self.run_codes.dtype))
        else:
            code = code * len(self.tag_names) + self.tag_names.index(tag)
            start, stop = np.searchsorted(self._run_tag_codes, np.array([code, code + 1], dtype=np.int64))
        return slice(int(start), int(stop))

    @functools.cached_property
    def _run_tag_codes(self) -> np.ndarray:
        """Each row's (run, tag) as one ascending code."""
        return self.run_codes.astype(np.int64) * len(self.tag_names) + self.tag_codes

    @functools.cached_property
    def runs(self) -> tuple[str, ...]:
        """The runs that have rows, sorted (`run_names` may name a run whose files held no scalar)."""
        return tuple(self.run_names[code] for code in _distinct_sorted(self.run_codes))

    def tags_of(self, run: str) -> list[str]:
        """The tags `run` has rows of, sorted."""
        return [self.tag_names[code] for code in _distinct_sorted(self.tag_codes[self.rows(run)])]

    def to_frame(self):
        """The table as `read_scalars` returns it: a pandas DataFrame with
        columns run, tag (categorical, categories sorted), step, wall_time, value."""
        import pandas as pd

        return pd.DataFrame({
            "run": pd.Categorical.from_codes(self.run_codes, categories=list(self.run_names)),
            "tag": pd.Categorical.from_codes(self.tag_codes, categories=list(self.tag_names)),
            "step": self.steps, "wall_time": self.wall_times, "value": self.values,
        }, copy=False)

    @classmethod
    def from_frame(cls, frame) -> ScalarTable:
        """A tidy frame (columns run, tag, step, value; wall_time optional; any
        row order, repeated steps allowed: the later row wins) as a table."""
        missing = {"run", "tag", "step", "value"} - set(frame.keys())
        if missing:
            raise LRFinderError(f"the scalar frame lacks column(s) {sorted(missing)}")
        run_names, run_codes = _codes(frame["run"])
        tag_names, tag_codes = _codes(frame["tag"])
        steps = numeric_column("step", frame["step"], np.int64)
        times = (numeric_column("wall_time", frame["wall_time"], np.float64) if "wall_time" in frame.keys()
                 else np.full(len(steps), np.nan))
        values = numeric_column("value", frame["value"], np.float64)
        if not len(run_codes) == len(tag_codes) == len(steps) == len(times) == len(values):
            raise LRFinderError("the scalar frame's columns differ in length")
        keep = last_of_each(steps, tag_codes, run_codes)
        return cls(run_names, tag_names, run_codes[keep], tag_codes[keep], steps[keep], times[keep], values[keep])


def _distinct_sorted(codes: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array, in one pass (`np.unique` would sort it again)."""
    if len(codes) == 0:
        return codes
    first = np.empty(len(codes), dtype=bool)
    first[0] = True
    np.not_equal(codes[1:], codes[:-1], out=first[1:])
    return codes[first]


def _codes(column) -> tuple[tuple[str, ...], np.ndarray]:
    """(sorted distinct names, each row's index among them) of a column of names."""
    categories = getattr(getattr(column, "cat", None), "categories", None)
    if categories is not None and not column.isna().any():  # a categorical column: its codes, no string sort
        names = np.asarray(categories, dtype=str)
        used, codes = np.unique(np.asarray(column.cat.codes), return_inverse=True)
        names, order = np.unique(names[used], return_inverse=True)  # sorted, in case the categories were not
        codes = order[codes]
    else:
        # Python strings in an object array: a fixed-width str array would cost rows x the longest name x 4
        # bytes (a 64 KB tag over a million rows: 256 GB).
        names, codes = np.unique(np.array([str(name) for name in column], dtype=object), return_inverse=True)
    return tuple(str(name) for name in names), codes.astype(np.int32).reshape(-1)


def read_frame(path: str | os.PathLike):
    """Every scalar of every run under `path`, as a tidy pandas DataFrame.

    Columns: run, tag (both categorical, categories sorted), step, wall_time,
    value; sorted by run, tag, step, with one row per (run, tag, step): where
    a run's files repeat a step (a restarted writer), the later write wins.
    """
    return read_table(path).to_frame()


read_scalars = read_frame
"""`read_frame`'s name before 0.2."""


def read_table(path: str | os.PathLike) -> ScalarTable:
    """`read_scalars` as numpy columns (no pandas)."""
    return read_runs(find_event_files(path))


def read_runs(runs: dict[str, list[str]], read_file=read_file_columns) -> ScalarTable:
    """The table of the event files of each run (as `find_event_files` lists them, oldest first),
    each file's columns from `read_file` (`read_file_columns`, or a cache in front of it).

    Raises:
      LRFinderError: not one file could be read (a file that cannot is warned about and skipped).
    """
    parts = []  # (run, tag names, tag codes, steps, wall times, values) of each file
    unreadable: list[str] = []
    for run, files in runs.items():
        for file in files:
            try:
                parts.append((run, *read_file(file)))
            except LRFinderError as exc:
                unreadable.append(str(exc))
    if not parts:
        raise LRFinderError(_summarized(unreadable) if unreadable else "no event files to read")
    if unreadable:
        warnings.warn(_summarized(unreadable) + "; skipped", LogReadWarning, stacklevel=2)
    run_names = sorted({part[0] for part in parts})
    tag_names = sorted({name for part in parts for name in part[1]})
    tag_code = {name: code for code, name in enumerate(tag_names)}
    files_of: dict[str, list[tuple]] = {}
    for run, names, codes, steps, times, values in parts:  # each file's tag codes as the table's
        table_codes = np.array([tag_code[name] for name in names] or [0], np.int32)[codes]
        files_of.setdefault(run, []).append((table_codes, steps, times, values))
    return gathered_table(run_names, tag_names, [files_of[run] for run in run_names])


def gathered_table(run_names: list[str], tag_names: list[str], pieces_by_run: list[list[tuple]]) -> ScalarTable:
    """The table of each run's pieces ((tag codes, steps, wall times, values) each, in the order
    written: a run's files, oldest first), a repeated (tag, step) keeping the later write: each
    run's kept rows are gathered into columns allocated once (memory: the pieces and the table,
    not two whole copies more). A run may have no piece (it then has no row)."""
    kept = []  # per run: its columns concatenated (one piece: as given) and the rows kept of them
    for pieces in pieces_by_run:
        columns = pieces[0] if len(pieces) == 1 else tuple(
            np.concatenate(column) for column in zip(*pieces or [_NO_PIECE]))
        kept.append((columns, last_of_each(columns[1], columns[0])))
    total = sum(len(rows) for _, rows in kept)
    run_codes = np.empty(total, np.int32)
    tag_codes, steps, times, values = (np.empty(total, dtype) for dtype in (np.int32, np.int64, np.float64,
                                                                              np.float64))
    at = 0
    for code, (columns, rows) in enumerate(kept):
        span = slice(at, at + len(rows))
        run_codes[span] = code
        for source, target in zip(columns, (tag_codes, steps, times, values)):
            target[span] = source[rows]  # one column of one run at a time in flight
        at += len(rows)
    return ScalarTable(tuple(run_names), tuple(tag_names), run_codes, tag_codes, steps, times, values)


_NO_PIECE = (np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
"""A run's columns where it has no piece."""


def _summarized(messages: list[str], shown: int = 3) -> str:
    """The first `shown` messages, and how many more there were."""
    text = "; ".join(messages[:shown])
    return text + (f"; and {len(messages) - shown} more file(s) like these" if len(messages) > shown else "")


def last_of_each(steps: np.ndarray, *groups: np.ndarray) -> np.ndarray:
    """Row positions sorted by (groups..., step), keeping the last row of each
    (group, step): a repeated step's later write wins. The last of `groups`
    is the primary key (as in `np.lexsort`)."""
    steps = np.asarray(steps)
    codes = _group_codes(len(steps), groups)
    if codes is None:
        return _last_of_each_sorted(steps, *groups)
    # Few groups: a stable sort of one-byte codes (a radix sort, one pass) puts the rows in group
    # order, each group's rows in the order written; only a group whose steps then do not ascend
    # (a step repeated or out of order) is sorted by step.
    order = np.argsort(codes.astype(np.uint8), kind="stable")
    ordered_steps, ordered_codes = steps[order], codes[order]
    if np.all((ordered_steps[1:] > ordered_steps[:-1]) | (ordered_codes[1:] != ordered_codes[:-1])):
        return order
    parts = []
    bounds = np.flatnonzero(np.diff(ordered_codes)) + 1
    for rows, ordered in zip(np.split(order, bounds), np.split(ordered_steps, bounds)):
        if not np.all(ordered[1:] > ordered[:-1]):
            rows = rows[_last_of_each_sorted(ordered)]
        parts.append(rows)
    return np.concatenate(parts)


_FEW_GROUPS = 32


def _group_codes(rows: int, groups) -> np.ndarray | None:
    """One non-negative code per row, ordered as the groups sort (primary key
    last), when all groups are non-negative integer codes with at most
    `_FEW_GROUPS` combinations; else None."""
    codes = np.zeros(rows, dtype=np.int64)
    combinations = 1
    for key in reversed(groups):
        key = np.asarray(key)
        if key.dtype.kind not in "iu" or (len(key) and key.min() < 0):
            return None
        size = int(key.max()) + 1 if len(key) else 1
        combinations *= size
        if combinations > _FEW_GROUPS:
            return None
        codes = codes * size + key
    return codes


def _last_of_each_sorted(steps: np.ndarray, *groups: np.ndarray) -> np.ndarray:
    """`last_of_each` by one lexicographic sort (any number of groups)."""
    order = np.lexsort((np.arange(len(steps)), steps, *groups))  # the last key sorts first
    keys = [key[order] for key in (steps, *groups)]
    last = np.ones(len(order), dtype=bool)
    if len(order):
        last[:-1] = np.logical_or.reduce([key[1:] != key[:-1] for key in keys])
    return order[last]
