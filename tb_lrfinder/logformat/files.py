"""One event file's scalars, as columns.

Reads TF2 tensor scalars (`tensor_content` or `float_val`, any float/int dtype) and the
`simple_value` scalars that TF1, tensorboardX and `torch.utils.tensorboard` write: *every*
point (no reservoir sampling). Needs no TensorFlow: the protos come from `tensorboard`."""

from __future__ import annotations

import os
import struct
import warnings

import numpy as np
from tensorboard.compat.proto import event_pb2, types_pb2

from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.logformat.tfrecord import Problem, iter_record_batches, values_at


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
        index = np.concatenate(self.order)
        self.order = []
        # Points parsed out of record order (fast path, then protobuf) are put back in it.
        order = np.argsort(index, kind="stable") if np.any(index[1:] < index[:-1]) else None
        del index
        columns = []
        for name in ("codes", "steps", "times", "values"):  # one column at a time, its parts let go
            column = np.concatenate(getattr(self, name))
            setattr(self, name, [])
            columns.append(column if order is None else column[order])
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
