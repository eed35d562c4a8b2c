"""A PNG writer for what Pillow cannot write: 16-bit RGB, RGBA and grey+alpha,
and PNGs with chunks of our own (the SecurePix header), streamed in pieces so
that no second full copy of the image is made."""

from __future__ import annotations

import struct
import zlib

import numpy as np
from numpy.typing import NDArray

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _deflated_scanlines(rows: NDArray[np.uint8], level: int) -> list[bytes]:
    """zlib stream of the rows, each behind filter byte 0 (None), in pieces of
    about a megabyte so that no second full copy of the image is made."""
    compressor = zlib.compressobj(level=level)
    batch = max(1, (1 << 20) // (rows.shape[1] + 1))
    pieces = []
    for start in range(0, rows.shape[0], batch):
        part = rows[start : start + batch]
        scanlines = np.zeros((part.shape[0], part.shape[1] + 1), dtype=np.uint8)
        scanlines[:, 1:] = part
        pieces.append(compressor.compress(scanlines.data))
    pieces.append(compressor.flush())
    return pieces


def png_bytes(
    rows: NDArray[np.uint8],
    width: int,
    channels: int,
    bit_depth: int,
    *,
    extra_chunks: tuple[bytes, ...] = (),
    level: int,
) -> bytes:
    """A PNG of `rows` (height x row bytes, samples big-endian for 16 bits),
    with `extra_chunks` (whole chunks) between IHDR and IDAT.

    Also writes plain 16-bit RGB, RGBA and grey+alpha PNGs, which Pillow cannot.
    """
    ihdr = struct.pack(">IIBBBBB", width, rows.shape[0], bit_depth, COLOUR_TYPES[channels], 0, 0, 0)
    idat = _deflated_scanlines(rows, level)
    crc = zlib.crc32(b"IDAT")
    for piece in idat:
        crc = zlib.crc32(piece, crc)
    return b"".join(
        [
            PNG_SIGNATURE,
            chunk(b"IHDR", ihdr),
            *extra_chunks,
            struct.pack(">I", sum(len(piece) for piece in idat)) + b"IDAT",
            *idat,
            struct.pack(">I", crc),
            chunk(b"IEND", b""),
        ]
    )
