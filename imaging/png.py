"""A PNG writer for what Pillow cannot write: 16-bit RGB, RGBA and grey+alpha,
and PNGs with chunks of our own (the SecurePix header), streamed in pieces so
that no second full copy of the image is made.  Decrypted images are written
with the Sub filter and deflated by ISA-L on every core (pigz's way:
independent raw deflate pieces joined at byte boundaries): ten times faster
than Pillow's writer, for a file a little larger (Pillow tries every filter on
every row).  Ciphertext, which no compressor shrinks, goes in stored blocks."""

from __future__ import annotations

import io
import itertools
import os
import struct
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import imagecodecs
import numpy as np
from isal import isal_zlib
from numpy.typing import NDArray

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What ISA-L raises for a stream that does not inflate (its stubs call it an instance).
InflateError = cast(type[Exception], isal_zlib.error)
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type
_CHANNELS = {colour: channels for channels, colour in COLOUR_TYPES.items()}  # no palettes


def read_ihdr(payload: bytes) -> tuple[int, int, int, int | None, tuple[int, int, int]]:
    """An image header's width, height, bit depth, channels (None for a
    palette or an unknown colour type) and its compression, filter and
    interlace methods."""
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", payload)
    return width, height, depth, _CHANNELS.get(colour), (compression, filtering, interlace)


def chunk_kinds(data: bytes) -> list[bytes]:
    """The kinds of a PNG's chunks, in order, as far as its chunk headers can
    be followed (CRCs are not checked: the decoder does that)."""
    kinds: list[bytes] = []
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data) and data.startswith(PNG_SIGNATURE):
        (length,) = struct.unpack_from(">I", data, offset)
        kinds.append(bytes(data[offset + 4 : offset + 8]))
        if kinds[-1] == b"IEND":
            break
        offset += 12 + length
    return kinds


def chunk(kind: bytes, data: bytes) -> bytes:
    return b"".join(_chunk_pieces(kind, data))


def _chunk_pieces(kind: bytes, data: bytes) -> tuple[bytes, bytes, bytes]:
    """A chunk as its length and kind, its data (not copied) and its CRC."""
    return struct.pack(">I", len(data)) + kind, data, struct.pack(">I", isal_zlib.crc32(data, isal_zlib.crc32(kind)))


# zlib's header for a 32 KiB window and the fastest level (any level reads it).
_ZLIB_HEADER = b"\x78\x01"
PIECE_BYTES = 2 << 20  # rows filtered and deflated together, by one thread
THREADS = min(4, os.cpu_count() or 1)
IN_FLIGHT = 2 * THREADS  # pieces given to the threads ahead of the one being written


def _sub_filtered(rows: NDArray[np.uint8], pixel_bytes: int) -> NDArray[np.uint8]:
    """The rows behind filter byte 1 (Sub): each byte less the byte one pixel to its left."""
    lines = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    lines[:, 0] = 1
    lines[:, 1 : 1 + pixel_bytes] = rows[:, :pixel_bytes]
    np.subtract(rows[:, pixel_bytes:], rows[:, :-pixel_bytes], out=lines[:, 1 + pixel_bytes :])
    return lines


def _deflated_piece(rows: NDArray[np.uint8], pixel_bytes: int, level: int, last: bool) -> tuple[bytes, int, int]:
    """A piece of rows Sub-filtered and raw-deflated (ending on a byte boundary
    unless `last`), with the Adler-32 and length of the filtered bytes.  numpy,
    ISA-L's checksum and its compressor all let go of the GIL: pieces run on
    every core."""
    lines = _sub_filtered(rows, pixel_bytes)
    compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS)
    flush = isal_zlib.Z_FINISH if last else isal_zlib.Z_SYNC_FLUSH
    deflated = compressor.compress(lines.data) + compressor.flush(flush)
    return deflated, isal_zlib.adler32(lines.data), lines.size


_ADLER_BASE = 65521


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings one after the other, from theirs
    (zlib's adler32_combine, which Python's zlib module does not offer)."""
    remainder = second_length % _ADLER_BASE
    low = ((first & 0xFFFF) + (second & 0xFFFF) - 1) % _ADLER_BASE
    high = (remainder * (first & 0xFFFF) + (first >> 16) + (second >> 16) - remainder) % _ADLER_BASE
    return low | high << 16


def _deflated_in_parallel(rows: NDArray[np.uint8], level: int, pixel_bytes: int) -> Iterator[bytes]:
    """One zlib stream of the Sub-filtered rows, a deflated piece of rows at a
    time (the first behind the stream's header, the last followed by its
    checksum): pieces filtered and deflated on several threads while the
    caller takes the finished ones in order, IN_FLIGHT pieces in memory at a time."""
    batch = max(1, PIECE_BYTES // (rows.shape[1] + 1))
    starts = range(0, rows.shape[0], batch)
    checksum, held = 1, None
    with ThreadPoolExecutor(THREADS) as pool:
        pending: deque[Future[tuple[bytes, int, int]]] = deque()
        for start in starts:
            last = start == starts[-1]
            pending.append(pool.submit(_deflated_piece, rows[start : start + batch], pixel_bytes, level, last))
            while len(pending) >= IN_FLIGHT or (last and pending):
                deflated, adler, length = pending.popleft().result()
                checksum = adler32_combine(checksum, adler, length)
                if held is not None:
                    yield held
                held = deflated if held is not None else _ZLIB_HEADER + deflated
    assert held is not None  # an image has a row
    yield held + struct.pack(">I", checksum)


# A stored deflate block holds at most this many bytes.
_STORED_BLOCK = 0xFFFF


def _stored_scanlines(rows: NDArray[np.uint8]) -> Iterator[bytes | memoryview]:
    """zlib stream of the rows, each behind filter byte 0 (None), in stored
    (uncompressed) blocks, built about a megabyte of rows at a time so that no
    second full copy of the image is made.  Noise gains nothing from
    deflate; stored blocks cost a copy and a checksum."""
    batch = _stored_batch(rows.shape[1] + 1)
    scanlines = np.zeros((min(batch, rows.shape[0]), rows.shape[1] + 1), dtype=np.uint8)

    def pieces() -> Iterator[memoryview]:
        for start in range(0, rows.shape[0], batch):
            part = rows[start : start + batch]
            lines = scanlines[: part.shape[0]]
            lines[:, 1:] = part
            yield lines.reshape(-1).data  # taken before the next piece overwrites it

    yield from _stored_stream(pieces(), rows.shape[0] * (rows.shape[1] + 1))


def _stored_batch(line_bytes: int) -> int:
    """Rows that _stored_scanlines() gives _stored_stream() at a time (about a megabyte)."""
    return max(1, (1 << 20) // line_bytes)


def stored_scanlines_length(height: int, line_bytes: int) -> int:
    """The length of _stored_scanlines()' stream, without making it: each of
    its pieces (a batch of scanlines) is cut into stored blocks of its own."""
    batch = _stored_batch(line_bytes)
    full, rest = divmod(height, batch)

    def stored(size: int) -> int:
        return size + 5 * -(-size // _STORED_BLOCK) if size else 0

    return len(_ZLIB_HEADER) + full * stored(batch * line_bytes) + stored(rest * line_bytes) + 4


def _stored_stream(pieces: Iterable[bytes | memoryview], total: int) -> Iterator[bytes | memoryview]:
    """A zlib stream, in stored blocks, of `total` bytes (at least one) given
    in pieces (each is used before the next is asked for)."""
    if total < 1:
        raise ValueError("a stream of stored blocks holds at least one byte")
    yield _ZLIB_HEADER
    checksum, written = 1, 0
    for piece in pieces:
        view = memoryview(piece)
        checksum = isal_zlib.adler32(view, checksum)
        for offset in range(0, len(view), _STORED_BLOCK):
            block = view[offset : offset + _STORED_BLOCK]
            written += len(block)
            yield struct.pack("<BHH", written == total, len(block), len(block) ^ 0xFFFF)
            yield block
    if written != total:
        raise ValueError(f"{written} bytes given for a stream of {total}")
    yield struct.pack(">I", checksum)


# ISA-L's levels; 1 deflates a decrypted photo ten times faster than Pillow's
# writer and smaller than zlib's level 1.
LEVELS = range(4)


def png_pieces(
    rows: NDArray[np.uint8],
    width: int,
    channels: int,
    bit_depth: int,
    *,
    extra_chunks: tuple[bytes, ...] = (),
    level: int | None,
) -> Iterator[bytes | memoryview]:
    """A PNG of `rows` (height x row bytes, samples big-endian for 16 bits),
    with `extra_chunks` (whole chunks) between IHDR and IDAT, in order, a
    piece at a time: each piece is used before the next is asked for (it may
    be a view of a buffer the next one reuses), and the whole file is never
    in memory at once.  `level`: an ISA-L level (LEVELS), to Sub-filter the
    rows and deflate them on every core (images: an IDAT chunk for each
    deflated piece, whose lengths are known only once deflated), or None, to
    store them (ciphertext: noise gains nothing; one IDAT chunk, whose length
    is known beforehand).

    Also writes plain 16-bit RGB, RGBA and grey+alpha PNGs, which Pillow cannot.
    """
    if level is not None and level not in LEVELS:
        raise ValueError(f"deflate level {level} is not one of ISA-L's levels {LEVELS.start}-{LEVELS.stop - 1}")
    ihdr = struct.pack(">IIBBBBB", width, rows.shape[0], bit_depth, COLOUR_TYPES[channels], 0, 0, 0)
    yield b"".join([PNG_SIGNATURE, chunk(b"IHDR", ihdr), *extra_chunks])
    if level is not None and rows.shape[1] > channels * bit_depth // 8:
        for deflated in _deflated_in_parallel(rows, level, channels * bit_depth // 8):
            yield from _chunk_pieces(b"IDAT", deflated)
    else:
        yield struct.pack(">I", stored_scanlines_length(rows.shape[0], rows.shape[1] + 1)) + b"IDAT"
        crc = isal_zlib.crc32(b"IDAT")
        for piece in _stored_scanlines(rows):
            yield piece
            crc = isal_zlib.crc32(piece, crc)
        yield struct.pack(">I", crc)
    yield chunk(b"IEND", b"")


def png_bytes(
    rows: NDArray[np.uint8],
    width: int,
    channels: int,
    bit_depth: int,
    *,
    extra_chunks: tuple[bytes, ...] = (),
    level: int | None,
) -> bytes:
    """png_pieces() made whole, in memory."""
    out = io.BytesIO()
    for piece in png_pieces(rows, width, channels, bit_depth, extra_chunks=extra_chunks, level=level):
        out.write(piece)
    return out.getvalue()


# read_pixels() inflates and unfilters in bands of about this many bytes, for
# images of at least _PIPELINE_MIN_BYTES of pixel data (smaller ones gain
# nothing from a second thread).
_BAND_BYTES = 1 << 20
_PIPELINE_MIN_BYTES = 4 << 20
_BANDS_AHEAD = 2  # bands inflated and waiting for the unfiltering thread
_INPUT_PIECE = 1 << 16  # pixel data given to the inflater at a time
_MAX_CHUNKS = 100_000  # more is no image of ours: libpng walks them faster
LIBPNG_MAX_SIDE = 1_000_000  # libpng refuses wider or taller images
# Chunks that libpng checks in ways read_pixels() does not: a palette, and animation.
_LEFT_TO_LIBPNG = (b"tRNS", b"PLTE", b"acTL", b"fcTL", b"fdAT")


class _Flawed(Exception):
    """The PNG is not one read_pixels() reads: the usual decoder decides."""


@dataclass(frozen=True)
class _Layout:
    ihdr: bytes
    width: int
    height: int
    channels: int
    bit_depth: int
    pixel_data: list[memoryview]

    @property
    def line_bytes(self) -> int:
        """A scanline: its filter byte, then the row."""
        return 1 + self.width * self.channels * self.bit_depth // 8


def read_pixels(data: bytes) -> NDArray[np.uint8] | NDArray[np.uint16] | None:
    """The samples of a large plain PNG (8 or 16 bits, grey, grey with alpha,
    RGB or RGBA, not interlaced, without a transparency key) exactly as libpng
    reads them (imagecodecs.png_decode), in about half its time: ISA-L
    inflates the pixel data on this thread while libpng unfilters it on
    another, a band of rows at a time (each band a small stored PNG that
    starts with the row above it, unfiltered).  None for a small image, any
    other PNG or any flaw (a bad CRC, a stream that does not inflate or has
    the wrong length): the caller then reads it the usual way, and libpng
    reports the flaw.

    One known difference: ISA-L reads a deflate stream whose Huffman codes
    are incomplete, which zlib refuses.  No encoder writes one; such a crafted
    stream is read (its samples are what it encodes) rather than refused."""
    try:
        layout = _layout(data)
    except (_Flawed, struct.error):
        return None
    if layout.height * layout.line_bytes < _PIPELINE_MIN_BYTES:
        return None
    dtype = np.uint8 if layout.bit_depth == 8 else np.uint16
    shape = (layout.height, layout.width) + ((layout.channels,) if layout.channels > 1 else ())
    try:
        samples = np.empty(shape, dtype=dtype)
    except (MemoryError, ValueError):  # the caller's pixel limit comes first; this is for any other caller
        return None
    band_rows = max(1, _BAND_BYTES // layout.line_bytes)
    with ThreadPoolExecutor(1) as pool:
        pending: deque[Future[None]] = deque()
        try:
            for start, pieces in _inflated_bands(layout, band_rows):
                pending.append(pool.submit(_unfilter_band, layout, samples, start, pieces))
                while len(pending) > _BANDS_AHEAD:
                    pending.popleft().result()
            while pending:
                pending.popleft().result()
        except (_Flawed, InflateError, imagecodecs.PngError):
            for waiting in pending:
                waiting.cancel()
            return None
    return samples


def _layout(data: bytes) -> _Layout:
    """The header and pixel data of a PNG read_pixels() reads, every chunk's
    CRC checked (else _Flawed)."""
    if not data.startswith(PNG_SIGNATURE):
        raise _Flawed("not a PNG")
    view, offset = memoryview(data), len(PNG_SIGNATURE)
    kinds: list[bytes] = []
    ihdr, pixel_data = b"", list[memoryview]()
    while kinds[-1:] != [b"IEND"]:
        length, kind = struct.unpack_from(">I4s", data, offset)
        body = view[offset + 8 : offset + 8 + length]
        (stated,) = struct.unpack_from(">I", data, offset + 8 + length)
        if len(body) != length or isal_zlib.crc32(body, isal_zlib.crc32(kind)) != stated:
            raise _Flawed("a chunk is cut short or fails its CRC check")
        # libpng refuses a chunk name that is not four letters with the third
        # in capitals, critical chunks it does not know and a second header;
        # it turns a transparency key into alpha and checks palettes and animation.
        if not (kind.isascii() and kind.isalpha() and kind[2:3].isupper()) or len(kinds) >= _MAX_CHUNKS:
            raise _Flawed("a chunk name libpng refuses, or too many chunks")
        if kind in _LEFT_TO_LIBPNG or (kind[0:1].isupper() and kind not in (b"IHDR", b"IDAT", b"IEND")):
            raise _Flawed(f"a {kind!r} chunk")
        if (kind == b"IHDR") != (not kinds):
            raise _Flawed("the image header is not the first chunk, or not the only one")
        if kind == b"IDAT":
            if pixel_data and kinds[-1] != b"IDAT":
                raise _Flawed("pixel data in separate runs of chunks")
            pixel_data.append(body)
        elif kind == b"IHDR":
            ihdr = bytes(body)
        kinds.append(kind)
        offset += 12 + length
    if len(ihdr) != 13 or not pixel_data:
        raise _Flawed("no image header or no pixel data")
    width, height, depth, channels, options = read_ihdr(ihdr)
    if not (width and height and channels and depth in (8, 16) and options == (0, 0, 0)):
        raise _Flawed("a kind of PNG read_pixels() leaves to libpng")
    if max(width, height) > LIBPNG_MAX_SIDE:
        raise _Flawed("an image larger than libpng reads")
    head = b"".join(bytes(chunk[:2]) for chunk in pixel_data[:3])[:2]
    # A 32 KiB window, as libpng inflates a large image with, and no preset dictionary.
    if len(head) < 2 or head[0] != 0x78 or head[1] & 0x20 or int.from_bytes(head, "big") % 31:
        raise _Flawed("a zlib header libpng would read differently")
    return _Layout(ihdr, width, height, channels, depth, pixel_data)


def _inflated_bands(layout: _Layout, band_rows: int) -> Iterator[tuple[int, list[bytes]]]:
    """(first row, the band's scanlines in pieces of at most one stored block)
    for each band of rows; then checks that the stream ends with the image."""
    inflater = isal_zlib.decompressobj()
    # In pieces: the inflater copies what it leaves unread, which for one
    # large IDAT chunk (as png_bytes writes) would be the whole rest each time.
    inputs = (chunk[at : at + _INPUT_PIECE] for chunk in layout.pixel_data for at in range(0, len(chunk), _INPUT_PIECE))
    tail: bytes | memoryview = b""
    for start in range(0, layout.height, band_rows):
        needed = min(band_rows, layout.height - start) * layout.line_bytes
        pieces: list[bytes] = []
        while needed:
            before = len(tail)
            piece = inflater.decompress(tail, min(needed, _STORED_BLOCK))
            tail = inflater.unconsumed_tail
            if piece:
                pieces.append(piece)
                needed -= len(piece)
            elif inflater.eof:
                raise _Flawed("the pixel data ends before the image does")
            elif not tail:
                following = next(inputs, None)  # may be empty: IDAT chunks of no bytes are allowed
                if following is None:
                    raise _Flawed("the pixel data is cut short")
                tail = following
            elif len(tail) == before:
                raise _Flawed("the pixel data does not inflate")
        yield start, pieces
    for rest in itertools.chain([tail], inputs):  # only the stream's end may follow, a piece at a time
        if inflater.decompress(rest, 1) or inflater.unconsumed_tail or (inflater.eof and inflater.unused_data):
            raise _Flawed("the pixel data goes on after the image")
    if not inflater.eof:
        raise _Flawed("the pixel data stream does not end")


def _unfilter_band(layout: _Layout, samples: NDArray[Any], start: int, pieces: list[bytes]) -> None:
    """libpng unfilters a band of scanlines into samples[start:...], as a
    stored PNG that begins with the row above the band (filter None), which
    it decodes to itself."""
    rows = sum(map(len, pieces)) // layout.line_bytes
    first = max(0, start - 1)
    lines: list[bytes | memoryview] = list(pieces)
    if start:
        above = samples[start - 1].astype(samples.dtype.newbyteorder(">"), copy=False)
        lines[:0] = [b"\0", np.ascontiguousarray(above).data.cast("B")]
    ihdr = struct.pack(">II", layout.width, start + rows - first) + layout.ihdr[8:]
    stream = list(_stored_stream(lines, (start + rows - first) * layout.line_bytes))
    crc = isal_zlib.crc32(b"IDAT")
    for part in stream:
        crc = isal_zlib.crc32(part, crc)
    head = [PNG_SIGNATURE, chunk(b"IHDR", ihdr), struct.pack(">I", sum(map(len, stream))), b"IDAT"]
    band = b"".join([*head, *stream, struct.pack(">I", crc), chunk(b"IEND", b"")])
    imagecodecs.png_decode(band, out=samples[first : start + rows])
