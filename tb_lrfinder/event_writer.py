"""A TensorBoard event file written from Python: a step's scalars in ~4 µs.

`ScalarEventWriter` appends float32 scalar events in exactly the layout
TensorFlow's summary ops write (a rank-0 DT_FLOAT tensor, plugin metadata on
each tag's first event), each framed as a TFRecord. No TensorFlow: it needs
`tensorboard`'s protos and the frame checksum (`_crc`) only, and nothing of
the reader (`records`, `reader`), which checks the same framing from the other
side.

`scalars` writes the values of several tags at one step as one event (as
TF1's FileWriter did with merged summaries). The event of a set of tags is
serialized by protobuf once; later events copy those bytes and put in the
wall time, the step and each value's 4 bytes (the reader's fast path is the
same idea in reverse).
"""

from __future__ import annotations

import math
import os
import socket
import struct
import time

from tensorboard.compat.proto import event_pb2, summary_pb2, types_pb2

from ._crc import masked_crc32c
from .errors import LRFinderError

_WALL_TIME = struct.Struct("<d")
_FLOAT32 = struct.Struct("<f")
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def frame_record(data: bytes) -> bytes:
    """`data` as one TFRecord: length, its masked CRC-32C, data, the data's masked CRC-32C."""
    length = _LENGTH.pack(len(data))
    return b"".join((length, _CRC.pack(masked_crc32c(length)), data, _CRC.pack(masked_crc32c(data))))


def _varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative int, or of a negative one as 64-bit two's complement."""
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


def _float32(value: float) -> bytes:
    """`value` as little-endian float32 bytes; beyond float32's range, +-inf."""
    try:
        return _FLOAT32.pack(value)
    except OverflowError:
        return _FLOAT32.pack(math.copysign(math.inf, value))


class _Template:
    """The serialized summary field of an event with scalars of `tags`, split at their values."""

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
        body = event_pb2.Event(summary=summary).SerializeToString()
        self.pieces, start = [], 0
        for tag, probe in zip(tags, probes):
            at = body.find(b"\x22\x04" + probe, start) + 2  # tensor_content: field 4, 4 bytes
            if at < 2:  # pragma: no cover - protobuf's layout
                raise LRFinderError(f"cannot build a scalar event template for tag {tag!r}")
            self.pieces.append(body[start:at])
            start = at + 4
        self.tail = body[start:]


class ScalarEventWriter:
    """Appends scalar events to a new event file in a TensorBoard run directory.

    Events are buffered in memory and written by `maybe_flush` (at most every
    `flush_secs`), `flush` and `close`, on the caller's thread: a background
    writer thread was measured here to slow training more than it saved, by
    holding the interpreter lock when the training loop came back from
    TensorFlow.

    Args:
      log_dir: the run directory (created if missing).
      flush_secs: `maybe_flush` writes to disk when at least this many
        seconds have passed since the last write, so TensorBoard shows the
        events live.
      metadata: serialized `SummaryMetadata` per tag, sent with that tag's
        first event (TensorBoard keeps a tag's first metadata).

    Raises:
      LRFinderError: the directory or file cannot be created or written.
    """

    def __init__(self, log_dir: str | os.PathLike, *, flush_secs: float = 2.0,
                 metadata: dict[str, bytes] | None = None):
        self.log_dir = os.fspath(log_dir)
        self.flush_secs = flush_secs
        self._metadata = dict(metadata or {})
        self._templates: dict[tuple[str, ...], _Template] = {}
        self._tagged: set[str] = set()
        self._pending: list[bytes] = []
        now = time.time()
        name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.{id(self)}.v2"
        self.path = os.path.join(self.log_dir, name)
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            self._file = open(self.path, "xb")
        except OSError as exc:
            raise LRFinderError(f"cannot write TensorBoard events to log_dir {self.log_dir!r}: "
                                f"{exc.strerror or exc}") from None
        self._pending.append(frame_record(event_pb2.Event(wall_time=now, file_version="brain.Event:2")
                                          .SerializeToString()))
        self.flush()

    def scalars(self, step: int, values: dict[str, float], wall_time: float) -> None:
        """Buffer float32 scalars of several tags at one step, as one event."""
        names = tuple(values)
        template = self._templates.get(names)
        if template is None:  # a tag's first event carries its metadata; a cached template's tags all had theirs
            template = _Template(names, {tag: self._metadata.get(tag, b"") for tag in names
                                         if tag not in self._tagged})
            self._tagged.update(names)
            if not template.has_metadata:  # one with metadata is used once
                self._templates[names] = template
        parts = [b"\x09", _WALL_TIME.pack(wall_time), b"\x10", _varint(step)]
        for piece, value in zip(template.pieces, values.values()):
            parts.append(piece)
            parts.append(_float32(value))
        parts.append(template.tail)
        self._pending.append(frame_record(b"".join(parts)))

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
            try:
                self._file.write(b"".join(self._pending))
                self._file.flush()
            except OSError as exc:
                raise LRFinderError(f"cannot write TensorBoard events to {self.path!r}: "
                                    f"{exc.strerror or exc}") from None
            self._pending.clear()
        self._last_flush = time.time()

    def close(self) -> None:
        """Flush and close (idempotent)."""
        if not self._file.closed:
            try:
                self.flush()
            finally:
                self._file.close()
