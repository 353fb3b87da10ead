"""The TFRecord codec of event files: a record's framing, encoded and decoded.

Each record of an event file is framed as

    uint64 length | uint32 masked_crc32c(length) | data[length] | uint32 masked_crc32c(data)

(little-endian). `frame_record` encodes one. Decoding (`iter_record_batches`, `first_record`)
uses a length to read further or to yield a record only once the length's CRC holds (a flipped
bit would otherwise ask for exabytes), skips a record whose data CRC fails and, after a damaged
length, searches forward for the next valid frame. The frames of a chunk are found and checked
vectorized where the record lengths repeat, as one writer's events do. A file that ends inside a
record (a writer still running) yields every complete record before it. Problems are reported
through `on_problem`, never by raising: the caller decides whether they are warnings or errors.
Memory stays bounded by the chunk size plus the largest record, whatever the file's size."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from tb_lrfinder.logformat.crc import masked_crc32c, masked_crc32c_rows

_HEADER = struct.Struct("<QI")  # a frame's length and its CRC


_LENGTH = struct.Struct("<Q")


_CRC = struct.Struct("<I")


_HEADER_SIZE = _HEADER.size  # 12


_FOOTER_SIZE = 4


_CHUNK_SIZE = 1 << 22  # bytes read at a time


_MAX_RECORD = 1 << 31  # a scalar event is ~100 bytes; anything larger is suspect


@dataclass(frozen=True)
class Problem:
    """Something wrong in a file, at a byte offset."""

    path: str
    offset: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} at byte offset {self.offset}"


@dataclass(frozen=True)
class RecordBatch:
    """The intact records of one chunk of a file: `data[starts[i]:starts[i]+lengths[i]]`."""

    data: bytes
    starts: np.ndarray  # int64 offsets into data
    lengths: np.ndarray  # int64
    offset: int = 0  # the file offset of data[0]

    def record_offset(self, i: int) -> int:
        """The file offset of record i's frame (its length field)."""
        return self.offset + int(self.starts[i]) - _HEADER_SIZE

    def __len__(self) -> int:
        return len(self.starts)

    def payload(self, i: int) -> bytes:
        start = int(self.starts[i])
        return self.data[start : start + int(self.lengths[i])]


_PROBE = 32  # records walked one by one before the lengths' period is looked for


_MAX_PERIOD = 16  # records per repeating unit (one event per tag of a step)


_VECTOR_MIN_RECORDS = 16  # fewer records of one length are checksummed one by one


_VECTOR_MAX_LENGTH = 4096  # and so are longer records


def _period(lengths: list[int]) -> int:
    """The shortest p <= _MAX_PERIOD with which the last _PROBE lengths repeat, or 0."""
    window = lengths[-_PROBE:]
    for p in range(1, _MAX_PERIOD + 1):
        if window[p:] == window[:-p]:
            return p
    return 0


def values_at(raw: np.ndarray, offsets: np.ndarray, dtype: str) -> np.ndarray:
    """The `dtype` values (little-endian) that start at byte `offsets` of
    `raw` (a uint8 array), gathered at once through a view that places a
    value at every byte; offsets past the last whole value read the last."""
    dtype = np.dtype(dtype)
    count = len(raw) - dtype.itemsize + 1
    if count <= 0:
        return np.zeros(len(offsets), dtype=dtype)
    every = np.ndarray((count,), dtype=dtype, buffer=raw, strides=(1,))
    return every[np.minimum(offsets, count - 1)]


def _length_crcs_hold(raw: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Whether the header at each of `offsets` in `raw` holds its length's masked CRC-32C."""
    length_fields = np.lib.stride_tricks.sliding_window_view(raw, 8)[offsets]
    return masked_crc32c_rows(length_fields) == values_at(raw, offsets + 8, "<u4")


def _predict(raw: np.ndarray, offsets: list[int], lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The frames after a repeating unit (`offsets`, `lengths`: its records), for as
    long as the unit keeps repeating: each predicted frame is confirmed by its
    length field holding the predicted length, so the result is exactly what a
    record-by-record walk would find."""
    stride = offsets[-1] + _HEADER_SIZE + lengths[-1] + _FOOTER_SIZE - offsets[0]
    repeats = (len(raw) - offsets[0]) // stride - 1
    if repeats < 1:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    predicted = (np.asarray(offsets, np.int64) + stride * np.arange(1, repeats + 1, dtype=np.int64)[:, None]).ravel()
    expected = np.tile(np.asarray(lengths, np.int64), repeats)
    wrong = np.flatnonzero(values_at(raw, predicted, "<u8") != expected.astype(np.uint64))
    keep = int(wrong[0]) if wrong.size else len(predicted)
    return predicted[:keep], expected[:keep]


def _walk(data: bytes, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(frame offsets, data lengths) of the complete frames at the start of `data`,
    and the offset where the walk stopped: a frame that is incomplete or claims
    more than _MAX_RECORD bytes.

    Lengths are followed without their CRCs (the caller checks them all at
    once and cuts the walk at the first bad one). Where the lengths repeat
    with a short period, as one writer's events do, the rest of the chunk is
    predicted and confirmed vectorized (`_predict`); elsewhere the frames are
    walked one by one.
    """
    size = len(data)
    unpack_length = _LENGTH.unpack_from
    parts_offsets: list[np.ndarray] = []
    parts_lengths: list[np.ndarray] = []
    offsets: list[int] = []
    lengths: list[int] = []
    pos, probe = 0, _PROBE
    while pos + _HEADER_SIZE <= size:
        (length,) = unpack_length(data, pos)
        end = pos + _HEADER_SIZE + length + _FOOTER_SIZE
        if length > _MAX_RECORD or end > size:
            break
        offsets.append(pos)
        lengths.append(length)
        pos = end
        if len(offsets) < probe:
            continue
        period = _period(lengths)
        found = 0
        if period:
            more_offsets, more_lengths = _predict(raw, offsets[-period:], lengths[-period:])
            found = len(more_offsets)
            if found:
                parts_offsets += [np.asarray(offsets, np.int64), more_offsets]
                parts_lengths += [np.asarray(lengths, np.int64), more_lengths]
                offsets, lengths = [], []
                pos = int(more_offsets[-1]) + _HEADER_SIZE + int(more_lengths[-1]) + _FOOTER_SIZE
        # Look again after _PROBE records where the prediction paid off, else back off.
        probe = _PROBE if found >= 4 * _PROBE else len(offsets) + min(2 * probe, 1 << 12)
    parts_offsets.append(np.asarray(offsets, np.int64))
    parts_lengths.append(np.asarray(lengths, np.int64))
    return np.concatenate(parts_offsets), np.concatenate(parts_lengths), pos


def _data_crcs_hold(data: bytes, raw: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Whether each record's data matches its stored CRC: records of one length
    together (`masked_crc32c_rows`), rare lengths and long records one by one."""
    stored = values_at(raw, starts + lengths, "<u4")
    good = np.empty(len(starts), dtype=bool)
    order = np.argsort(lengths, kind="stable")
    for members in np.split(order, np.flatnonzero(np.diff(lengths[order])) + 1):
        length = int(lengths[members[0]])
        if len(members) >= _VECTOR_MIN_RECORDS and 0 < length <= _VECTOR_MAX_LENGTH:
            rows = np.lib.stride_tricks.sliding_window_view(raw, length)[starts[members]]
            good[members] = masked_crc32c_rows(rows) == stored[members]
        else:
            computed = [masked_crc32c(data[s : s + length]) for s in starts[members].tolist()]
            good[members] = np.asarray(computed, dtype=np.uint32) == stored[members]
    return good


def iter_record_batches(
    path: str | os.PathLike,
    on_problem: Callable[[Problem], None],
) -> Iterator[RecordBatch]:
    """Yield the intact records of the file at `path`, a chunk at a time, in order.

    Damage is reported to `on_problem` and skipped; reading goes on after it.
    A length is used only once its CRC holds: the frames of a chunk are
    walked (`_walk`), their length CRCs checked together and the walk cut at
    the first that fails, where the search for the next valid frame starts.
    Data CRCs are checked together too (`_data_crcs_hold`).
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        data, base, pos, eof = b"", 0, 0, False
        while True:
            chunk = handle.read(_CHUNK_SIZE) if not eof else b""
            eof = eof or not chunk
            data, base = data[pos:] + chunk, base + pos
            size = len(data)
            raw = np.frombuffer(data, dtype=np.uint8)
            offsets, lengths, pos = _walk(data, raw)
            resync_at = -1
            if len(offsets):
                length_ok = _length_crcs_hold(raw, offsets)
                if not length_ok.all():
                    first = int(np.argmin(length_ok))
                    resync_at = int(offsets[first])
                    offsets, lengths = offsets[:first], lengths[:first]
            if resync_at < 0 and pos + _HEADER_SIZE <= size:
                # The walk stopped at a whole header: a bad CRC or an absurd length is damage;
                # else the record is incomplete and the next chunk completes it.
                length, length_crc = _HEADER.unpack_from(data, pos)
                if length_crc != masked_crc32c(data[pos : pos + 8]) or length > _MAX_RECORD:
                    resync_at = pos
            if len(offsets):
                starts = offsets + _HEADER_SIZE
                good = _data_crcs_hold(data, raw, starts, lengths)
                for i in np.flatnonzero(~good):
                    on_problem(Problem(path, base + int(offsets[i]), "corrupt record data (CRC mismatch); record skipped"))
                yield RecordBatch(data, starts[good], lengths[good], base)
            if resync_at >= 0:
                on_problem(Problem(path, base + resync_at, "corrupt record length (CRC mismatch); searching for the next record"))
                offset = _resync(handle, base + resync_at + 1)
                if offset < 0:
                    return
                handle.seek(offset)
                data, base, pos, eof = b"", offset, 0, False
                continue
            if eof:
                if pos < size:
                    what = "record header" if size - pos < _HEADER_SIZE else "record"
                    on_problem(Problem(path, base + pos, f"file ends inside a {what} (still being written?)"))
                return


def first_record(head: bytes) -> bytes | None:
    """The data of the record at the start of `head` (a file's first bytes),
    if it lies wholly inside and both its CRCs hold; else None."""
    if len(head) < _HEADER_SIZE:
        return None
    length, length_crc = _HEADER.unpack_from(head)
    if length_crc != masked_crc32c(head[:8]) or _HEADER_SIZE + length + _FOOTER_SIZE > len(head):
        return None
    data = head[_HEADER_SIZE : _HEADER_SIZE + length]
    if _CRC.unpack_from(head, _HEADER_SIZE + length)[0] != masked_crc32c(data):
        return None
    return data


def _plausible_headers(window: bytes) -> np.ndarray:
    """Positions in `window` where a record header could start: a length of at
    most _MAX_RECORD followed by that length's masked CRC-32C.

    Vectorized over bytes: a header is never all zeros (the CRC of a zero
    length is not zero) and a length under 2**31 has four zero high bytes, so
    only the few positions passing both are checksummed, together."""
    count = len(window) - _HEADER_SIZE + 1
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    raw = np.frombuffer(window, dtype=np.uint8)
    nonzero = np.concatenate([[0], np.cumsum(raw != 0, dtype=np.int32)])  # a window is far below 2**31 bytes
    live = nonzero[_HEADER_SIZE : _HEADER_SIZE + count] > nonzero[:count]
    small = (raw[4 : 4 + count] | raw[5 : 5 + count] | raw[6 : 6 + count] | raw[7 : 7 + count]) == 0
    small &= raw[3 : 3 + count] < 0x80
    candidates = np.flatnonzero(live & small)
    if candidates.size == 0:
        return candidates
    return candidates[_length_crcs_hold(raw, candidates)]


def _resync(handle, offset: int) -> int:
    """The offset of the next fully valid record at or after `offset` in the
    open file `handle`, or -1.

    Scans a chunk at a time for plausible headers (`_plausible_headers`) and
    checks each one's data CRC; tens of MB/s over garbage or zeros."""
    while True:
        handle.seek(offset)
        window = handle.read(_CHUNK_SIZE + _HEADER_SIZE - 1)
        if len(window) < _HEADER_SIZE:
            return -1
        for position in _plausible_headers(window):
            (length,) = _LENGTH.unpack_from(window, position)
            body = window[position + _HEADER_SIZE : position + _HEADER_SIZE + length + _FOOTER_SIZE]
            if len(body) < length + _FOOTER_SIZE:  # the record runs past the window
                handle.seek(offset + int(position) + _HEADER_SIZE)
                body = handle.read(length + _FOOTER_SIZE)
            if len(body) < length + _FOOTER_SIZE:  # the file ends inside it
                continue
            if _CRC.unpack_from(body, length)[0] == masked_crc32c(body[:length]):
                return offset + int(position)
        offset += len(window) - _HEADER_SIZE + 1


def _frame_header(length: int) -> bytes:
    """A TFRecord's header: the data's length and that length's masked CRC-32C."""
    packed = _LENGTH.pack(length)
    return packed + _CRC.pack(masked_crc32c(packed))


def frame_record(data: bytes) -> bytes:
    """`data` as one TFRecord: length, its masked CRC-32C, data, the data's masked CRC-32C."""
    return b"".join((_frame_header(len(data)), data, _CRC.pack(masked_crc32c(data))))
