"""What the LR Finder tab draws: each range-test run analysed on its full data, sent at drawing size.

No TensorBoard and no web framework here: `LogDirectory` reads a local log
directory with this project's reader (every point, whatever TensorBoard's
sampling), keeping each event file's columns until that file changes (its
size or modification time), and the finished answer until any file does;
`payload` turns analysed runs into the JSON the page draws. A request's
cost follows the points drawn and the files changed, not the tag lengths or
the number of points a run holds.
"""

from __future__ import annotations

import ctypes
import functools
import json
import math
import os
import threading
import warnings
from collections.abc import Iterable

import numpy as np

from tb_lrfinder.core.errors import LRFinderError

MAX_POINTS_DRAWN = 2000
"""Points per run sent to the page at most (evenly spaced over the run's steps; the analysis sees all)."""

MAX_POINTS_SENT = 50_000
"""Points of all runs together sent at most: with many runs each gets its share of it (at least
`MIN_POINTS_DRAWN`), as the page overlays them in one plot 800 pixels wide (100 runs: 500 each)."""

MIN_POINTS_DRAWN = 300
"""Points per run sent at least, however many runs there are (the analysis sees all)."""

MAX_POINTS_PER_REPEAT = 500
"""Points sent of each further sweep of a combined result (`find_lr(..., repeats=k)`), drawn thin."""

MAX_NOTES = 20
"""Reading problems sent to the page at most (each is one line summarising a file's damage)."""

_CLI_HINT = " Name it with --"
"""Where a skip reason starts to tell a command-line user which flag to pass (cut for the page)."""


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def _numbers(values) -> list:
    """`values` as JSON numbers: floats, None where not finite."""
    values = np.asarray(values, dtype=np.float64)
    return [v if finite else None for v, finite in zip(values.tolist(), np.isfinite(values).tolist())]


def drawn_indices(count: int, limit: int = MAX_POINTS_DRAWN) -> np.ndarray:
    """Indices of at most `limit` points, evenly spaced over `count` points, the first and last included.

    >>> drawn_indices(5, 3).tolist()
    [0, 2, 4]
    """
    if count <= limit:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, limit)).astype(np.int64))


def _page_reason(reason: str) -> str:
    """A skip reason in the page's words: the command-line flag it names is cut (the page has no flags)."""
    cut = reason.find(_CLI_HINT)
    if cut < 0:
        return reason
    return reason[:cut] + " Analyse it with `tb-lrfinder analyze RUN --loss-tag TAG` (or --lr-tag), naming the tag."


def run_payload(result, *, updated: float | None, points_drawn: int = MAX_POINTS_DRAWN) -> dict:
    """One analysed run (a `RangeTestResult`) as the page draws it, at most `points_drawn` points."""
    from tb_lrfinder.reporting.text import (
        analysis_to_dict,
        cost_to_dict,
        trials_to_dicts,
    )

    curve = result.curve
    total = len(curve["step"])
    keep = drawn_indices(total, points_drawn)
    points = {"step": np.asarray(curve["step"], dtype=np.int64)[keep].tolist()}  # integers: short JSON
    points.update({column: _numbers(np.asarray(curve[column], dtype=np.float64)[keep])
                   for column in ("learning_rate", "loss", "smoothed_loss", "val_loss") if column in curve})
    if "val_loss" in curve:  # every validation point, however many points are drawn: they are few
        measured = np.flatnonzero(np.isfinite(np.asarray(curve["val_loss"], dtype=np.float64)))
        points["validation"] = {"learning_rate": [_number(curve["learning_rate"][i]) for i in measured],
                                "val_loss": [_number(curve["val_loss"][i]) for i in measured]}
        del points["val_loss"]
    verified = result.verified_rate
    recommended = result.recommended
    use = None
    if verified is not None:
        use = {"learning_rate": verified, "source": "verified"}
    elif recommended is not None:
        use = {"learning_rate": recommended.learning_rate, "source": "recommended",
               "confident": recommended.confident}
    repeats = []
    for sweep in result.repeats:
        kept = drawn_indices(len(sweep.curve["step"]), MAX_POINTS_PER_REPEAT)
        repeats.append({
            "run": sweep.name, "stop": analysis_to_dict(sweep.analysis)["stop"],
            "recommended": None if sweep.analysis.recommended is None else sweep.analysis.recommended.learning_rate,
            "points": {column: [_number(v) for v in np.asarray(sweep.curve[column], dtype=np.float64)[kept]]
                       for column in ("learning_rate", "smoothed_loss")},
        })
    if use is not None and result.repeats:
        use["combines"] = len(result.repeats)
    return {
        "run": result.name, "lr_tag": result.lr_tag, "loss_tag": result.loss_tag,
        "updated": updated, "use": use, "points": points, "points_total": total, "points_drawn": len(keep),
        "analysis": analysis_to_dict(result.analysis),
        "recommended": None if recommended is None else {
            "learning_rate": recommended.learning_rate, "low": recommended.low, "high": recommended.high,
            "confident": recommended.confident, "caveats": list(recommended.caveats)},
        "verified_rate": verified, "repeats": repeats,
        "trials": trials_to_dicts(result.verification) if result.verification else [],
        "verification_cost": cost_to_dict(result.verification) if result.verification else None,
    }


def payload(analysed, skipped, *, updated_of=lambda run: None, source: str, notes: Iterable[str] = ()) -> dict:
    """The `runs` route's answer: the runs newest first, the runs skipped and why, where the data came
    from (`source`), and notes (reading problems, sampling)."""
    share = max(MIN_POINTS_DRAWN, min(MAX_POINTS_DRAWN, MAX_POINTS_SENT // max(1, len(analysed))))
    runs = [run_payload(result, updated=updated_of(result), points_drawn=share) for result in analysed]
    runs.sort(key=lambda run: (-(run["updated"] or 0.0), run["run"]))
    notes = list(notes)
    shown = notes[:MAX_NOTES] + ([f"and {len(notes) - MAX_NOTES} more"] if len(notes) > MAX_NOTES else [])
    return {"runs": runs, "skipped": [{"run": s.name, "reason": _page_reason(s.reason)} for s in skipped],
            "source": source, "notes": shown}


def _signature(path: str):
    """What tells that a file changed: its size and modification time (None where it cannot be read)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class LogDirectory:
    """A local log directory, read with every point and analysed, cached until a file changes.

    `answer()` returns the `runs` route's JSON bytes. Each event file's
    columns are kept with its signature (size, modification time) and read
    again only when that changes; the whole answer is kept while no file
    changed, so a refresh of an unchanged directory costs one walk and one
    stat per file. Thread-safe: TensorBoard serves requests on several threads.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._files: dict[str, tuple] = {}  # path -> (signature, columns, warnings)
        self._answer: tuple | None = None  # (signatures of every file, JSON bytes)
        self._lock = threading.Lock()

    def warm_up(self) -> threading.Thread:
        """Starts `answer()` in a background thread and returns the thread.

        TensorBoard's own loader reads the log directory as TensorBoard starts; the plugin does the
        same, so that the tab's first request finds its answer ready, or under way (a request that
        arrives meanwhile waits for it under the lock and is answered from the cache).
        """
        thread = threading.Thread(target=self._answer_in_background, name="lr_finder warm-up", daemon=True)
        thread.start()
        return thread

    def _answer_in_background(self) -> None:
        try:
            self.answer()
        except Exception:  # noqa: BLE001  a request does the same work again and reports what fails
            pass

    def answer(self) -> bytes:
        from tb_lrfinder.logformat.directory import find_event_files

        with self._lock:
            try:
                runs = find_event_files(self.path)
            except LRFinderError:
                return json.dumps(payload([], [], source="files")).encode()
            signatures = tuple((file, _signature(file)) for files in runs.values() for file in files)
            if self._answer is not None and self._answer[0] == signatures:
                return self._answer[1]
            body = json.dumps(self._analysed(runs), allow_nan=False).encode()
            self._answer = (signatures, body)
            current = {file for file, _ in signatures}
            for stale in set(self._files) - current:  # files gone from the directory
                del self._files[stale]
            release_free_memory()
            return body

    def _columns(self, file: str):
        """`reader.read_file_columns(file)`, from the cache while the file is unchanged."""
        from tb_lrfinder.logformat.files import read_file_columns

        signature = _signature(file)
        cached = self._files.get(file)
        if cached is not None and cached[0] == signature:
            return cached[1]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            columns = read_file_columns(file)
        self._files[file] = (signature, columns, [str(w.message) for w in caught])
        return columns

    def _analysed(self, runs: dict[str, list[str]]) -> dict:
        from tb_lrfinder.logformat.table import read_runs
        from tb_lrfinder.results.runs import analyze_scalars

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                table = read_runs(runs, self._columns)
            except LRFinderError as error:  # not one file readable
                return payload([], [], source="files", notes=[str(error)])
        notes = [line for file in (f for files in runs.values() for f in files) if file in self._files
                 for line in self._files[file][2]]
        notes += [str(w.message) for w in caught]
        if len(table) == 0:
            return payload([], [], source="files", notes=notes)
        analysed, skipped = analyze_scalars(table, name_of=lambda run: run,
                                            directory_of=lambda run: os.path.join(self.path, run))
        return payload(analysed, skipped, updated_of=_updated_of(table), source="files", notes=notes)


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none (macOS, Windows, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def release_free_memory() -> None:
    """Hands the heap's free pages back to the system where the C library is glibc (best effort).

    An analysis of a large log allocates and frees a few hundred MB of arrays; glibc keeps much of
    a freed heap for reuse, so without this TensorBoard's resident memory would stay that much
    larger than what the plugin keeps (its cache of columns and answer) after each new analysis.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _updated_of(table):
    """A function result -> its runs' latest wall time (seconds since the epoch; None where unknown),
    for ordering runs newest first."""
    latest = {}
    for run in table.runs:
        times = table.wall_times[table.rows(run)]
        times = times[np.isfinite(times)]
        if times.size:
            latest[run] = float(times.max())

    def updated(result) -> float | None:
        times = [latest[sweep.name] for sweep in result.repeats or (result,) if sweep.name in latest]
        return max(times) if times else None

    return updated


def provider_payload(table) -> dict:
    """The answer from a data provider's scalars (a logdir that is not a local directory): analysed
    on what TensorBoard kept, which may be a sample of each series (said in the notes)."""
    from tb_lrfinder.results.runs import analyze_scalars

    if len(table) == 0:
        return payload([], [], source="data provider")
    analysed, skipped = analyze_scalars(table)
    note = ("read through TensorBoard's data provider, which keeps a sample of each long series "
            "(--samples_per_plugin): `tb-lrfinder analyze LOGDIR` gives the numbers of every point")
    return payload(analysed, skipped, updated_of=_updated_of(table), source="data provider", notes=[note])
