"""The masked CRC-32C of TFRecord frames, the checksum event files carry.

Shared by the writer and the reader (both in `events`), like `tags`.
`masked_crc32c` checksums one buffer; `masked_crc32c_rows` checksums many
equally long records at once, vectorized, for the reader.
"""

from __future__ import annotations

from functools import lru_cache

import google_crc32c
import numpy as np

MASK_DELTA = 0xA282EAD8


_POLYNOMIAL = 0x82F63B78  # CRC-32C (Castagnoli), bit-reflected


def masked_crc32c(data: bytes) -> int:
    """The CRC-32C of `data`, masked as TFRecord frames store it."""
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


def mask(crc: np.ndarray) -> np.ndarray:
    """TFRecord's mask of uint32 CRCs: rotate right by 15 bits, add MASK_DELTA (mod 2**32)."""
    crc = crc.astype(np.uint32)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(MASK_DELTA)


def _byte_table() -> np.ndarray:
    """CRC-32C of each single byte, from a zero register."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> np.uint32(1)) ^ np.uint32(_POLYNOMIAL), table >> np.uint32(1))
    return table.astype(np.uint32)


_TABLE = _byte_table()


@lru_cache(maxsize=64)
def _position_tables(length: int) -> np.ndarray:
    """(length, 256) uint32: entry [j, v] is the zero-register CRC of a `length`-byte
    message holding byte v at position j and zeros elsewhere."""
    tables = np.empty((length, 256), dtype=np.uint32)
    entry = _TABLE
    for j in range(length - 1, -1, -1):
        tables[j] = entry
        entry = _TABLE[entry & np.uint32(0xFF)] ^ (entry >> np.uint32(8))  # one more zero byte after it
    tables.setflags(write=False)
    return tables


def masked_crc32c_rows(rows: np.ndarray) -> np.ndarray:
    """The masked CRC-32C of each row of an (n, length) uint8 array, as uint32.

    CRC-32C is affine in the message: for two messages of one length,
    crc(a) ^ crc(b) is the zero-register CRC of a ^ b, which is the XOR over
    byte positions j of `_position_tables(length)[j, a[j] ^ b[j]]`. Each row's
    CRC is therefore the first row's (computed once) combined with one table
    lookup per column in which the rows differ: records of one writer differ
    in a few bytes (wall time, step, value), so this is a few vectorized
    lookups instead of one call per record.
    """
    count, length = rows.shape
    if count == 0:
        return np.empty(0, dtype=np.uint32)
    reference = rows[0]
    crc = np.full(count, google_crc32c.value(reference.tobytes()), dtype=np.uint32)
    for j in np.flatnonzero((rows != reference).any(axis=0)):
        crc ^= _position_tables(length)[j][rows[:, j] ^ reference[j]]
    return mask(crc)
