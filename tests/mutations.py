"""Seed files and mutation strategies for the fuzz tests (tests/test_fuzz_*.py).

Seeds are small, real files made here in memory: PNG, JPEG, TIFF, WebP and BMP
in several modes (Pillow, OpenCV, tifffile), DICOM files from pydicom's test
data and variants of them (tests/dicom_files.py), NIfTI volumes (nibabel), and
SecurePix files encrypted from some of them.  `known_crashers()` are the inputs
a manual attack found earlier; every fuzz target tries each of them as it is
(and they are seeds that the fuzzers mutate further).

A mutation is a small, named edit of the bytes: truncation, bit flips,
overwritten or inserted bytes, header fields set to extremes (PNG IHDR with a
fixed CRC, JPEG SOF, BMP and TIFF headers, WebP sizes, DICOM attributes, NIfTI
dim[] and datatype, the SecurePix header), inserted and duplicated chunks (PNG
zTXt, iTXt, iCCP, tRNS, PLTE, eXIf, with valid CRCs, and decompression bombs).
`fuzz_inputs()` draws a seed and one to three mutations; the result's repr
names them, so a falsifying example reads as a recipe.

`Failures` keeps, per target, every distinct failure (exception type and the
product frame where it escaped, or the contract that was broken) with its
simplest input, saved under /tmp/fuzz-crashers (SECUREPIX_FUZZ_CRASHERS) with
a SUMMARY-<pid>.md.

Environment: SECUREPIX_FUZZ_EXAMPLES (examples per target before its weight;
default 200), SECUREPIX_FUZZ_DERANDOMIZE=0 (a new random run; pair it with
`pytest --hypothesis-seed=N` to repeat one), SECUREPIX_FUZZ_COLLECT=1 (long
runs: record every failure and keep searching, fail at the end of each test).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import re
import struct
import traceback
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException, InvalidArgument
from PIL import Image, ImageCms

from tests import dicom_files
from tests.images import encode, image_in_mode, photo_array

# A password the coming password policy accepts.
PASSWORD = "a long file passphrase 2026"
CRASHER_DIR = Path(os.environ.get("SECUREPIX_FUZZ_CRASHERS", "/tmp/fuzz-crashers"))
REPO = Path(__file__).resolve().parent.parent

# Interesting values for header fields of each width.
U8 = (0, 1, 2, 7, 8, 15, 16, 127, 128, 255)
U16 = (0, 1, 2, 255, 256, 4096, 30000, 32767, 32768, 65500, 65535)
U32 = (0, 1, 2, 255, 65535, 65536, 30000, 60000, 65500, 1 << 24, (1 << 31) - 1, 1 << 31, (1 << 32) - 1)
I32 = (0, 1, -1, 2, 65535, 60000, 1 << 24, (1 << 31) - 1, -(1 << 31))
I16 = (0, 1, -1, 2, 3, 4, 5, 7, 8, 255, 2000, 32767, -32768)


def _restore_hypothesis_printer() -> None:
    """Schemathesis (its pytest plugin loads with it) swaps Hypothesis' printer for
    one that prints nothing, a speed-up for its own runs; it also blanks every
    falsifying example of this suite.  The original goes back."""
    from hypothesis import core
    from hypothesis.vendor import pretty

    core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[misc]


_restore_hypothesis_printer()


def event(value: str) -> None:
    """Hypothesis' event() for its statistics; nothing outside a Hypothesis test."""
    with suppress(InvalidArgument):
        hypothesis_event(value)


# Inputs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    name: str
    kind: str  # png jpeg tiff webp bmp dicom nifti nifti-gz securepix crasher
    data: bytes = field(repr=False)


class FuzzInput:
    """A seed after zero or more mutations; the repr is the recipe, not the bytes.
    (Not a dataclass: Hypothesis prints a dataclass field by field, and this one by its repr.)"""

    __slots__ = ("data", "kind", "seed", "steps")

    def __init__(self, seed: str, kind: str, steps: tuple[str, ...], data: bytes) -> None:
        self.seed, self.kind, self.steps, self.data = seed, kind, steps, data

    def __repr__(self) -> str:
        recipe = " -> ".join(self.steps) or "unmutated"
        digest = hashlib.sha256(self.data).hexdigest()[:12]
        return f"FuzzInput({self.seed}: {recipe}; {len(self.data)} bytes, sha256 {digest}...)"


@dataclass(frozen=True)
class Mutation:
    name: str
    apply: Callable[[bytes], bytes] = field(repr=False)


# PNG helpers ----------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, total length, kind) of each chunk that fits in the file, in order."""
    found = []
    offset = len(PNG_SIGNATURE)
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        total = 12 + length
        if offset + total > len(data):
            break
        found.append((offset, total, data[offset + 4 : offset + 8]))
        offset += total
    return found


def pixel_data(data: bytes) -> bytes:
    """The data of the PNG's IDAT chunks, joined."""
    chunks = png_chunks(data)
    return b"".join(data[offset + 8 : offset + total - 4] for offset, total, kind in chunks if kind == b"IDAT")


def with_pixel_data(data: bytes, idat: bytes) -> bytes:
    """The PNG with its pixel data replaced by `idat`, in one IDAT chunk where the first was, every CRC right."""
    pieces, placed = [PNG_SIGNATURE], False
    for offset, total, kind in png_chunks(data):
        if kind != b"IDAT":
            pieces.append(data[offset : offset + total])
        elif not placed:
            pieces.append(png_chunk(b"IDAT", idat))
            placed = True
    return b"".join(pieces)


def fix_png_crcs(data: bytes) -> bytes:
    out = bytearray(data)
    for offset, total, kind in png_chunks(data):
        payload = data[offset + 8 : offset + total - 4]
        out[offset + total - 4 : offset + total] = struct.pack(">I", zlib.crc32(kind + payload))
    return bytes(out)


def set_ihdr(data: bytes, field_name: str, value: int) -> bytes:
    """One IHDR field set, and the chunk's CRC fixed."""
    offsets = {"width": (16, ">I"), "height": (20, ">I"), "bit_depth": (24, ">B"), "colour_type": (25, ">B"),
               "compression": (26, ">B"), "filter": (27, ">B"), "interlace": (28, ">B")}  # fmt: skip
    offset, fmt = offsets[field_name]
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE):
        return data
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value & (0xFFFFFFFF if fmt == ">I" else 0xFF))
    out[29:33] = struct.pack(">I", zlib.crc32(bytes(out[12:29])))
    return bytes(out)


def insert_png_chunk(data: bytes, chunk: bytes, index: int) -> bytes:
    """`chunk` between two chunks of the file, after IHDR (index counts chunk boundaries)."""
    chunks = png_chunks(data)
    if not chunks:
        return data[:8] + chunk + data[8:]
    boundaries = [offset + total for offset, total, _ in chunks[:-1]] or [chunks[0][0] + chunks[0][1]]
    at = boundaries[index % len(boundaries)]
    return data[:at] + chunk + data[at:]


def duplicate_png_chunk(data: bytes, index: int, times: int = 1) -> bytes:
    chunks = png_chunks(data)
    if not chunks:
        return data
    offset, total, _ = chunks[index % len(chunks)]
    return data[: offset + total] + data[offset : offset + total] * times + data[offset + total :]


def drop_png_chunk(data: bytes, index: int) -> bytes:
    chunks = png_chunks(data)
    if not chunks:
        return data
    offset, total, _ = chunks[index % len(chunks)]
    return data[:offset] + data[offset + total :]


@functools.lru_cache(maxsize=8)
def zeros_deflated(size: int) -> bytes:
    """A zlib stream that inflates to `size` zero bytes (about size/1000 bytes long)."""
    compressor = zlib.compressobj(9)
    piece = bytes(1 << 20)
    parts = [compressor.compress(piece) for _ in range(size >> 20)]
    parts.append(compressor.compress(bytes(size & ((1 << 20) - 1))))
    parts.append(compressor.flush())
    return b"".join(parts)


def bomb_chunk(kind: bytes, inflated: int) -> bytes:
    """A zTXt, iTXt or iCCP chunk whose compressed part inflates to `inflated` bytes."""
    stream = zeros_deflated(inflated)
    payload = {
        b"zTXt": b"Comment\x00\x00" + stream,
        b"iTXt": b"Comment\x00\x01\x00\x00\x00" + stream,
        b"iCCP": b"ICC profile\x00\x00" + stream,
    }[kind]
    return png_chunk(kind, payload)


# JPEG helpers ---------------------------------------------------------------

_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(offset of 0xFF, marker) of each segment before the scan data."""
    found = []
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        found.append((offset, marker))
        if marker == 0xDA:
            break
        (length,) = struct.unpack_from(">H", data, offset + 2)
        offset += 2 + length
    return found


def set_sof(data: bytes, field_name: str, value: int) -> bytes:
    offsets = {"precision": (4, ">B"), "height": (5, ">H"), "width": (7, ">H"), "components": (9, ">B")}
    rel, fmt = offsets[field_name]
    for offset, marker in jpeg_segments(data):
        if marker in _SOF_MARKERS and offset + rel + struct.calcsize(fmt) <= len(data):
            out = bytearray(data)
            struct.pack_into(fmt, out, offset + rel, value & (0xFFFF if fmt == ">H" else 0xFF))
            return bytes(out)
    return data


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def exif_blob(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# Other image formats --------------------------------------------------------

# BMP: BITMAPFILEHEADER + BITMAPINFOHEADER fields (offset, struct format).
BMP_FIELDS = {
    "file_size": (2, "<I"), "pixel_offset": (10, "<I"), "header_size": (14, "<I"), "width": (18, "<i"),
    "height": (22, "<i"), "planes": (26, "<H"), "bits_per_pixel": (28, "<H"), "compression": (30, "<I"),
    "image_size": (34, "<I"), "colours_used": (46, "<I"),
}  # fmt: skip


def set_struct_field(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    size = struct.calcsize(fmt)
    if offset + size > len(data):
        return data
    bits = 8 * size
    value &= (1 << bits) - 1
    if fmt[-1].islower() and value >= 1 << (bits - 1):  # signed: back to a negative number
        value -= 1 << bits
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


# TIFF tags worth setting to extremes.
TIFF_TAGS = {
    "ImageWidth": 256, "ImageLength": 257, "BitsPerSample": 258, "Compression": 259, "Photometric": 262,
    "StripOffsets": 273, "SamplesPerPixel": 277, "RowsPerStrip": 278, "StripByteCounts": 279,
    "PlanarConfig": 284, "Predictor": 317, "ExtraSamples": 338, "SampleFormat": 339,
}  # fmt: skip
_TIFF_TYPE_SIZES = {1: 1, 3: 2, 4: 4, 8: 2, 9: 4, 16: 8}


def set_tiff_tag(data: bytes, tag: int, value: int) -> bytes:
    """The first value of `tag` in the first IFD set (the IFD entry's own type and place)."""
    if data[:2] not in (b"II", b"MM") or len(data) < 8:
        return data
    e = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(e + "I", data, 4)
    if ifd + 2 > len(data):
        return data
    (count,) = struct.unpack_from(e + "H", data, ifd)
    for i in range(count):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(data):
            return data
        entry_tag, entry_type, n = struct.unpack_from(e + "HHI", data, entry)
        if entry_tag != tag:
            continue
        size = _TIFF_TYPE_SIZES.get(entry_type, 4)
        place = entry + 8
        if size * n > 4:
            (place,) = struct.unpack_from(e + "I", data, entry + 8)
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
        return set_struct_field(data, place, e + fmt, value)
    return data


def webp_chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, fourcc, payload length) of the RIFF chunks of a WebP file."""
    found = []
    offset = 12
    while offset + 8 <= len(data):
        fourcc = data[offset : offset + 4]
        (length,) = struct.unpack_from("<I", data, offset + 4)
        found.append((offset, fourcc, length))
        offset += 8 + length + (length & 1)
    return found


def set_webp_size(data: bytes, which: str, value: int) -> bytes:
    """The canvas (VP8X), the lossless (VP8L) or the lossy (VP8) width or height set."""
    for offset, fourcc, _ in webp_chunks(data):
        body = offset + 8
        if fourcc == b"VP8X" and body + 10 <= len(data):
            place = body + (4 if which == "width" else 7)
            out = bytearray(data)
            out[place : place + 3] = ((value - 1) & 0xFFFFFF).to_bytes(3, "little")
            return bytes(out)
        if fourcc == b"VP8L" and body + 5 <= len(data):
            (bits,) = struct.unpack_from("<I", data, body + 1)
            v = (value - 1) & 0x3FFF
            bits = (bits & ~0x3FFF) | v if which == "width" else (bits & ~(0x3FFF << 14)) | (v << 14)
            return data[: body + 1] + struct.pack("<I", bits) + data[body + 5 :]
        if fourcc == b"VP8 " and body + 10 <= len(data):
            place = body + (6 if which == "width" else 8)
            return set_struct_field(data, place, "<H", value & 0x3FFF)
    return data


def riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")


# DICOM helpers --------------------------------------------------------------

# keyword -> (VR, interesting values)
DICOM_EXTREMES: dict[str, tuple[str, tuple[Any, ...]]] = {
    "Rows": ("US", (0, 1, 2, 4000, 32768, 65535)),
    "Columns": ("US", (0, 1, 2, 4000, 32768, 65535)),
    "NumberOfFrames": ("IS", ("0", "-1", "1", "2", "1000", "2147483648", "abc", "")),
    "BitsAllocated": ("US", (0, 1, 7, 8, 12, 16, 32, 64, 65535)),
    "BitsStored": ("US", (0, 1, 7, 8, 12, 16, 17, 32, 65535)),
    "HighBit": ("US", (0, 7, 15, 16, 31, 65535)),
    "SamplesPerPixel": ("US", (0, 1, 2, 3, 4, 5, 65535)),
    "PixelRepresentation": ("US", (0, 1, 2, 65535)),
    "PlanarConfiguration": ("US", (0, 1, 2, 65535)),
    "PhotometricInterpretation": (
        "CS",
        ("MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "", "XYZ"),
    ),
    "WindowWidth": ("DS", ("0", "-1", "1", "1e308", "-1e308", "nan", "inf", "", "0\\0")),
    "WindowCenter": ("DS", ("0", "-1e308", "1e308", "nan", "", "40\\40")),
    "RescaleSlope": ("DS", ("0", "-1", "1e308", "nan", "inf", "")),
    "RescaleIntercept": ("DS", ("0", "-1e308", "1e308", "nan", "")),
    "RedPaletteColorLookupTableDescriptor": ("US", ((0, 0, 16), (65535, 0, 8), (256, 0, 0), (1, 65535, 16))),
    "LargestImagePixelValue": ("US", (0, 65535)),
}
DICOM_DELETABLE = (
    "PixelData", "Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "PhotometricInterpretation",
    "RedPaletteColorLookupTableData", "RedPaletteColorLookupTableDescriptor", "WindowWidth",
    "PixelRepresentation", "NumberOfFrames",
)  # fmt: skip
TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2",  # Implicit VR LE
    "1.2.840.10008.1.2.1",  # Explicit VR LE
    "1.2.840.10008.1.2.2",  # Explicit VR BE
    "1.2.840.10008.1.2.1.99",  # Deflated
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.5",  # RLE
    "1.2.3.4.5",  # unknown
)


def _dicom_edit(data: bytes, edit: Callable[[Any], None]) -> bytes:
    """Apply `edit` to the dataset and write it back (unchanged bytes if pydicom can't)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = dicom_files.read(data)
            edit(dataset)
            out = io.BytesIO()
            dataset.save_as(out, enforce_file_format=False)
            return out.getvalue()
    except Exception:  # a mutation that cannot be written is no mutation
        return data


def set_dicom_attribute(data: bytes, keyword: str, value: Any) -> bytes:
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import DataElement

    vr = DICOM_EXTREMES[keyword][0]

    def edit(dataset: Any) -> None:
        tag = tag_for_keyword(keyword)
        dataset[tag] = DataElement(tag, vr, list(value) if isinstance(value, tuple) else value)

    return _dicom_edit(data, edit)


def delete_dicom_attribute(data: bytes, keyword: str) -> bytes:
    def edit(dataset: Any) -> None:
        if keyword in dataset:
            delattr(dataset, keyword)

    return _dicom_edit(data, edit)


def set_transfer_syntax(data: bytes, uid: str) -> bytes:
    """Only the file meta's Transfer Syntax UID: the data set keeps its encoding."""
    from pydicom.uid import UID

    def edit(dataset: Any) -> None:
        dataset.file_meta.TransferSyntaxUID = UID(uid)

    return _dicom_edit(data, edit)


# NIfTI helpers --------------------------------------------------------------

NIFTI1_FIELDS: dict[str, tuple[int, str, tuple[Any, ...]]] = {
    **{f"dim[{i}]": (40 + 2 * i, "<h", I16) for i in range(8)},
    "sizeof_hdr": (0, "<i", (0, 1, 347, 348, 540, -1)),
    "datatype": (70, "<h", (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, -1)),
    "bitpix": (72, "<h", (0, 1, 8, 16, 32, 64, 128, -1, 32767)),
    "vox_offset": (108, "<f", (0.0, 352.0, 353.0, -1.0, 1e9, float("nan"), float("inf"))),
    "scl_slope": (112, "<f", (0.0, -1.0, 1e38, float("nan"), float("inf"), float("-inf"))),
    "scl_inter": (116, "<f", (1e38, float("nan"), float("-inf"))),
    "pixdim[0]": (76, "<f", (0.0, -1.0, float("nan"))),
    "qform_code": (252, "<h", (0, 1, 5, -1, 32767)),
    "sform_code": (254, "<h", (0, 1, 5, -1, 32767)),
}


def set_nifti_field(data: bytes, name: str, value: Any) -> bytes:
    """A NIfTI-1 header field set; a .nii.gz is inflated, edited and deflated again."""
    offset, fmt, _ = NIFTI1_FIELDS[name]
    gzipped = data[:2] == b"\x1f\x8b"
    try:
        raw = gzip.decompress(data) if gzipped else data
    except (OSError, EOFError, zlib.error):
        return data
    if offset + struct.calcsize(fmt) > len(raw):
        return data
    out = bytearray(raw)
    struct.pack_into(fmt, out, offset, value)
    return gzip.compress(bytes(out), mtime=0) if gzipped else bytes(out)


def nifti_volume(shape: tuple[int, ...], dtype: str = "int16", *, version: int = 1, seed: int = 0) -> bytes:
    import nibabel

    rng = np.random.default_rng(seed)
    volume = (rng.normal(500, 200, shape)).astype(dtype)
    cls = nibabel.Nifti1Image if version == 1 else nibabel.Nifti2Image
    return bytes(cls(volume, np.eye(4)).to_bytes())


def nifti_bomb(dims: tuple[int, int, int] = (2000, 2000, 4), inflated: int = 68 << 20) -> bytes:
    """A .nii.gz whose header declares `dims` float32 voxels and whose gzip
    stream inflates to `inflated` bytes (zeros): a refusal must come from the
    header, before the stream is inflated."""
    import nibabel

    header = nibabel.Nifti1Header()
    header.set_data_shape(dims)
    header.set_data_dtype(np.float32)
    head = bytearray(header.binaryblock) + bytes(4)  # 348 bytes + extension flag
    struct.pack_into("<f", head, 108, 352.0)  # vox_offset
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip wrapper
    parts = [compressor.compress(bytes(head))]
    piece = bytes(1 << 20)
    remaining = inflated - len(head)
    while remaining > 0:
        parts.append(compressor.compress(piece[: min(remaining, len(piece))]))
        remaining -= len(piece)
    parts.append(compressor.flush())
    return b"".join(parts)


# SecurePix container helpers ------------------------------------------------

_SPX_FIXED = struct.Struct(">9sBBBIII16s16sIIBB")
SPX_FIELDS: dict[str, tuple[int, str, tuple[int, ...]]] = {
    # offset in the header chunk's payload, format, extremes (KDF values stay out of the
    # accepted-but-expensive range: a 1 GiB Argon2id run per example would stall the suite)
    "version": (9, ">B", (0, 2, 255)),
    "cipher": (10, ">B", (0, 1, 2, 3, 255)),
    "kdf": (11, ">B", (0, 2, 255)),
    "memory_kib": (12, ">I", (0, 1, 19 * 1024 - 1, (1 << 20) + 1, (1 << 32) - 1)),
    "iterations": (16, ">I", (0, 1, 17, (1 << 32) - 1)),
    "parallelism": (20, ">I", (0, 17, (1 << 32) - 1)),
    "height": (56, ">I", U32),
    "width": (60, ">I", U32),
    "channels": (64, ">B", (0, 1, 2, 3, 4, 5, 255)),
    "bit_depth": (65, ">B", (0, 1, 7, 8, 16, 32, 255)),
    "extra_length": (66, ">B", (0, 1, 255)),
}
_SPX_TO_IHDR = {"height": "height", "width": "width", "bit_depth": "bit_depth"}


def set_securepix_field(data: bytes, name: str, value: int, *, with_ihdr: bool) -> bytes:
    """A field of the spXH header chunk set (CRC fixed); `with_ihdr` sets the
    matching IHDR field too, so the file gets past the consistency check."""
    offset, fmt, _ = SPX_FIELDS[name]
    for chunk_offset, total, kind in png_chunks(data):
        if kind != b"spXH" or total - 12 < offset + struct.calcsize(fmt):
            continue
        out = bytearray(data)
        struct.pack_into(fmt, out, chunk_offset + 8 + offset, value)
        payload = bytes(out[chunk_offset + 4 : chunk_offset + total - 4])
        out[chunk_offset + total - 4 : chunk_offset + total] = struct.pack(">I", zlib.crc32(payload))
        result = bytes(out)
        if with_ihdr and name in _SPX_TO_IHDR:
            result = set_ihdr(result, _SPX_TO_IHDR[name], value)
        if with_ihdr and name == "channels":
            result = set_ihdr(result, "colour_type", {1: 0, 2: 4, 3: 2, 4: 6}.get(value, value))
        return result
    return data


# Seeds ----------------------------------------------------------------------


def _icc_profile() -> bytes:
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def _wide_png(channels: int) -> bytes:
    import cv2

    samples = photo_array(23, 31, channels, seed=5, bits=16)
    ok, out = cv2.imencode(".png", samples[..., ::-1] if channels >= 3 else samples)
    assert ok
    return bytes(out)


def _tifffile(array: np.ndarray, **options: Any) -> bytes:
    import tifffile

    out = io.BytesIO()
    tifffile.imwrite(out, array, **options)
    return out.getvalue()


def _animated(fmt: str) -> bytes:
    frames = [image_in_mode("RGB", 16, 16, seed=i) for i in range(2)]
    out = io.BytesIO()
    frames[0].save(out, format=fmt, save_all=True, append_images=frames[1:])
    return out.getvalue()


@functools.lru_cache(maxsize=1)
def image_seeds() -> tuple[Seed, ...]:
    """PNG, JPEG, TIFF, WebP and BMP files, small, in the modes SecurePix reads and a few it refuses."""
    icc = _icc_profile()
    exif6 = exif_blob(6)
    palette = image_in_mode("P")
    seeds = [
        *(Seed(f"png-{m}", "png", encode(image_in_mode(m), "PNG")) for m in ("L", "LA", "RGB", "RGBA", "1", "I;16")),
        Seed("png-P-transparency", "png", encode(palette, "PNG", transparency=bytes(range(40)))),
        Seed("png-RGB-icc-exif", "png", encode(image_in_mode("RGB", 12, 9), "PNG", icc_profile=icc, exif=exif6)),
        Seed("png-RGB16", "png", _wide_png(3)),
        Seed("png-RGBA16", "png", _wide_png(4)),
        Seed("png-1x1", "png", encode(image_in_mode("RGB", 1, 1), "PNG")),
        Seed("png-animated", "png", _animated("PNG")),
        Seed("jpeg-L", "jpeg", encode(image_in_mode("L"), "JPEG", quality=80)),
        Seed("jpeg-RGB", "jpeg", encode(image_in_mode("RGB"), "JPEG", quality=80)),
        Seed("jpeg-RGB-progressive", "jpeg", encode(image_in_mode("RGB"), "JPEG", progressive=True)),
        Seed("jpeg-RGB-icc-exif", "jpeg", encode(image_in_mode("RGB", 16, 24), "JPEG", icc_profile=icc, exif=exif6)),
        Seed("jpeg-CMYK", "jpeg", encode(image_in_mode("RGB", 16, 16).convert("CMYK"), "JPEG")),
        Seed("tiff-L", "tiff", encode(image_in_mode("L"), "TIFF")),
        Seed("tiff-RGB-lzw", "tiff", encode(image_in_mode("RGB"), "TIFF", compression="tiff_lzw")),
        Seed("tiff-RGBA-deflate", "tiff", encode(image_in_mode("RGBA"), "TIFF", compression="tiff_adobe_deflate")),
        Seed("tiff-P", "tiff", encode(palette, "TIFF")),
        Seed("tiff-1-group4", "tiff", encode(image_in_mode("1"), "TIFF", compression="group4")),
        Seed("tiff-I16", "tiff", encode(image_in_mode("I;16"), "TIFF")),
        Seed("tiff-RGB16", "tiff", _tifffile(photo_array(19, 21, 3, seed=3, bits=16), photometric="rgb")),
        Seed("tiff-int16", "tiff", _tifffile((photo_array(19, 21, 1, seed=4, bits=16) // 2).astype(np.int16))),
        Seed("tiff-2-pages", "tiff", _animated("TIFF")),
        Seed("webp-RGB-lossy", "webp", encode(image_in_mode("RGB"), "WEBP", quality=70)),
        Seed("webp-RGBA-lossless", "webp", encode(image_in_mode("RGBA"), "WEBP", lossless=True)),
        Seed("webp-RGB-icc-exif", "webp", encode(image_in_mode("RGB", 16, 16), "WEBP", icc_profile=icc, exif=exif6)),
        Seed("webp-animated", "webp", _animated("WEBP")),
        *(Seed(f"bmp-{m}", "bmp", encode(image_in_mode(m), "BMP")) for m in ("1", "L", "P", "RGB", "RGBA")),
    ]
    return tuple(seeds)


@functools.lru_cache(maxsize=1)
def dicom_seeds() -> tuple[Seed, ...]:
    packaged = ("ct_signed", "mr", "mr_rle", "mr_jpeg_ls", "nm_jpeg2000", "rgb_rle_multiframe",
                "us_rgb_big_endian", "us_palette")  # fmt: skip
    ct = dicom_files.packaged("ct_signed")
    seeds = [
        *(Seed(f"dicom-{name}", "dicom", dicom_files.packaged(name)) for name in packaged),
        Seed("dicom-ct_multiframe", "dicom", dicom_files.ct_multiframe(frames=2, size=128)),
        Seed("dicom-ct_without_file_meta", "dicom", dicom_files.ct_without_file_meta()),
        Seed("dicom-ct_unsigned", "dicom", dicom_files.ct_unsigned()),
        Seed("dicom-mr_monochrome1", "dicom", dicom_files.mr_monochrome1()),
        Seed("dicom-ct_windowed", "dicom", dicom_files.with_attribute(ct, WindowCenter="40", WindowWidth="400")),
    ]
    return tuple(seeds)


@functools.lru_cache(maxsize=1)
def nifti_seeds() -> tuple[Seed, ...]:
    nii = nifti_volume((12, 10, 6))
    return (
        Seed("nifti1-int16", "nifti", nii),
        Seed("nifti1-int16.gz", "nifti-gz", gzip.compress(nii, mtime=0)),
        Seed("nifti1-float32-4d.gz", "nifti-gz", gzip.compress(nifti_volume((8, 8, 4, 2), "float32"), mtime=0)),
        Seed("nifti2-uint8", "nifti", nifti_volume((9, 7, 5), "uint8", version=2)),
    )


@functools.lru_cache(maxsize=1)
def securepix_seeds() -> tuple[Seed, ...]:
    """SecurePix files made with PASSWORD (a fixed salt, so that runs repeat)."""
    from cipher.engine import envelope
    from imaging import imagefile

    sources = {
        "png-RGB": encode(image_in_mode("RGB", 13, 17), "PNG"),
        "png-P-transparency": encode(image_in_mode("P", 13, 17), "PNG", transparency=0),
        "png-I;16": encode(image_in_mode("I;16", 13, 17), "PNG"),
        "dicom-mr": dicom_files.packaged("mr"),
        "tiff-int16": _tifffile((photo_array(9, 11, 1, seed=4, bits=16) // 2).astype(np.int16)),
    }
    seeds = []
    for i, (name, data) in enumerate(sources.items()):
        cipher = "aes-gcm" if name == "png-I;16" else "chaotic"
        image = imagefile.decode(data, 1 << 24)
        encrypted = envelope.encrypt_image(image, PASSWORD, cipher=cipher, salt=bytes([i + 1]) * 16)
        seeds.append(Seed(f"securepix-{cipher}-{name}", "securepix", encrypted))
    return tuple(seeds)


# Known crashers -------------------------------------------------------------


@dataclass(frozen=True)
class Crasher:
    name: str
    data: bytes = field(repr=False)
    what: str
    must_refuse: bool = True  # malformed beyond use: a 400, 413 or 415, never a 200


def _png_with_header(width: int, height: int, colour_type: int, bit_depth: int = 8, extra: bytes = b"") -> bytes:
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
    plte = png_chunk(b"PLTE", bytes(range(256)) * 3) if colour_type == 3 else b""
    idat = png_chunk(b"IDAT", zlib.compress(bytes(4096)))
    return PNG_SIGNATURE + ihdr + plte + extra + idat + png_chunk(b"IEND", b"")


def _with_chunk(kind: bytes, inflated: int) -> bytes:
    return insert_png_chunk(encode(image_in_mode("RGB", 8, 8), "PNG"), bomb_chunk(kind, inflated), 0)


@functools.lru_cache(maxsize=1)
def known_crashers() -> tuple[Crasher, ...]:
    """The manual attack's findings, rebuilt small."""
    jpeg = encode(image_in_mode("RGB", 16, 16), "JPEG")
    bmp = encode(image_in_mode("RGB", 4, 4), "BMP")
    webp = encode(image_in_mode("RGB"), "WEBP", quality=70)
    ct = dicom_files.packaged("ct_signed")
    big_jpeg = set_sof(set_sof(jpeg, "height", 65500), "width", 65500)
    big_bmp = set_struct_field(set_struct_field(bmp, 18, "<i", 60000), 22, "<i", 60000)
    big_rle = dicom_files.with_attribute(dicom_files.packaged("mr_rle"), Rows=4000, Columns=4000)
    return (
        Crasher("png-palette-30000x30000", _png_with_header(30000, 30000, 3), "Pillow DecompressionBombError"),
        Crasher("jpeg-65500x65500", big_jpeg, "Pillow DecompressionBombError (SOF header)"),
        Crasher("bmp-60000x60000", big_bmp, "Pillow DecompressionBombError (BMP header)"),
        Crasher("png-2^31x2", _png_with_header(1 << 31, 2, 2), "a PNG claiming 2^31 x 2 pixels"),
        Crasher("png-ztxt-bomb", _with_chunk(b"zTXt", 4 << 20), "ValueError: zTXt chunk inflating past Pillow's limit"),
        Crasher("png-itxt-bomb", _with_chunk(b"iTXt", 4 << 20), "ValueError: iTXt chunk inflating past Pillow's limit"),
        Crasher("png-iccp-bomb", _with_chunk(b"iCCP", 4 << 20), "ValueError: iCCP chunk inflating past Pillow's limit"),
        Crasher("webp-truncated", webp[: len(webp) // 2], "OSError from a truncated WebP"),
        Crasher("webp-truncated-header", webp[:30], "OSError from a WebP cut inside its first chunk"),
        Crasher(
            "dicom-window-width-0",
            dicom_files.with_attribute(ct, WindowCenter="40", WindowWidth="0"),
            "pydicom ValueError: WindowWidth 0",
            must_refuse=False,
        ),
        Crasher(
            "dicom-palette-without-lut",
            dicom_files.with_attribute(ct, PhotometricInterpretation="PALETTE COLOR"),
            "pydicom ValueError: PALETTE COLOR without a LUT",
            must_refuse=False,
        ),
        Crasher("nifti-gz-bomb", nifti_bomb(), "a .nii.gz declaring 2000x2000x4 whose stream inflates to 68 MiB"),
        Crasher("dicom-rle-4000x4000", big_rle, "an RLE DICOM declaring 4000x4000"),
    )


def crasher_seeds() -> tuple[Seed, ...]:
    return tuple(Seed(f"crasher-{c.name}", "crasher", c.data) for c in known_crashers())


def all_image_seeds() -> tuple[Seed, ...]:
    """Every seed an image upload can be made from (SecurePix files excluded)."""
    return image_seeds() + dicom_seeds() + nifti_seeds() + crasher_seeds()


# Mutation strategies --------------------------------------------------------

_positions = st.one_of(st.integers(0, 255), st.integers(0, 1 << 24))
_filler = st.one_of(
    st.sampled_from([b"\x00" * 4, b"\xff" * 4, b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"\xff\xfe", b"\x00\x01"]),
    st.binary(min_size=1, max_size=16),
)


def _at(data: bytes, position: int) -> int:
    return position % len(data) if data else 0


def _truncate(keep: int) -> Callable[[bytes], bytes]:
    return lambda d: d[: max(1, min(keep, len(d) - 1))]


def _truncate_fraction(num: int) -> Callable[[bytes], bytes]:
    return lambda d: d[: max(1, len(d) * num // 1024)]


def _flip(positions: Sequence[tuple[int, int]]) -> Callable[[bytes], bytes]:
    def apply(d: bytes) -> bytes:
        out = bytearray(d)
        for position, bit in positions:
            if out:
                out[_at(d, position)] ^= 1 << bit
        return bytes(out)

    return apply


def _overwrite(position: int, filler: bytes) -> Callable[[bytes], bytes]:
    return lambda d: d[: _at(d, position)] + filler + d[_at(d, position) + len(filler) :]


def _insert(position: int, filler: bytes) -> Callable[[bytes], bytes]:
    return lambda d: d[: _at(d, position)] + filler + d[_at(d, position) :]


def _delete(position: int, count: int) -> Callable[[bytes], bytes]:
    return lambda d: d[: _at(d, position)] + d[_at(d, position) + count :] or d[:1]


def _repeat(position: int, count: int, times: int) -> Callable[[bytes], bytes]:
    def apply(d: bytes) -> bytes:
        at = _at(d, position)
        return d[: at + count] + d[at : at + count] * times + d[at + count :]

    return apply


@st.composite
def byte_mutations(draw: st.DrawFn) -> Mutation:
    """Format-blind edits: truncation, bit flips, overwritten, inserted, deleted or repeated bytes."""
    kind = draw(st.sampled_from(["truncate", "truncate-fraction", "flip", "overwrite", "insert", "delete", "repeat"]))
    if kind == "truncate":
        keep = draw(st.integers(1, 1 << 20))
        return Mutation(f"truncate(keep={keep})", _truncate(keep))
    if kind == "truncate-fraction":
        num = draw(st.integers(0, 1023))
        return Mutation(f"truncate(keep={num}/1024)", _truncate_fraction(num))
    if kind == "flip":
        flips = draw(st.lists(st.tuples(_positions, st.integers(0, 7)), min_size=1, max_size=8))
        return Mutation(f"flip_bits({flips})", _flip(flips))
    position = draw(_positions)
    if kind == "overwrite":
        filler = draw(_filler)
        return Mutation(f"overwrite(at={position}, {filler!r})", _overwrite(position, filler))
    if kind == "insert":
        filler = draw(_filler)
        return Mutation(f"insert(at={position}, {filler!r})", _insert(position, filler))
    count = draw(st.integers(1, 4096))
    if kind == "delete":
        return Mutation(f"delete(at={position}, n={count})", _delete(position, count))
    times = draw(st.integers(1, 64))
    return Mutation(f"repeat(at={position}, n={count}, times={times})", _repeat(position, count, times))


_PNG_FIELD_VALUES = {
    "width": U32, "height": U32, "bit_depth": (0, 1, 2, 4, 8, 16, 3, 32, 255),
    "colour_type": (0, 1, 2, 3, 4, 5, 6, 7, 255), "compression": (0, 1, 255), "filter": (0, 1, 255),
    "interlace": (0, 1, 2, 255),
}  # fmt: skip
_PNG_CHUNK_KINDS = (b"zTXt", b"iTXt", b"iCCP", b"tRNS", b"PLTE", b"tEXt", b"eXIf", b"IDAT", b"IHDR", b"sBIT",
                    b"gAMA", b"pHYs", b"acTL", b"fcTL", b"fdAT", b"cHRM", b"sPLT", b"bKGD", b"IEND")  # fmt: skip


def _chunk_payloads(kind: bytes) -> st.SearchStrategy[bytes]:
    random = st.binary(max_size=300)
    if kind == b"eXIf":
        return st.one_of(st.sampled_from(U16).map(exif_blob), random.map(lambda b: b"MM\x00*" + b))
    if kind in (b"zTXt", b"iCCP"):
        texts = st.binary(max_size=200).map(lambda b: b"key\x00\x00" + zlib.compress(b))
        return st.one_of(texts, random)
    if kind == b"iTXt":
        return st.one_of(st.binary(max_size=200).map(lambda b: b"key\x00\x01\x00\x00\x00" + zlib.compress(b)), random)
    if kind == b"PLTE":
        return st.integers(0, 300).map(lambda n: bytes(range(256)) * 3 if n == 300 else bytes(n))
    return random


@st.composite
def png_mutations(draw: st.DrawFn) -> Mutation:
    """IHDR fields at extremes (CRC fixed), chunks inserted (valid CRC), duplicated or dropped, bombs, CRCs fixed."""
    kind = draw(st.sampled_from(["ihdr", "chunk", "bomb", "duplicate", "drop", "fix-crcs"]))
    if kind == "ihdr":
        name = draw(st.sampled_from(sorted(_PNG_FIELD_VALUES)))
        value = draw(st.sampled_from(_PNG_FIELD_VALUES[name]))
        return Mutation(f"png_ihdr({name}={value})", lambda d: set_ihdr(d, name, value))
    index = draw(st.integers(0, 16))
    if kind == "chunk":
        chunk_kind = draw(st.sampled_from(_PNG_CHUNK_KINDS))
        payload = draw(_chunk_payloads(chunk_kind))
        chunk = png_chunk(chunk_kind, payload)
        label = f"png_insert_chunk({chunk_kind.decode()}, {len(payload)} bytes, at={index})"
        return Mutation(label, lambda d: insert_png_chunk(d, chunk, index))
    if kind == "bomb":
        chunk_kind = draw(st.sampled_from([b"zTXt", b"iTXt", b"iCCP"]))
        inflated = draw(st.sampled_from([(1 << 20) + 1, 2 << 20, 16 << 20]))
        times = draw(st.sampled_from([1, 1, 1, 70]))  # 70 x 1 MiB: past Pillow's 64 MiB text memory limit
        inflated = (1 << 20) - 64 if times > 1 else inflated
        label = f"png_bomb_chunk({chunk_kind.decode()} inflating to {inflated} bytes, x{times}, at={index})"
        return Mutation(label, lambda d: insert_png_chunk(d, bomb_chunk(chunk_kind, inflated) * times, index))
    if kind == "duplicate":
        times = draw(st.integers(1, 3))
        return Mutation(f"png_duplicate_chunk(index={index}, x{times})", lambda d: duplicate_png_chunk(d, index, times))
    if kind == "drop":
        return Mutation(f"png_drop_chunk(index={index})", lambda d: drop_png_chunk(d, index))
    return Mutation("png_fix_crcs", fix_png_crcs)


_JPEG_FIELD_VALUES = {
    "height": U16, "width": U16, "precision": (0, 1, 8, 12, 16, 255), "components": (0, 1, 2, 3, 4, 5, 255),
}  # fmt: skip


@st.composite
def jpeg_mutations(draw: st.DrawFn) -> Mutation:
    """SOF dimensions, precision and component count at extremes; APP segments inserted."""
    kind = draw(st.sampled_from(["sof", "sof", "segment"]))
    if kind == "sof":
        name = draw(st.sampled_from(sorted(_JPEG_FIELD_VALUES)))
        value = draw(st.sampled_from(_JPEG_FIELD_VALUES[name]))
        return Mutation(f"jpeg_sof({name}={value})", lambda d: set_sof(d, name, value))
    marker = draw(st.sampled_from([0xE0, 0xE1, 0xE2, 0xEE, 0xFE, 0xDB, 0xC4]))
    payload = draw(
        st.one_of(
            st.sampled_from(U16).map(lambda v: b"Exif\x00\x00" + exif_blob(v)),
            st.binary(max_size=200).map(lambda b: b"ICC_PROFILE\x00\x01\x01" + b),
            st.binary(max_size=200).map(lambda b: b"Exif\x00\x00MM\x00*" + b),
            st.binary(max_size=200),
        )
    )
    segment = jpeg_segment(marker, payload)
    return Mutation(f"jpeg_insert_segment(FF{marker:02X}, {len(payload)} bytes)", lambda d: d[:2] + segment + d[2:])


@st.composite
def bmp_mutations(draw: st.DrawFn) -> Mutation:
    name = draw(st.sampled_from(sorted(BMP_FIELDS)))
    offset, fmt = BMP_FIELDS[name]
    values = I32 if fmt == "<i" else (U16 if fmt == "<H" else U32)
    value = draw(st.sampled_from(values))
    return Mutation(f"bmp_header({name}={value})", lambda d: set_struct_field(d, offset, fmt, value))


@st.composite
def tiff_mutations(draw: st.DrawFn) -> Mutation:
    name = draw(st.sampled_from(sorted(TIFF_TAGS)))
    value = draw(st.sampled_from(U32))
    return Mutation(f"tiff_tag({name}={value})", lambda d: set_tiff_tag(d, TIFF_TAGS[name], value))


@st.composite
def webp_mutations(draw: st.DrawFn) -> Mutation:
    kind = draw(st.sampled_from(["size", "riff", "chunk"]))
    if kind == "size":
        which = draw(st.sampled_from(["width", "height"]))
        value = draw(st.sampled_from((0, 1, 2, 16383, 16384, 30000, 1 << 24)))
        return Mutation(f"webp_size({which}={value})", lambda d: set_webp_size(d, which, value))
    if kind == "riff":
        value = draw(st.sampled_from(U32))
        return Mutation(f"webp_riff_size({value})", lambda d: set_struct_field(d, 4, "<I", value))
    fourcc = draw(st.sampled_from([b"ICCP", b"EXIF", b"XMP ", b"ANIM", b"ANMF", b"ALPH", b"VP8X", b"VP8L"]))
    payload = draw(st.binary(max_size=64))
    chunk = riff_chunk(fourcc, payload)
    return Mutation(f"webp_insert_chunk({fourcc.decode()}, {len(payload)} bytes)", lambda d: d[:12] + chunk + d[12:])


@st.composite
def dicom_mutations(draw: st.DrawFn) -> Mutation:
    """Attributes at extremes, deleted, or a Transfer Syntax UID that does not match the data."""
    kind = draw(st.sampled_from(["attribute", "attribute", "attribute", "delete", "syntax"]))
    if kind == "attribute":
        keyword = draw(st.sampled_from(sorted(DICOM_EXTREMES)))
        value = draw(st.sampled_from(DICOM_EXTREMES[keyword][1]))
        return Mutation(f"dicom_set({keyword}={value!r})", lambda d: set_dicom_attribute(d, keyword, value))
    if kind == "delete":
        keyword = draw(st.sampled_from(DICOM_DELETABLE))
        return Mutation(f"dicom_delete({keyword})", lambda d: delete_dicom_attribute(d, keyword))
    uid = draw(st.sampled_from(TRANSFER_SYNTAXES))
    return Mutation(f"dicom_transfer_syntax({uid})", lambda d: set_transfer_syntax(d, uid))


@st.composite
def nifti_mutations(draw: st.DrawFn) -> Mutation:
    name = draw(st.sampled_from(sorted(NIFTI1_FIELDS)))
    value = draw(st.sampled_from(NIFTI1_FIELDS[name][2]))
    return Mutation(f"nifti_header({name}={value})", lambda d: set_nifti_field(d, name, value))


@st.composite
def securepix_mutations(draw: st.DrawFn) -> Mutation:
    name = draw(st.sampled_from(sorted(SPX_FIELDS)))
    value = draw(st.sampled_from(SPX_FIELDS[name][2]))
    with_ihdr = draw(st.booleans())
    label = f"securepix_header({name}={value}{', IHDR too' if with_ihdr else ''})"
    return Mutation(label, lambda d: set_securepix_field(d, name, value, with_ihdr=with_ihdr))


FORMAT_MUTATIONS: dict[str, list[st.SearchStrategy[Mutation]]] = {
    "png": [png_mutations()],
    "jpeg": [jpeg_mutations()],
    "bmp": [bmp_mutations()],
    "tiff": [tiff_mutations()],
    "webp": [webp_mutations()],
    "dicom": [dicom_mutations()],
    "nifti": [nifti_mutations()],
    "nifti-gz": [nifti_mutations()],
    "securepix": [securepix_mutations(), png_mutations()],
    "crasher": [],
}


def mutations_for(kind: str) -> st.SearchStrategy[Mutation]:
    """Format-aware edits twice as often as format-blind ones."""
    specific = FORMAT_MUTATIONS.get(kind, [])
    return st.one_of(*specific, *specific, byte_mutations()) if specific else byte_mutations()


@st.composite
def fuzz_inputs(draw: st.DrawFn, seeds: Sequence[Seed], max_steps: int = 3) -> FuzzInput:
    """A seed, then one to `max_steps` mutations (never an empty file)."""
    seed = draw(st.sampled_from(list(seeds)))
    mutations = draw(st.lists(mutations_for(seed.kind), min_size=1, max_size=max_steps))
    data = seed.data
    for mutation in mutations:
        data = mutation.apply(data) or data[:1]
    event(f"seed kind: {seed.kind}")
    event(f"mutations: {len(mutations)}")
    return FuzzInput(seed.name, seed.kind, tuple(m.name for m in mutations), data)


def as_input(seed: Seed) -> FuzzInput:
    return FuzzInput(seed.name, seed.kind, (), seed.data)


# Failures -------------------------------------------------------------------


def product_frame(exc: BaseException) -> str:
    """The innermost frame in SecurePix's own code (not tests/, not .venv) where `exc` passed."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename.startswith(str(REPO)) and "/tests/" not in f.filename
           and "/.venv/" not in f.filename]  # fmt: skip
    chosen = own[-1] if own else (frames[-1] if frames else None)
    if chosen is None:
        return "?"
    where = Path(chosen.filename).resolve().relative_to(REPO) if own else chosen.filename
    return f"{where}:{chosen.lineno} in {chosen.name}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:90]


class Failures:
    """Distinct failures of one target, each with its smallest input, saved to
    CRASHER_DIR as NAME.bin (the input) and NAME.json (what happened)."""

    registry: dict[str, Failures] = {}

    def __init__(self, target: str) -> None:
        self.target = target
        self.found: dict[str, dict[str, Any]] = {}
        Failures.registry[target] = self

    def add(self, key: str, case: FuzzInput, exc: BaseException, *, description: str | None = None) -> None:
        """Keep the simplest input per failure: fewest mutations, then fewest bytes (Hypothesis'
        shrunk example, which it replays last, is among the simplest)."""
        known = self.found.get(key)
        if known is not None and known["order"] < (len(case.steps), len(case.data)):
            known["count"] += 1
            return
        name = _slug(f"{self.target}-{key}")
        entry = {
            "target": self.target,
            "key": key,
            "input": description or repr(case),
            "size": len(case.data),
            "order": (len(case.steps), len(case.data)),
            "exception": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "message": str(exc)[:2000],
            "product_frame": product_frame(exc),
            "reproducer": str(CRASHER_DIR / f"{name}.bin"),
            "count": (known["count"] + 1) if known else 1,
            "traceback": "".join(traceback.format_exception(exc))[-6000:],
        }
        self.found[key] = entry
        try:
            CRASHER_DIR.mkdir(parents=True, exist_ok=True)
            (CRASHER_DIR / f"{name}.bin").write_bytes(case.data)
            (CRASHER_DIR / f"{name}.json").write_text(json.dumps(entry, indent=2))
            write_summary()
        except OSError:  # the report is a convenience; the test fails all the same
            pass

    @contextmanager
    def watch(self, case: FuzzInput, key: Callable[[BaseException], str] | None = None) -> Iterator[None]:
        """Record any failure of the block (then let it go on to Hypothesis)."""
        try:
            yield
        except (HypothesisException, KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            if type(exc).__module__.startswith("hypothesis"):  # Hypothesis' own control flow
                raise
            label = key(exc) if key else f"{type_name(exc)}@{product_frame(exc)}"
            event(f"FAILED: {type(exc).__name__}")
            self.add(label, case, exc)
            if COLLECT:
                return  # keep searching; fail_if_collected() fails the test at its end
            if not isinstance(exc, Exception):
                # e.g. a Rust panic from a codec (pyo3's PanicException): Hypothesis would stop
                # at once; as an Exception it goes on searching and shrinks the input.
                raise EscapedBaseException(f"{type_name(exc)} escaped: {exc}") from exc
            raise


class EscapedBaseException(Exception):
    """A BaseException that is not an Exception (a Rust panic) escaped product code."""


def unexpected(exc: BaseException) -> str:
    """The key of a failure: the exception type and where it left product code,
    or, for a broken contract, the assertion's first line."""
    if isinstance(exc, AssertionError):
        first = str(exc).splitlines()[0] if str(exc) else "assertion"
        return f"contract: {re.sub(r'[0-9]+', 'N', first)[:80]}"
    return f"{type_name(exc)}@{product_frame(exc)}"


def type_name(exc: BaseException) -> str:
    module = type(exc).__module__
    return type(exc).__qualname__ if module == "builtins" else f"{module}.{type(exc).__qualname__}"


def fail_if_collected() -> Iterator[None]:
    """For an autouse fixture: in SECUREPIX_FUZZ_COLLECT=1 mode, the test fails at its end
    (an error at teardown) with every distinct failure it recorded."""
    before = {(t, k): e["count"] for t, f in Failures.registry.items() for k, e in f.found.items()}
    yield
    if not COLLECT:
        return
    new = [
        f"{t}: {k}\n    {e['input']}\n    {e['exception']}: {e['message'][:300]}\n    at {e['product_frame']}"
        for t, f in sorted(Failures.registry.items())
        for k, e in sorted(f.found.items())
        if before.get((t, k)) != e["count"]
    ]
    if new:
        import pytest

        pytest.fail(f"{len(new)} distinct failure(s) (SECUREPIX_FUZZ_COLLECT):\n" + "\n".join(new), pytrace=False)


def write_summary() -> None:
    """CRASHER_DIR/SUMMARY.md: every distinct failure of every target so far (this process)."""
    lines = ["# Fuzz failures", ""]
    for target, failures in sorted(Failures.registry.items()):
        for key, entry in sorted(failures.found.items()):
            lines += [
                f"## {target}: {key}",
                f"- input: {entry['input']}",
                f"- exception: {entry['exception']}: {entry['message'][:500]}",
                f"- escaped at: {entry['product_frame']}",
                f"- reproducer: {entry['reproducer']} ({entry['size']} bytes); failing examples seen: {entry['count']}",
                "",
            ]
    CRASHER_DIR.mkdir(parents=True, exist_ok=True)
    (CRASHER_DIR / f"SUMMARY-{os.getpid()}.md").write_text("\n".join(lines))


# Users -------------------------------------------------------------------------


def fuzz_user(username: str, role: str) -> Any:
    """A user in `role` without a password: fuzz targets log in by token or force_login only."""
    from tests.conftest import make_user

    return make_user(username, role, password=None)


# Hypothesis settings ------------------------------------------------------------

# Examples per fuzz target (scaled by each target's weight); SECUREPIX_FUZZ_EXAMPLES=2000 for a long run.
EXAMPLES = int(os.environ.get("SECUREPIX_FUZZ_EXAMPLES", "200"))
# SECUREPIX_FUZZ_COLLECT=1 (long runs): an example that breaks the contract is recorded and the
# search goes on (Hypothesis stops 10 s after its first bug otherwise); no shrinking then.
COLLECT = os.environ.get("SECUREPIX_FUZZ_COLLECT") == "1"


# SECUREPIX_FUZZ_DERANDOMIZE=0: a new random run each time (or `pytest --hypothesis-seed=N`).
DERANDOMIZE = os.environ.get("SECUREPIX_FUZZ_DERANDOMIZE", "1") != "0"


def fuzz_settings(weight: float = 1.0, *, shrink: bool = True) -> settings:
    """Reproducible (derandomized, no example database), no deadline, bounded;
    no 'explain' phase (it re-runs a failing test many times over)."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target] + ([Phase.shrink] if shrink else [])
    return settings(
        max_examples=max(1, round(EXAMPLES * weight)),
        phases=phases,
        deadline=None,
        derandomize=DERANDOMIZE,
        database=None,
        report_multiple_bugs=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
            HealthCheck.filter_too_much,
        ],
    )


@pytest.fixture(scope="module", autouse=True)
def summary_fixture() -> Iterator[None]:
    """Each fuzz module writes its summary of failures when it ends."""
    yield
    write_summary()


@pytest.fixture(autouse=True)
def collected_fixture() -> Iterator[None]:
    """In collect mode, a test fails at its end with every failure it recorded."""
    yield from fail_if_collected()
