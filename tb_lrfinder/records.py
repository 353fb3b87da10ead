"""TFRecord framing: stream the records of a TensorBoard event file.

Each record is framed as

    uint64 length | uint32 masked_crc32c(length) | data[length] | uint32 masked_crc32c(data)

(little-endian). The reader checks the length's CRC *before* trusting the
length (a flipped bit would otherwise ask for exabytes), skips a record whose
data CRC fails and, after a damaged length, searches forward for the next
valid frame. A file that ends inside a record (a writer still running) yields
every complete record before it. Problems are reported through `on_problem`,
never by raising: the caller decides whether they are warnings or errors.

Memory stays bounded by the chunk size plus the largest record, whatever the
file's size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import google_crc32c

_HEADER = struct.Struct("<QI")
_HEADER_SIZE = _HEADER.size  # 12
_FOOTER_SIZE = 4
_MASK_DELTA = 0xA282EAD8
_CHUNK_SIZE = 1 << 22  # bytes read at a time
_MAX_RECORD = 1 << 31  # a scalar event is ~100 bytes; anything larger is suspect


def masked_crc32c(data: bytes) -> int:
    """The CRC-32C of `data`, masked as TFRecord frames store it."""
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """Frame `data` as one TFRecord (used by tests and tools that write logs)."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


@dataclass(frozen=True)
class Problem:
    """Something wrong in a file, at a byte offset."""

    path: str
    offset: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} at byte offset {self.offset}"


class _Buffer:
    """A window over a binary file, read forward in chunks.

    `get` may ask for any offset at or after the last `release`d one.
    """

    def __init__(self, handle):
        self._handle = handle
        self._data = b""
        self._start = 0  # file offset of self._data[0]
        self._floor = 0  # bytes before this offset may be dropped
        self._eof = False

    def release(self, offset: int) -> None:
        """Bytes before `offset` will not be asked for again (dropped at the next read)."""
        self._floor = max(self._floor, offset)

    def get(self, offset: int, size: int) -> bytes | None:
        """`size` bytes at file `offset`, or None if the file ends sooner."""
        end = offset + size
        while self._start + len(self._data) < end and not self._eof:
            chunk = self._handle.read(max(_CHUNK_SIZE, size))
            if chunk:
                self._data = self._data[self._floor - self._start :] + chunk
                self._start = self._floor
            else:
                self._eof = True
        if self._start + len(self._data) < end:
            return None
        begin = offset - self._start
        return self._data[begin : begin + size]


def iter_records(
    path: str | os.PathLike,
    on_problem: Callable[[Problem], None],
) -> Iterator[bytes]:
    """Yield the data of every intact record in the file at `path`, in order.

    Damage is reported to `on_problem` and skipped; reading goes on after it.
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        buffer = _Buffer(handle)
        offset = 0
        while True:
            buffer.release(offset)
            header = buffer.get(offset, _HEADER_SIZE)
            if header is None:
                tail = buffer.get(offset, 1)
                if tail is not None:
                    on_problem(Problem(path, offset, "file ends inside a record header (still being written?)"))
                return
            length, length_crc = _HEADER.unpack(header)
            if length_crc != masked_crc32c(header[:8]) or length > _MAX_RECORD:
                on_problem(Problem(path, offset, "corrupt record length (CRC mismatch); searching for the next record"))
                offset = _resync(buffer, offset + 1)
                if offset < 0:
                    return
                continue
            body = buffer.get(offset + _HEADER_SIZE, length + _FOOTER_SIZE)
            if body is None:
                on_problem(Problem(path, offset, "file ends inside a record (still being written?)"))
                return
            data = body[:length]
            (data_crc,) = struct.unpack_from("<I", body, length)
            if data_crc != masked_crc32c(data):
                on_problem(Problem(path, offset, "corrupt record data (CRC mismatch); record skipped"))
            else:
                yield data
            offset += _HEADER_SIZE + length + _FOOTER_SIZE


def _resync(buffer: _Buffer, offset: int) -> int:
    """The offset of the next fully valid record at or after `offset`, or -1."""
    while True:
        buffer.release(offset)
        header = buffer.get(offset, _HEADER_SIZE)
        if header is None:
            return -1
        length, length_crc = _HEADER.unpack(header)
        if length <= _MAX_RECORD and length_crc == masked_crc32c(header[:8]):
            body = buffer.get(offset + _HEADER_SIZE, length + _FOOTER_SIZE)
            if body is not None and struct.unpack_from("<I", body, length)[0] == masked_crc32c(body[:length]):
                return offset
        offset += 1


def walk_frames(path: str | os.PathLike) -> int:
    """Count records by their framing only (no CRC, no parsing): a speed baseline."""
    count = 0
    with open(path, "rb") as handle:
        buffer = _Buffer(handle)
        offset = 0
        while (header := buffer.get(offset, _HEADER_SIZE)) is not None:
            buffer.release(offset)
            (length,) = struct.unpack_from("<Q", header)
            if buffer.get(offset + _HEADER_SIZE, length + _FOOTER_SIZE) is None:
                break
            count += 1
            offset += _HEADER_SIZE + length + _FOOTER_SIZE
    return count
