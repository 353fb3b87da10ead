"""The masked CRC-32C of TFRecord frames, the checksum event files carry.

Shared by the writer (`events`) and the reader (`events`), like `tags`:
neither imports the other.
"""

from __future__ import annotations

import google_crc32c

MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """The CRC-32C of `data`, masked as TFRecord frames store it."""
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF
