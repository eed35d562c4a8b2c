"""The SecurePix file: a standard PNG of noise with one private header chunk.

See docs/FORMAT.md.  Pillow cannot write 16-bit PNGs with more than one
channel, and the reader must check every chunk's CRC and refuse trailing bytes
(so that a single changed byte anywhere is noticed), so the container writes
and reads its own PNGs: filter type 0 only, one IDAT, no interlacing.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
from isal import isal_zlib
from numpy.typing import NDArray

from core.errors import ImageTooLarge, NotSecurePixFile, TamperedFile
from imaging.png import PNG_SIGNATURE, InflateError, chunk, png_pieces, read_ihdr, stored_scanlines_length

from .kdf import KdfParams

HEADER_CHUNK = b"spXH"  # ancillary, private, unsafe to copy: editors drop it
MAGIC = b"SecurePix"
VERSION = 1
CIPHER_IDS = {"chaotic": 1, "aes-gcm": 2}
KDF_ARGON2ID = 1
_FIXED = struct.Struct(">9sBBBIII16s16sIIBB")
PASSWORD_CHECK_BYTES = 16
# A SecurePix file to read: in memory, or an open (seekable) file.
Source = bytes | BinaryIO


@dataclass(frozen=True)
class Header:
    """Everything in the header chunk.  Only the fixed part is in clear; the
    metadata is sealed by the cipher and `extra` is ciphertext."""

    cipher: str
    kdf: KdfParams
    salt: bytes
    password_check: bytes
    height: int
    width: int
    channels: int
    bit_depth: int
    extra: bytes = b""
    sealed_metadata: bytes = b""
    tag: bytes = field(default=b"", repr=False)

    @property
    def row_bytes(self) -> int:
        """The bytes of one row of samples."""
        return self.width * self.channels * self.bit_depth // 8

    @property
    def body_bytes(self) -> int:
        return self.height * self.row_bytes

    def fixed_bytes(self) -> bytes:
        return _FIXED.pack(
            MAGIC,
            VERSION,
            CIPHER_IDS[self.cipher],
            KDF_ARGON2ID,
            self.kdf.memory_kib,
            self.kdf.iterations,
            self.kdf.parallelism,
            self.salt,
            self.password_check,
            self.height,
            self.width,
            self.channels,
            self.bit_depth,
        )

    def authenticated_bytes(self) -> bytes:
        """The header as the MAC sees it: every field but the tag."""
        return (
            self.fixed_bytes()
            + struct.pack(">B", len(self.extra))
            + self.extra
            + struct.pack(">I", len(self.sealed_metadata))
            + self.sealed_metadata
        )

    def to_bytes(self) -> bytes:
        return self.authenticated_bytes() + struct.pack(">B", len(self.tag)) + self.tag

    @classmethod
    def from_bytes(cls, payload: bytes) -> Header:
        try:
            fields = _FIXED.unpack_from(payload)
            magic, version, cipher_id, kdf_id, memory, iterations, parallelism, salt, check, h, w, c, depth = fields
            if magic != MAGIC:
                raise NotSecurePixFile("the header chunk does not start with the SecurePix magic")
            if version != VERSION:
                raise NotSecurePixFile(f"SecurePix format version {version} is not supported (this reader: {VERSION})")
            ciphers = {v: k for k, v in CIPHER_IDS.items()}
            if cipher_id not in ciphers or kdf_id != KDF_ARGON2ID:
                raise TamperedFile("the header names an unknown cipher or key derivation")
            offset = _FIXED.size
            extra, offset = _length_prefixed(payload, offset, ">B")
            sealed, offset = _length_prefixed(payload, offset, ">I")
            tag, offset = _length_prefixed(payload, offset, ">B")
        except struct.error as exc:
            raise TamperedFile("the SecurePix header is truncated") from exc
        if offset != len(payload):
            raise TamperedFile("the SecurePix header has trailing bytes")
        return cls(
            cipher=ciphers[cipher_id],
            kdf=KdfParams(memory, iterations, parallelism),
            salt=salt,
            password_check=check,
            height=h,
            width=w,
            channels=c,
            bit_depth=depth,
            extra=extra,
            sealed_metadata=sealed,
            tag=tag,
        )


def _length_prefixed(payload: bytes, offset: int, fmt: str) -> tuple[bytes, int]:
    (length,) = struct.unpack_from(fmt, payload, offset)
    offset += struct.calcsize(fmt)
    if offset + length > len(payload):
        raise struct.error("field runs past the end")
    return payload[offset : offset + length], offset + length


# A SecurePix file's first bytes: the PNG signature, the image header (13
# bytes of data), then the length and type of the SecurePix header chunk.
LEADING_BYTES = len(PNG_SIGNATURE) + (12 + 13) + 8


def begins_as_securepix(head: bytes) -> bool:
    """Whether a file's first LEADING_BYTES bytes are a SecurePix file's: a
    look at its layout, not a check of it (read_header checks)."""
    return (
        len(head) >= LEADING_BYTES
        and head.startswith(PNG_SIGNATURE)
        and head[12:16] == b"IHDR"
        and head[LEADING_BYTES - 4 : LEADING_BYTES] == HEADER_CHUNK
    )


def write(header: Header, body: NDArray[np.uint8]) -> bytes:
    """A PNG whose pixels are `body` (the ciphertext bytes, in scanline order)."""
    out = io.BytesIO()
    write_to(out, header, body)
    return out.getvalue()


def write_to(out: BinaryIO, header: Header, body: NDArray[np.uint8]) -> None:
    """write(), streamed to a file: no copy of the body is made."""
    for piece in pieces(header, body):
        out.write(piece)


def pieces(header: Header, body: NDArray[np.uint8]) -> Iterator[bytes | memoryview]:
    """write()'s file in order, a piece at a time, never whole in memory
    (imaging.png.png_pieces: each piece is used before the next is asked for)."""
    if body.size != header.body_bytes:
        raise ValueError(f"body has {body.size} bytes, the header describes {header.body_bytes}")
    rows = body.reshape(header.height, header.row_bytes)
    # Stored: ciphertext is noise, and deflating noise only costs time.
    extra_chunks = (chunk(HEADER_CHUNK, header.to_bytes()),)
    return png_pieces(rows, header.width, header.channels, header.bit_depth, extra_chunks=extra_chunks, level=None)


def file_size(header: Header) -> int:
    """The length of write()'s file, without making it: the signature, IHDR,
    the header chunk, one IDAT of stored blocks and IEND."""
    idat = stored_scanlines_length(header.height, header.row_bytes + 1)
    return len(PNG_SIGNATURE) + (12 + 13) + (12 + len(header.to_bytes())) + (12 + idat) + 12


def _stream(data: Source) -> BinaryIO:
    """The file as a stream from its start: bytes in memory, or an open file."""
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(data)
    data.seek(0)
    return data


# The first chunks of a SecurePix PNG, in this order; only their payloads are kept.
_LEADING = (b"IHDR", HEADER_CHUNK)
_IHDR_BYTES = 13


@dataclass
class _Chunks:
    """What a walk over chunks keeps: the payloads of IHDR and the header chunk
    (when they lead), how many header chunks it saw, and the last chunk's kind."""

    leading: list[bytes] = field(default_factory=list)
    header_chunks: int = 0
    last: bytes = b""


def _chunks(
    stream: BinaryIO,
    stop_before: bytes | None = None,
    pixels: Callable[[bytes], None] | None = None,
    seen: int = 0,
) -> _Chunks:
    """Walk the chunks from the stream's position (`seen` of them read before),
    each CRC-checked a piece at a time; all of them up to IEND and the end of
    the file, or those before the first chunk of kind `stop_before` (the
    stream is left at its start).  The first two must be IHDR and the header
    chunk; only their payloads are kept.  With `pixels`, IDAT payloads are
    handed to it a piece at a time (the CRC is checked at the chunk's end)."""
    walked = _Chunks()
    while head := stream.read(8):
        if len(head) < 8:
            raise TamperedFile("the PNG ends inside a chunk")
        (length,) = struct.unpack(">I", head[:4])
        kind = head[4:]
        if kind == stop_before:
            stream.seek(-8, io.SEEK_CUR)
            return walked
        if seen < len(_LEADING) and kind != _LEADING[seen]:
            raise TamperedFile("the PNG chunks are not in the SecurePix order")
        if kind == b"IHDR" and length != _IHDR_BYTES:
            raise TamperedFile("the PNG image header has the wrong length")
        crc = isal_zlib.crc32(kind)
        kept: list[bytes] = []
        for piece in _pieces(stream, kind, length):
            crc = isal_zlib.crc32(piece, crc)
            if kind == b"IDAT" and pixels is not None:
                pixels(piece)
            elif seen < len(_LEADING):
                kept.append(piece)
        stated = stream.read(4)
        if len(stated) < 4:
            raise TamperedFile(f"the PNG chunk {kind!r} runs past the end of the file")
        if struct.unpack(">I", stated)[0] != crc:
            raise TamperedFile(f"the PNG chunk {kind!r} fails its CRC check")
        if seen < len(_LEADING):
            walked.leading.append(b"".join(kept))
        walked.header_chunks += kind == HEADER_CHUNK
        walked.last, seen = kind, seen + 1
        if kind == b"IEND":
            break
    if stream.read(1) or walked.last != b"IEND":
        raise TamperedFile("the PNG has bytes after its end, or no end")
    return walked


def _pieces(stream: BinaryIO, kind: bytes, length: int) -> Iterator[bytes]:
    while length > 0:
        piece = stream.read(min(length, _INFLATE_PIECE))
        if not piece:
            raise TamperedFile(f"the PNG chunk {kind!r} runs past the end of the file")
        length -= len(piece)
        yield piece


def _opened(data: Source) -> BinaryIO:
    """The stream of a SecurePix PNG, after its signature (else NotSecurePixFile)."""
    stream = _stream(data)
    start = stream.read(4096)
    if not (start.startswith(PNG_SIGNATURE) and HEADER_CHUNK + MAGIC in start):
        raise NotSecurePixFile("this is not a SecurePix encrypted image (no SecurePix header chunk)")
    stream.seek(len(PNG_SIGNATURE))
    return stream


def _checked_header(leading: _Chunks, max_pixels: int) -> Header:
    if len(leading.leading) != len(_LEADING) or leading.header_chunks != 1:
        raise TamperedFile("the PNG chunks are not in the SecurePix order")
    width, height, depth, channels, options = read_ihdr(leading.leading[0])
    header = Header.from_bytes(leading.leading[1])
    if (width, height, depth, channels) != (header.width, header.height, header.bit_depth, header.channels):
        raise TamperedFile("the PNG image header disagrees with the SecurePix header")
    if options != (0, 0, 0) or depth not in (8, 16):
        raise TamperedFile("the PNG uses options a SecurePix file never has")
    if width == 0 or height == 0:
        raise TamperedFile("the PNG declares an image of no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} is over the limit of {max_pixels} pixels")
    return header


def read_header(data: Source, max_pixels: int) -> Header:
    """The header alone, checked, without touching the pixel data: enough to
    refuse a file before any key derivation."""
    return _checked_header(_chunks(_opened(data), stop_before=b"IDAT"), max_pixels)


def read(data: Source, max_pixels: int) -> tuple[Header, NDArray[np.uint8]]:
    """Parse a SecurePix PNG; returns the header and the ciphertext body as
    rows of bytes."""
    header, ciphertext = read_ciphertext(data, max_pixels)
    return header, ciphertext[: header.body_bytes].reshape(header.height, header.row_bytes)


# Inflate at most this much at a time: the pixel data is never held twice.
_INFLATE_PIECE = 1 << 20


def read_ciphertext(data: Source, max_pixels: int) -> tuple[Header, NDArray[np.uint8]]:
    """Parse a SecurePix PNG (bytes, or an open file, read from its start);
    returns the header and the whole ciphertext, the body's bytes then the
    header's `extra`, in one writable array that the cipher can decrypt in
    place.  The pixel data is inflated straight into it, a piece at a time,
    and refused as soon as it runs past the size the header declares."""
    stream = _opened(data)
    before = _chunks(stream, stop_before=b"IDAT")
    header = _checked_header(before, max_pixels)
    height, row_bytes = header.height, header.row_bytes
    expected = height * (row_bytes + 1)
    buffer = np.empty(expected + len(header.extra), dtype=np.uint8)
    inflater = _Inflater(buffer[:expected])
    after = _chunks(stream, pixels=inflater.feed, seen=len(before.leading))
    if after.header_chunks:
        raise TamperedFile("the PNG chunks are not in the SecurePix order")
    if inflater.finish() != expected:
        raise TamperedFile("the PNG pixel data has the wrong length")
    scanlines = buffer[:expected].reshape(height, row_bytes + 1)
    if scanlines[:, 0].any():
        raise TamperedFile("the PNG uses a scanline filter a SecurePix file never has")
    _drop_filter_bytes(buffer, height, row_bytes)
    ciphertext = buffer[: header.body_bytes + len(header.extra)]
    ciphertext[header.body_bytes :] = np.frombuffer(header.extra, dtype=np.uint8)
    return header, ciphertext


class _Inflater:
    """One zlib stream, fed in pieces, inflated into `target` (by ISA-L, whose
    checksums run several times faster than zlib's)."""

    def __init__(self, target: NDArray[np.uint8]) -> None:
        self._target = target
        self._inflater = isal_zlib.decompressobj()
        self._filled = 0  # -1 once the stream ran past the target

    def feed(self, data: bytes) -> None:
        if self._inflater.eof:  # bytes after the stream's end: never kept (zlib would keep them all)
            self._filled = -1
            return
        pending = data
        try:
            while self._filled >= 0:
                piece = self._inflater.decompress(pending, _INFLATE_PIECE)
                if self._filled + len(piece) > self._target.size:
                    self._filled = -1
                    return
                self._target[self._filled : self._filled + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
                self._filled += len(piece)
                pending = self._inflater.unconsumed_tail
                if not pending and len(piece) < _INFLATE_PIECE:
                    return
        except InflateError as exc:
            raise TamperedFile("the PNG pixel data does not decompress") from exc

    def finish(self) -> int:
        """The bytes inflated, or -1 when the stream is longer than the target,
        ends early, or has bytes after its end."""
        if not self._inflater.eof or self._inflater.unused_data:
            return -1
        return self._filled


def _drop_filter_bytes(buffer: NDArray[np.uint8], height: int, row_bytes: int) -> None:
    """Scanlines (a filter byte, then a row) -> rows, packed from the start of
    `buffer`, in place: each block of rows moves towards the start, never over
    rows still to be moved."""
    line = row_bytes + 1
    batch = max(1, _INFLATE_PIECE // line)
    for start in range(0, height, batch):
        stop = min(start + batch, height)
        rows = buffer[start * line : stop * line].reshape(stop - start, line)[:, 1:]
        buffer[start * row_bytes : stop * row_bytes].reshape(stop - start, row_bytes)[...] = rows
