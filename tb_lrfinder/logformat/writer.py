"""Event files written: `EventFileWriter` appends events to a new file of a run, and writes
float32 scalar events in exactly the layout TensorFlow's summary ops write (a rank-0 DT_FLOAT
tensor, plugin metadata on each tag's first event), several tags of one step in one event.

The event of a set of tags is serialized by protobuf once; later events are one `struct.pack`
of those bytes around each value's 4, after the wall time and the step, and a CRC. No
TensorFlow."""

from __future__ import annotations

import itertools
import math
import os
import secrets
import socket
import struct
import time

from tensorboard.compat.proto import event_pb2, summary_pb2, types_pb2

from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.logformat.crc import masked_crc32c
from tb_lrfinder.logformat.tfrecord import _CRC, _frame_header, frame_record

_serial = itertools.count()
"""Numbers the event files this process creates: in the name, after the pid, so two files of one
second sort in the order they were made (`directory.natural_key`)."""


def event_file_name(created: float, suffix: str) -> str:
    """A new event file's name, as TensorFlow forms it (`events.out.tfevents.<seconds>.<host>.<pid>.`),
    then this process's serial number and a random part, then `suffix`: unique across processes,
    threads and writers opened within one second."""
    return (f"events.out.tfevents.{int(created)}.{socket.gethostname()}.{os.getpid()}.{next(_serial)}."
            f"{secrets.token_hex(4)}{suffix}")


def _create_unique(directory: str, created: float, suffix: str, *, hidden: bool = False):
    """(path, file opened for writing) of a new event file in `directory`, never an existing one;
    `hidden`: opened as `.<name>.partial` beside `path` (see `EventFileWriter`'s `whole`)."""
    for _ in range(8):
        path = os.path.join(directory, event_file_name(created, suffix))
        try:
            return path, open(_partial(path) if hidden else path, "xb")
        except FileExistsError:  # (a clash of serial and random part: draw again)
            continue
    raise FileExistsError(f"no unused event file name in {directory!r}")


def _partial(path: str) -> str:
    """Where a file written whole is written first: hidden, and no reader's event file name."""
    return os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".partial")


_WALL_TIME = struct.Struct("<d")


_FLOAT32 = struct.Struct("<f")


def _varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative int, or of a negative one as 64-bit two's complement."""
    if 0 <= value < 0x4000:  # the steps of a sweep: one or two bytes, no loop
        return bytes((value,)) if value < 0x80 else bytes((value & 0x7F | 0x80, value >> 7))
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _within_float32(value: float) -> float:
    """`value`, or +-inf where it is beyond float32's range (struct refuses to pack it)."""
    try:
        _FLOAT32.pack(value)
    except OverflowError:
        return math.copysign(math.inf, value)
    return value


class _Template:
    """An event holding scalars of `tags`, serialized once and split at the values.

    `body(values)` is the event's summary field with `values` (floats, in the
    order of `tags`) as the float32 scalars: one `struct` call, whose format
    holds the fixed bytes between the values.
    """

    def __init__(self, tags: tuple[str, ...], metadata: dict[str, bytes]):
        self.has_metadata = any(metadata.values())
        # Probe values that cannot occur in the other bytes of the event by chance.
        probes = [_FLOAT32.pack(1.0 + (k + 1) * 2.0 ** -20) for k in range(len(tags))]
        summary = summary_pb2.Summary()
        for tag, probe in zip(tags, probes):
            value = summary.value.add(tag=tag)
            value.tensor.dtype = types_pb2.DT_FLOAT
            value.tensor.tensor_shape.SetInParent()
            value.tensor.tensor_content = probe
            if metadata.get(tag):
                value.metadata.ParseFromString(metadata[tag])
        serialized = event_pb2.Event(summary=summary).SerializeToString()
        pieces, start = [], 0
        for tag, probe in zip(tags, probes):
            at = serialized.find(b"\x22\x04" + probe, start) + 2  # tensor_content: field 4, 4 bytes
            if at < 2:  # pragma: no cover - protobuf's layout
                raise LRFinderError(f"cannot build a scalar event template for tag {tag!r}")
            pieces.append(serialized[start:at])
            start = at + 4
        pieces.append(serialized[start:])
        # piece, value, piece, ..., value, piece: "<{n}sf{n}s...f{n}s", no padding.
        self._pack = struct.Struct("<" + "f".join(f"{len(piece)}s" for piece in pieces)).pack
        self._arguments = [None] * (2 * len(pieces) - 1)
        self._arguments[0::2] = pieces

    def body(self, values: tuple[float, ...]) -> bytes:
        arguments = self._arguments
        arguments[1::2] = values
        try:
            return self._pack(*arguments)
        except OverflowError:  # beyond float32's range: +-inf
            arguments[1::2] = [_within_float32(value) for value in values]
            return self._pack(*arguments)


class EventFileWriter:
    """Appends events to a new event file in a TensorBoard run directory: the one writer of this
    library (a sweep's scalars, a report's summaries, verification trials' runs).

    Events are buffered in memory (scalars as their numbers, encoded when
    written) and written by `maybe_flush` (at most every `flush_secs`),
    `flush` and `close`, on the caller's thread (no background thread: it
    would hold the interpreter lock when the training loop comes back from
    TensorFlow).

    Args:
      log_dir: the run directory (created if missing).
      flush_secs: `maybe_flush` writes to disk when at least this many
        seconds have passed since the last write, so TensorBoard shows the
        events live.
      metadata: serialized `SummaryMetadata` per tag, sent with that tag's
        first event (TensorBoard keeps a tag's first metadata).
      suffix: the end of the file's name (TensorFlow's writers use ".v2").
      whole: write the file aside (a hidden `.<name>.partial`, which no
        reader takes for an event file) and rename it into place on `close`,
        so that a reader sees all of it or none; `abort` removes it instead.

    Raises:
      LRFinderError: the directory or file cannot be created or written.
    """

    def __init__(self, log_dir: str | os.PathLike, *, flush_secs: float = 2.0,
                 metadata: dict[str, bytes] | None = None, suffix: str = ".v2", whole: bool = False):
        self.log_dir = os.fspath(log_dir)
        self.flush_secs = flush_secs
        self._whole = whole
        self._metadata = dict(metadata or {})
        self._templates: dict[tuple[str, ...], _Template] = {}
        self._tagged: set[str] = set()
        self._pending: list[bytes] = []
        self._frame_headers: dict[int, bytes] = {}
        self._wall_time, self._event_head = None, b""
        now = time.time()
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            self.path, self._file = _create_unique(self.log_dir, now, suffix, hidden=whole)
        except OSError as exc:
            raise LRFinderError(f"cannot write TensorBoard events to log_dir {self.log_dir!r}: "
                                f"{exc.strerror or exc}") from None
        self._pending.append(frame_record(event_pb2.Event(wall_time=now, file_version="brain.Event:2")
                                          .SerializeToString()))
        self.flush()

    def scalars(self, step: int, tags: tuple[str, ...], values: tuple[float, ...], wall_time: float) -> None:
        """Buffer float32 scalars of `tags` (a tuple) at one step, as one event.

        The event is encoded when it is written (`flush`), with the others:
        between two blocks of a compiled train step, this only keeps the numbers.
        """
        self._pending.append((step, tags, values, wall_time))

    def _encode(self, step: int, tags: tuple[str, ...], values: tuple[float, ...], wall_time: float) -> bytes:
        """One scalars event, framed as a TFRecord (header, data, data's CRC)."""
        template = self._templates.get(tags)
        if template is None:  # a tag's first event carries its metadata; a cached template's tags all had theirs
            template = _Template(tags, {tag: self._metadata.get(tag, b"") for tag in tags if tag not in self._tagged})
            self._tagged.update(tags)
            if not template.has_metadata:  # one with metadata is used once
                self._templates[tags] = template
        if wall_time != self._wall_time:  # a block of steps shares one wall time
            self._wall_time, self._event_head = wall_time, b"\x09" + _WALL_TIME.pack(wall_time) + b"\x10"
        data = self._event_head + _varint(step) + template.body(values)
        header = self._frame_headers.get(len(data))
        if header is None:
            header = self._frame_headers[len(data)] = _frame_header(len(data))
        return b"".join((header, data, _CRC.pack(masked_crc32c(data))))

    def summary(self, summary: summary_pb2.Summary, step: int, wall_time: float | None = None) -> None:
        """Buffer an event carrying any `Summary` proto (a layout, a text)."""
        event = event_pb2.Event(wall_time=time.time() if wall_time is None else wall_time, step=step,
                                summary=summary)
        self._pending.append(frame_record(event.SerializeToString()))

    def maybe_flush(self, now: float) -> None:
        """Write to disk if `flush_secs` have passed since the last write (`now`: time.time())."""
        if now - self._last_flush >= self.flush_secs:
            self.flush()

    def flush(self) -> None:
        """Write everything buffered to disk, now."""
        if self._file.closed:
            return
        if self._pending:
            encode = self._encode
            records = b"".join(item if isinstance(item, bytes) else encode(*item) for item in self._pending)
            try:
                self._file.write(records)
                self._file.flush()
            except OSError as exc:
                raise LRFinderError(f"cannot write TensorBoard events to {self.path!r}: "
                                    f"{exc.strerror or exc}") from None
            self._pending.clear()
        self._last_flush = time.time()

    def close(self) -> None:
        """Flush and close (idempotent); a file written whole is renamed into place."""
        if self._file.closed:
            return
        try:
            self.flush()
        finally:
            self._file.close()
        if self._whole:
            try:
                os.replace(_partial(self.path), self.path)
            except OSError as exc:
                self.abort()
                raise LRFinderError(f"cannot write TensorBoard events to {self.path!r}: "
                                    f"{exc.strerror or exc}") from None

    def abort(self) -> None:
        """Close without publishing a file written whole: it is removed (nothing half-written stays)."""
        self._file.close()
        if self._whole:
            try:
                os.remove(_partial(self.path))
            except OSError:
                pass
