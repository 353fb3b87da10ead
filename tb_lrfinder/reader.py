"""Event files -> every scalar point of every run, as one tidy table.

`read_table` returns it as numpy columns (`ScalarTable`: what the analysis
reads, without importing pandas); `read_scalars` as a pandas DataFrame.

Reads TF2 tensor scalars (`tensor_content` or `float_val`, any float/int dtype)
and the `simple_value` scalars that TF1, tensorboardX and
`torch.utils.tensorboard` write. Reads *every* point (no reservoir sampling).
Several event files in one run (a restarted writer) are merged by step, the
later write winning. Needs no TensorFlow: the protos come from `tensorboard`.
"""

from __future__ import annotations

import functools
import os
import re
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from tensorboard.compat.proto import event_pb2, types_pb2

from ._validation import numeric_column
from .errors import LRFinderError
from .events import Problem, first_record, iter_record_batches, values_at


class LogReadWarning(UserWarning):
    """Part of a log could not be read; what could be read was kept."""


_DTYPES = {  # a numeric dtype -> (its struct format in tensor_content, its repeated field)
    types_pb2.DT_FLOAT: ("<f", "float_val"),
    types_pb2.DT_DOUBLE: ("<d", "double_val"),
    types_pb2.DT_HALF: ("<e", "half_val"),
    types_pb2.DT_INT32: ("<i", "int_val"),
    types_pb2.DT_INT64: ("<q", "int64_val"),
}


class _Undecodable(ValueError):
    """A numeric scalar tensor whose bytes do not hold a value of its type."""


def _tensor_scalar(tensor) -> float | None:
    """The value of a rank-0 numeric TensorProto, or None for anything else.

    Raises `_Undecodable` for a numeric scalar whose content has the wrong
    size or whose value is out of its type's range."""
    if tensor.tensor_shape.dim or tensor.dtype not in _DTYPES:
        return None
    fmt, field = _DTYPES[tensor.dtype]
    if tensor.tensor_content:
        if len(tensor.tensor_content) != struct.calcsize(fmt):
            raise _Undecodable(f"{len(tensor.tensor_content)} bytes for a {struct.calcsize(fmt)}-byte value")
        return float(struct.unpack(fmt, tensor.tensor_content)[0])
    values = getattr(tensor, field)
    if not values:
        return None
    if tensor.dtype == types_pb2.DT_HALF:  # float16 bit patterns, held in int32s
        if not 0 <= values[0] <= 0xFFFF:
            raise _Undecodable(f"half_val {values[0]} is not a 16-bit pattern")
        return float(np.array(values[0], np.uint16).view(np.float16))
    return float(values[0])


def _is_event_file(name: str) -> bool:
    return "tfevents" in name


def find_event_files(path: str | os.PathLike) -> dict[str, list[str]]:
    """Map each run under `path` to its event files, oldest first.

    `path` may be an event file, a run directory, or a root of runs; a run is
    named by its directory relative to `path` ("." for `path` itself). Only
    regular files are read (a FIFO or a device named like an event file would
    block or never end). Files are ordered by the wall time of their first
    event, then by name in natural order (numbers by value, so `.10.` sorts
    after `.9.`): a writer restarted within the same second sorts after the
    one it replaced.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise LRFinderError(f"no such file or directory: {path!r}")
    if not os.path.isdir(path):
        if not os.path.isfile(path):
            raise LRFinderError(f"{path!r} is not a regular file or a directory")
        return {".": [path]}
    runs: dict[str, list[str]] = {}
    for directory, subdirs, files in os.walk(path):
        subdirs.sort()
        events = [os.path.join(directory, f) for f in files if _is_event_file(f)]
        events = [f for f in events if os.path.isfile(f)]  # regular files (after links) only
        if events:
            runs[os.path.relpath(directory, path)] = sorted(events, key=_event_file_order)
    if not runs:
        raise LRFinderError(f"no TensorBoard event files (names containing 'tfevents') under {path!r}")
    return runs


def _event_file_order(path: str):
    """(wall time of the file's first event, `natural_key(name)`); where the
    first record cannot be read, the creation time in its name
    (events.out.tfevents.<time>...)."""
    name = os.path.basename(path)
    started = first_wall_time(path)
    if started is None:
        match = re.search(r"tfevents\.(\d+(?:\.\d+)?)", name)
        started = float(match.group(1)) if match else 0.0
    return (started, natural_key(name))


def natural_key(name: str) -> tuple:
    """A sort key that orders the runs of digits in `name` by value:
    `natural_key("a.9.v2") < natural_key("a.10.v2")`.

    >>> sorted(["f.10", "f.9", "f.1"], key=natural_key)
    ['f.1', 'f.9', 'f.10']
    """
    return tuple((0, int(part), part) if part.isdecimal() else (1, 0, part) for part in re.split(r"(\d+)", name))


def first_wall_time(path: str) -> float | None:
    """The wall time of the first record of an event file, if it is intact."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 12)
    except OSError:
        return None
    payload = first_record(head)
    if payload is None:
        return None
    try:
        return float(event_pb2.Event.FromString(payload).wall_time)
    except Exception:  # protobuf's DecodeError: not an Event
        return None


def _event_heads(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray):
    """Vectorized `(ok, wall_time, step, key_start)` of serialized Events that
    start with wall_time (field 1) and an optional varint step (field 2), as
    TensorFlow, tensorboardX and torch write them. `ok` is False where the
    layout differs (those events take the protobuf path)."""
    ok = (lengths >= 24) & (buf[starts] == 0x09)
    starts_ok = np.where(ok, starts, 0)  # others read harmless bytes, clipped to the buffer
    last = len(buf) - 1
    wall_time = values_at(buf, starts_ok + 1, "<f8")
    has_step = buf[np.minimum(starts_ok + 9, last)] == 0x10
    # The step's varint, a byte position at a time for as long as any event's goes on (<= 10 bytes).
    step = np.zeros(len(starts), dtype=np.uint64)
    size = np.zeros(len(starts), dtype=np.int64)
    going = has_step.copy()
    for j in range(10):
        if not going.any():
            break
        byte = buf[np.minimum(starts_ok + 10 + j, last)]
        step |= np.where(going, (byte & 0x7F).astype(np.uint64) << np.uint64(7 * j), np.uint64(0))
        size += going
        going &= (byte & 0x80) != 0
    ok &= ~going  # longer than 10 bytes: malformed
    step = np.where(has_step, step.view(np.int64), 0)
    key_start = starts + np.where(has_step, 10 + size, 9)
    return ok, wall_time, step, key_start


def _template(data: bytes, key_start: int, event) -> tuple[tuple[tuple[int, ...], bytes], tuple[str, ...]] | None:
    """A cache entry ((value offsets after the head, other bytes), tags) if
    `data` holds only float32 scalars, each 4 bytes at a place found in it.

    Then every event whose bytes equal `data` except for its head (wall time,
    step) and those 4-byte slots holds the same tags' scalars with other
    values; later events skip protobuf parsing. The layout is checked, not
    assumed: each value must appear behind its field header (simple_value, the
    4-byte tensor_content of a DT_FLOAT rank-0 tensor, or its one packed
    float_val), and nowhere else.
    Plugin metadata may follow a value (TensorFlow repeats it on every event).
    """
    values = event.summary.value
    if not values:
        return None
    patterns = []
    for value in values:
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            patterns.append(b"\x15" + np.float32(value.simple_value).tobytes())
        elif kind == "tensor":
            tensor = value.tensor
            if tensor.dtype != types_pb2.DT_FLOAT or tensor.tensor_shape.dim:
                return None
            if len(tensor.tensor_content) == 4:  # as tf.summary writes it
                patterns.append(b"\x22\x04" + tensor.tensor_content)
            elif not tensor.tensor_content and len(tensor.float_val) == 1:  # as pure-Python writers do (packed)
                patterns.append(b"\x2a\x04" + np.float32(tensor.float_val[0]).tobytes())
            else:
                return None
        else:
            return None
    offsets, key, start = [], [], key_start
    for pattern in patterns:
        found = data.find(pattern, start)
        if found < 0 or data.count(pattern, key_start) != patterns.count(pattern):
            return None
        at = found + len(pattern) - 4
        offsets.append(at - key_start)
        key.append(data[start:at])
        start = at + 4
    key.append(data[start:])
    return (tuple(offsets), b"".join(key)), tuple(value.tag for value in values)


class _Columns:
    """Scalar points gathered from a file, each with the index of its record.
    Tags are kept as codes into `tag_names` (a file has few distinct tags)."""

    def __init__(self):
        self.tag_names: list[str] = []
        self._code_of: dict[str, int] = {}
        self.order: list[np.ndarray] = []
        self.codes: list[np.ndarray] = []
        self.steps: list[np.ndarray] = []
        self.times: list[np.ndarray] = []
        self.values: list[np.ndarray] = []

    def code(self, tag: str) -> int:
        if tag not in self._code_of:
            self._code_of[tag] = len(self.tag_names)
            self.tag_names.append(tag)
        return self._code_of[tag]

    def add(self, order, codes, steps, times, values):
        self.order.append(np.asarray(order, dtype=np.float64))
        self.codes.append(np.asarray(codes, dtype=np.int32))
        self.steps.append(np.asarray(steps, dtype=np.int64))
        self.times.append(np.asarray(times, dtype=np.float64))
        self.values.append(np.asarray(values, dtype=np.float64))

    def arrays(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(tag names, tag codes, steps, wall times, values), in record order."""
        if not self.order:
            return [], np.array([], np.int32), np.array([], np.int64), np.array([], np.float64), np.array([], np.float64)
        columns = [np.concatenate(part) for part in (self.codes, self.steps, self.times, self.values)]
        index = np.concatenate(self.order)
        if np.any(index[1:] < index[:-1]):  # points parsed out of record order (fast path, then protobuf)
            order = np.argsort(index, kind="stable")
            columns = [column[order] for column in columns]
        return (self.tag_names, *columns)


def _parse_slowly(payload: bytes, index: float, columns: _Columns, undecodable=None):
    """Parse one record with protobuf into `columns`; returns the Event, or
    None where the record is not one. A value that cannot be decoded is
    skipped and passed to `undecodable(tag, reason)`."""
    try:
        event = event_pb2.Event.FromString(payload)
    except Exception:  # protobuf's DecodeError: a CRC-valid but foreign record
        return None
    if not event.HasField("summary"):
        return event
    rows = []
    for value in event.summary.value:
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            number = value.simple_value
        elif kind == "tensor":
            try:
                number = _tensor_scalar(value.tensor)
            except _Undecodable as exc:
                if undecodable is not None:
                    undecodable(value.tag, str(exc))
                continue
            if number is None:
                continue
        else:
            continue
        rows.append((value.tag, number))
    if rows:
        # Several values of one record keep their order: fractional indices.
        columns.add([index + k / (len(rows) + 1) for k in range(len(rows))], [columns.code(r[0]) for r in rows],
                    [event.step] * len(rows), [event.wall_time] * len(rows), [r[1] for r in rows])
    return event


def _parse_batch(batch, first_index: int, templates: dict, columns: _Columns, on_problem,
                 path_of_batch: str = "") -> tuple[int, int]:
    """Parse one batch of records into `columns`; returns (records, parse errors).

    A value that cannot be decoded is reported to `on_problem` (a `Problem`
    naming its record's offset) and skipped.

    Records whose bytes match a known template (see `_template`) are decoded
    vectorized; the others go through protobuf one by one, and each may
    teach a new template that then applies to the rest of the batch.
    """
    n = len(batch)
    if n == 0:
        return 0, 0
    buf = np.frombuffer(batch.data, dtype=np.uint8)
    starts, lengths = batch.starts, batch.lengths
    ok, wall_time, step, key_start = _event_heads(buf, starts, lengths)
    ends = starts + lengths
    rest_length = ends - key_start  # bytes after the head, value included
    pending = np.ones(n, dtype=bool)

    def apply(template, tag_names: tuple[str, ...]):
        offsets, key = template
        width = len(key) + 4 * len(offsets)
        candidates = np.flatnonzero(pending & ok & (rest_length == width))
        if candidates.size == 0:
            return
        slots = np.concatenate([np.arange(at, at + 4) for at in offsets])
        is_key = np.ones(width, dtype=bool)  # the key's bytes (O(width): a tag may be megabytes long)
        is_key[slots] = False
        expected = np.zeros(width, dtype=np.uint8)
        expected[is_key] = np.frombuffer(key, dtype=np.uint8)
        rows = np.lib.stride_tricks.sliding_window_view(buf, width)[key_start[candidates]]
        differs = rows != expected
        differs[:, slots] = False  # the values may differ
        hit = candidates[~differs.any(axis=1)]
        if hit.size:
            pending[hit] = False
            # Several values of one record keep their order: fractional indices.
            for k, (at, tag) in enumerate(zip(offsets, tag_names)):
                value = values_at(buf, key_start[hit] + at, "<f4").astype(np.float64)
                columns.add(first_index + hit + k / (len(tag_names) + 1), np.full(hit.size, columns.code(tag), np.int32),
                            step[hit], wall_time[hit], value)

    for template, tag_names in templates.items():
        apply(template, tag_names)
    errors = 0
    for i in np.flatnonzero(pending):
        if not pending[i]:  # matched by a template learned earlier in this loop
            continue
        pending[i] = False
        payload = batch.payload(int(i))

        def undecodable(tag, reason, i=i):
            on_problem(Problem(path_of_batch, batch.record_offset(int(i)),
                               f"scalar {tag!r} cannot be decoded ({reason}); value skipped"))

        event = _parse_slowly(payload, float(first_index + i), columns, undecodable)
        if event is None:
            errors += 1
        elif ok[i] and event.HasField("summary") and event.step == step[i]:
            learned = _template(payload, int(key_start[i] - starts[i]), event)
            if learned is not None and learned[0] not in templates:
                templates[learned[0]] = learned[1]
                apply(*learned)
    return n, errors


def read_event_file(path: str | os.PathLike):
    """Every scalar point in one event file, in the order written: columns tag
    (categorical), step, wall_time, value.

    Damage is reported as `LogReadWarning` and skipped. A file with no
    readable record at all raises `LRFinderError`.
    """
    import pandas as pd

    names, codes, steps, times, values = read_file_columns(path)
    tag = pd.Categorical.from_codes(codes, categories=names).reorder_categories(sorted(names))
    # copy=False: the columns are this call's own arrays; pandas need not join them into one block.
    return pd.DataFrame({"tag": tag, "step": steps, "wall_time": times, "value": values}, copy=False)


def read_file_columns(path: str | os.PathLike):
    """One event file's scalar points as arrays: (tag names, tag codes, steps, wall times, values), in
    the order written. Damage is warned about (`LogReadWarning`) and skipped; a file with no readable
    record raises `LRFinderError`. The layer under `read_table`, for a caller that caches files."""
    path = os.fspath(path)
    problems = _ProblemSummary(path)
    columns = _Columns()
    templates: dict = {}  # (value offsets after the head, the other bytes after it) -> tags
    records = parse_errors = 0
    try:
        for batch in iter_record_batches(path, problems.add):
            count, errors = _parse_batch(batch, records, templates, columns, problems.add, path)
            records += count
            parse_errors += errors
    except OSError as exc:
        raise LRFinderError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    truncated = problems.only_problem()
    if records == 0 and truncated is not None and truncated.message.startswith("file ends inside"):
        raise LRFinderError(f"{path!r} holds no complete record: the {truncated.message} "
                            f"at byte offset {truncated.offset}")
    if records == 0 or parse_errors == records:
        raise LRFinderError(f"{path!r} is not a TensorBoard event file (no readable record)")
    for line in problems.lines():
        warnings.warn(line, LogReadWarning, stacklevel=2)
    if parse_errors:
        warnings.warn(
            f"{path}: {parse_errors} record(s) are not Event protos; skipped",
            LogReadWarning,
            stacklevel=2,
        )
    return columns.arrays()


class _ProblemSummary:
    """The damage found in one file, summarised: per kind of problem (its
    message) the count and the first and last byte offsets, so that a file
    with a million bad records gives a few lines, not a million. Memory is
    bounded by `KINDS` whatever the damage."""

    KINDS = 8
    """Kinds of problem told apart; any further kinds are counted together."""

    def __init__(self, path: str):
        self.path = path
        self._kinds: dict[str, list] = {}  # message -> [count, first offset, last offset]
        self._others = 0
        self._first: Problem | None = None

    def add(self, problem: Problem) -> None:
        if self._first is None:
            self._first = problem
        kind = self._kinds.get(problem.message)
        if kind is not None:
            kind[0] += 1
            kind[2] = problem.offset
        elif len(self._kinds) < self.KINDS:
            self._kinds[problem.message] = [1, problem.offset, problem.offset]
        else:
            self._others += 1

    def only_problem(self) -> Problem | None:
        """The problem, where exactly one was found."""
        single = len(self._kinds) == 1 and not self._others and next(iter(self._kinds.values()))[0] == 1
        return self._first if single else None

    def lines(self) -> list[str]:
        """One line per kind of problem."""
        lines = []
        for message, (count, first, last) in self._kinds.items():
            if count == 1:
                lines.append(str(Problem(self.path, first, message)))
            else:
                lines.append(f"{self.path}: {count} times: {message}; first at byte offset {first}, "
                             f"last at byte offset {last}")
        if self._others:
            lines.append(f"{self.path}: {self._others} more problem(s) of other kinds")
        return lines


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
            start, stop = np.searchsorted(self.run_codes, [code, code + 1])
        else:
            code = code * len(self.tag_names) + self.tag_names.index(tag)
            start, stop = np.searchsorted(self._run_tag_codes, [code, code + 1])
        return slice(int(start), int(stop))

    @functools.cached_property
    def _run_tag_codes(self) -> np.ndarray:
        """Each row's (run, tag) as one ascending code."""
        return self.run_codes.astype(np.int64) * len(self.tag_names) + self.tag_codes

    @functools.cached_property
    def runs(self) -> tuple[str, ...]:
        """The runs that have rows, sorted (`run_names` may name a run whose files held no scalar)."""
        return tuple(self.run_names[code] for code in np.unique(self.run_codes))

    def tags_of(self, run: str) -> list[str]:
        """The tags `run` has rows of, sorted."""
        return [self.tag_names[code] for code in np.unique(self.tag_codes[self.rows(run)])]

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
    run_code = {name: code for code, name in enumerate(run_names)}
    tag_code = {name: code for code, name in enumerate(tag_names)}
    runs = np.concatenate([np.full(len(part[2]), run_code[part[0]], np.int32) for part in parts])
    tag_codes = np.concatenate([np.array([tag_code[n] for n in part[1]] or [0], np.int32)[part[2]] for part in parts])
    steps, times, values = (np.concatenate([part[k] for part in parts]) for k in (3, 4, 5))
    keep = last_of_each(steps, tag_codes, runs)
    return ScalarTable(tuple(run_names), tuple(tag_names), runs[keep], tag_codes[keep], steps[keep], times[keep],
                       values[keep])


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
    parts = []
    for code in np.flatnonzero(np.bincount(codes)):  # few groups: one pass each
        rows = np.flatnonzero(codes == code)
        ordered = steps[rows]
        if not np.all(ordered[1:] > ordered[:-1]):  # a step repeated or out of order
            rows = rows[_last_of_each_sorted(ordered)]
        parts.append(rows)
    return np.concatenate(parts) if parts else np.arange(0)


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
