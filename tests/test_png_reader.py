"""The two-thread PNG reader (png.read_pixels) and the stored-block writer.

read_pixels() must never disagree with libpng: on any PNG it returns libpng's
samples exactly, or None (and the caller asks libpng).  Its bands are made
small here, so that small images cross many band boundaries."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator

import imagecodecs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imaging import imagefile, png
from tests.images import photo_array
from tests.memory import traced
from tests.mutations import duplicate_png_chunk, insert_png_chunk, pixel_data, set_ihdr, with_pixel_data

DEPTHS = {8: np.uint8, 16: np.uint16}


@pytest.fixture(autouse=True)
def small_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png, "_PIPELINE_MIN_BYTES", 0)
    monkeypatch.setattr(png, "_BAND_BYTES", 700)


def _samples(height: int, width: int, channels: int, depth: int, seed: int) -> np.ndarray:
    """A photograph-like image (smooth, with noise), so that encoders pick every filter."""
    return photo_array(height, width, channels, seed=seed, bits=depth).astype(DEPTHS[depth])


def _encoded(samples: np.ndarray, encoder: str, level: int) -> bytes:
    depth = samples.dtype.itemsize * 8
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    if encoder == "libpng":
        return bytes(imagecodecs.png_encode(samples, level=level))
    if encoder == "pillow" and (depth == 8 or channels == 1):
        out = io.BytesIO()
        Image.fromarray(samples).save(out, format="PNG", compress_level=level, optimize=level == 9)
        return out.getvalue()
    rows = samples.astype(samples.dtype.newbyteorder(">")).view(np.uint8).reshape(samples.shape[0], -1)
    return png.png_bytes(rows, samples.shape[1], channels, depth, level=None if level > 3 else level)


def _rechunked(data: bytes, sizes: list[int]) -> bytes:
    """The same PNG with its pixel data cut into IDAT chunks of these sizes
    (the last takes the rest), and a zlib header for a 32 KiB window."""
    kinds = png.chunk_kinds(data)
    before, pixel_data, after, offset = [], b"", [], len(png.PNG_SIGNATURE)
    for kind in kinds:
        (length,) = struct.unpack_from(">I", data, offset)
        whole = data[offset : offset + 12 + length]
        if kind == b"IDAT":
            pixel_data += whole[8:-4]
        else:
            (after if pixel_data else before).append(whole)
        offset += 12 + length
    if pixel_data[0] >> 4 < 7:
        # Encoders give a small image a small window; read_pixels (for large
        # images) reads a 32 KiB one only.  A larger window reads any stream.
        pixel_data = b"\x78\x9c" + pixel_data[2:]
    chunks, start = [], 0
    for size in [*sizes, len(pixel_data)]:
        chunks.append(png.chunk(b"IDAT", pixel_data[start : start + size]))
        start += size
        if start >= len(pixel_data):
            break
    return b"".join([png.PNG_SIGNATURE, *before, *chunks, *after])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.tuples(st.integers(1, 48), st.integers(1, 48)),
    channels=st.integers(1, 4),
    depth=st.sampled_from([8, 16]),
    seed=st.integers(0, 1000),
    encoder=st.sampled_from(["libpng", "pillow", "securepix"]),
    level=st.integers(0, 9),
    band_bytes=st.integers(1, 3000),
    chunk_sizes=st.lists(st.integers(0, 400), max_size=6),
)
def test_the_samples_are_libpngs_whatever_the_encoder_bands_and_chunks(
    shape: tuple[int, int],
    channels: int,
    depth: int,
    seed: int,
    encoder: str,
    level: int,
    band_bytes: int,
    chunk_sizes: list[int],
) -> None:
    samples = _samples(*shape, channels, depth, seed)
    data = _rechunked(_encoded(samples, encoder, level), chunk_sizes)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(png, "_BAND_BYTES", band_bytes)
        read = png.read_pixels(data)
    assert read is not None
    assert read.dtype == samples.dtype and read.shape == samples.shape
    assert np.array_equal(read, samples)
    assert np.array_equal(read, imagecodecs.png_decode(data))


def _mutations(data: bytes) -> Iterator[bytes]:
    """Damaged versions of a PNG, each with every chunk's CRC right (else the reader stops at the CRC)."""
    idat = pixel_data(data)
    raw = zlib.decompress(idat)
    rebuilt = with_pixel_data
    yield rebuilt(data, idat[:-1])  # no complete checksum
    yield rebuilt(data, idat[: len(idat) // 2])  # cut in the middle
    yield rebuilt(data, idat + b"\x00")  # a byte after the stream
    yield rebuilt(data, zlib.compress(raw[:-1]))  # one byte short
    yield rebuilt(data, zlib.compress(raw + b"\x00"))  # one byte too many
    yield rebuilt(data, zlib.compress(raw + bytes(10_000)))  # many rows too many
    yield rebuilt(data, idat[:-4] + bytes(4))  # a wrong checksum
    yield rebuilt(data, b"\x78\x9c" + bytes(20))  # not deflate at all
    filters = bytearray(raw)
    filters[0] = 9  # no such filter
    yield rebuilt(data, zlib.compress(bytes(filters)))
    yield data[:-13] + png.chunk(b"IDAT", b"") + data[-12:]  # pixel data after another chunk
    yield data[: len(data) // 2]  # the file cut short
    yield data[:-12]  # no end
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1  # a bad CRC
    yield bytes(flipped)


def _libpng(data: bytes) -> np.ndarray | None:
    try:
        return np.asarray(imagecodecs.png_decode(data))
    except (imagecodecs.PngError, UnicodeDecodeError):
        return None


def _assert_agrees_with_libpng(data: bytes, read: np.ndarray | None) -> None:
    """None, or libpng's samples; or, the one known difference (read_pixels'
    docstring), samples of a stream that zlib refuses but ISA-L reads."""
    if read is None:
        return
    theirs = _libpng(data)
    if theirs is not None:
        assert read.dtype == theirs.dtype and np.array_equal(read, theirs)
        return
    with pytest.raises(zlib.error):
        zlib.decompress(pixel_data(data))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.tuples(st.integers(1, 30), st.integers(1, 30)),
    channels=st.integers(1, 4),
    depth=st.sampled_from([8, 16]),
    encoder=st.sampled_from(["libpng", "pillow", "securepix"]),
)
def test_a_damaged_png_is_left_to_libpng(shape: tuple[int, int], channels: int, depth: int, encoder: str) -> None:
    """Whatever the damage, the reader says None (libpng then reports it, or
    reads what it can) or libpng's own samples: never anything else."""
    data = _encoded(_samples(*shape, channels, depth, 7), encoder, 6)
    for damaged in _mutations(data):
        _assert_agrees_with_libpng(damaged, png.read_pixels(damaged))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255), st.integers(0, 10_000))
def test_any_byte_changed_or_the_file_cut_never_disagrees_with_libpng(at: int, value: int, cut: int) -> None:
    data = bytearray(_encoded(_samples(9, 7, 3, 8, 1), "libpng", 6))
    data[at % len(data)] = value
    damaged = bytes(data[: len(data) - cut % 40])
    _assert_agrees_with_libpng(damaged, png.read_pixels(damaged))


def test_pngs_libpng_would_change_are_left_to_it() -> None:
    data = _encoded(_samples(6, 5, 3, 16, 2), "securepix", 9)
    with_key = insert_png_chunk(data, png.chunk(b"tRNS", bytes(6)), 0)
    unknown_critical = insert_png_chunk(data, png.chunk(b"ZZZZ", b""), 0)
    palette = set_ihdr(set_ihdr(data, "colour_type", 3), "bit_depth", 8)
    interlaced = set_ihdr(data, "interlace", 1)
    four_bits = set_ihdr(data, "bit_depth", 4)
    for other in (with_key, unknown_critical, palette, interlaced, four_bits, b"", b"GIF89a"):
        assert png.read_pixels(other) is None


def _zlib_stream(raw: bytes, cmf: int) -> bytes:
    """A zlib stream of `raw` whose header says `cmf` (its window size), with a valid check byte."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    header = bytes([cmf, (31 - (cmf << 8) % 31) % 31])
    return header + compressor.compress(raw) + compressor.flush() + struct.pack(">I", zlib.adler32(raw))


def test_what_libpng_refuses_before_the_pixels_is_left_to_it() -> None:
    """Found by an attack on the reader: each of these was read while libpng refuses it."""
    data = _rechunked(_encoded(_samples(30, 20, 3, 8, 5), "libpng", 6), [])
    assert png.read_pixels(data) is not None  # read, but for each flaw below
    raw = zlib.decompress(pixel_data(data))
    refused = {
        "a 64 KiB window": with_pixel_data(data, _zlib_stream(raw, 0x88)),
        "a 256-byte window": with_pixel_data(data, _zlib_stream(raw, 0x08)),
        "a chunk name with its reserved bit set": insert_png_chunk(data, png.chunk(b"abcd", b""), 0),
        "a chunk name that is not letters": insert_png_chunk(data, png.chunk(b"a1bC", b""), 0),
        "a second image header": duplicate_png_chunk(data, 0),
        "an empty palette": insert_png_chunk(data, png.chunk(b"PLTE", b""), 0),
        "an animation frame before the image": insert_png_chunk(data, png.chunk(b"fdAT", b""), 0),
        "a million and one rows": set_ihdr(data, "height", 1_000_001),
        "a header of 2**32 - 1 columns": set_ihdr(data, "width", 2**32 - 1),
    }
    for flaw, damaged in refused.items():
        assert _libpng(damaged) is None, flaw
        assert png.read_pixels(damaged) is None, flaw


def test_one_large_pixel_chunk_is_inflated_a_piece_at_a_time() -> None:
    """SecurePix's own PNGs hold their pixels in one IDAT chunk: the inflater
    is fed pieces of it, so it never copies the whole rest of the chunk."""
    samples = np.random.default_rng(9).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)  # noise: stored
    data = png.png_bytes(samples.reshape(1000, -1), 1000, 3, 8, level=None)
    assert png.chunk_kinds(data).count(b"IDAT") == 1
    read, peak = traced(lambda: png.read_pixels(data))
    assert read is not None and np.array_equal(read, samples)
    assert peak < samples.nbytes + 8 * png._INPUT_PIECE + (1 << 20)


def test_bytes_after_the_pixel_stream_are_refused_a_piece_at_a_time() -> None:
    data = _rechunked(_encoded(_samples(40, 30, 3, 8, 6), "libpng", 6), [])
    assert png.read_pixels(data) is not None  # read, but with bytes after its stream
    long_tail = with_pixel_data(data, pixel_data(data) + bytes(3 << 20))
    read, peak = traced(lambda: png.read_pixels(long_tail))
    assert read is None
    assert peak < 1 << 20


def test_a_file_of_very_many_chunks_is_left_to_libpng() -> None:
    data = _encoded(_samples(8, 8, 1, 8, 2), "libpng", 6)
    assert png.read_pixels(_rechunked(data, [1] * 50)) is not None
    many = _rechunked(data, [1] * 50 + [0] * (png._MAX_CHUNKS + 10))
    assert png.read_pixels(many) is None
    assert np.array_equal(_libpng(many), _samples(8, 8, 1, 8, 2))


def test_a_small_image_is_left_to_libpng_at_the_default_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png, "_PIPELINE_MIN_BYTES", 4 << 20)
    assert png.read_pixels(_encoded(_samples(40, 40, 3, 8, 3), "libpng", 6)) is None


def test_a_large_photo_reads_in_bands_of_the_default_size_with_little_more_than_its_samples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.undo()
    samples = _samples(1300, 1200, 3, 8, 4)  # 4.7 MB: over the size read in bands
    data = _encoded(samples, "pillow", 6)
    assert png.read_pixels(data) is not None
    read, peak = traced(lambda: png.read_pixels(data))
    assert read is not None and np.array_equal(read, samples)
    assert peak < samples.nbytes + 6 * png._BAND_BYTES + (1 << 20)
    # and the upload path uses it: the same samples as Pillow
    assert np.array_equal(imagefile.decode(data, 1 << 24).samples, samples)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=150_000), max_size=4))
def test_stored_blocks_carry_any_pieces_as_one_zlib_stream(pieces: list[bytes]) -> None:
    total = sum(map(len, pieces))
    if total == 0:
        with pytest.raises(ValueError):
            list(png._stored_stream(pieces, total))
        return
    stream = b"".join(png._stored_stream(pieces, total))
    inflater = zlib.decompressobj()
    assert inflater.decompress(stream) == b"".join(pieces)
    assert inflater.eof and not inflater.unused_data
    with pytest.raises(ValueError):
        list(png._stored_stream(pieces, total + 1))
