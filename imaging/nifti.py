"""NIfTI volumes (neuroimaging): detection, and a middle slice for the CNN.

The header's declared size is checked against the pixel limit before the
volume is decompressed or read, and a gzip stream is inflated no further than
the bytes that size needs: a small file that expands to gigabytes is refused,
not unpacked."""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
from numpy.typing import NDArray

from core.errors import DamagedImage, ImageTooLarge, NotAnImage, UnsupportedImage

from .tones import stretch

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_BITS_PER_VOXEL = (8, 16, 24, 32, 64, 128, 256)  # the NIfTI data types
_MAX_DATA_OFFSET = 16 * 1024 * 1024
_SLACK_BYTES = 64 * 1024  # header extensions and padding past the declared data
_AUTO_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS


def _inflate(data: bytes, limit: int) -> bytes:
    """The first `limit` (and one more) bytes of a gzip stream, never more."""
    try:
        return zlib.decompressobj(_AUTO_GZIP_OR_ZLIB).decompress(data, limit + 1)
    except zlib.error as exc:
        raise DamagedImage(f"the NIfTI file's gzip stream is damaged: {exc}") from exc


def _head(data: bytes) -> bytes:
    return _inflate(data, 600)[:600] if data[:2] == _GZIP_MAGIC else data[:600]


def _version(head: bytes) -> tuple[int, str] | None:
    """(NIfTI version, byte order) from the header's size field and magic."""
    if len(head) < 348:
        return None
    for order in "<>":
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348 and head[344:347] in (b"n+1", b"ni1"):
            return 1, order
        if size == 540 and len(head) >= 540 and head[4:7] in (b"n+2", b"ni2"):
            return 2, order
    return None


def is_nifti(data: bytes) -> bool:
    try:
        return _version(_head(data)) is not None
    except DamagedImage:
        return False


def declared_size(head: bytes) -> tuple[int, int]:
    """(voxels, bytes from the start of the file to the end of the data) as the header declares them."""
    found = _version(head)
    if found is None:
        raise NotAnImage("not a NIfTI header")
    version, order = found
    if version == 1:
        dims = struct.unpack(order + "8h", head[40:56])
        bitpix = struct.unpack(order + "h", head[72:74])[0]
        declared_offset = struct.unpack(order + "f", head[108:112])[0]
        if not math.isfinite(declared_offset):
            raise DamagedImage("the NIfTI header declares an impossible data offset")
        offset = int(declared_offset)
    else:
        bitpix = struct.unpack(order + "h", head[14:16])[0]
        dims = struct.unpack(order + "8q", head[16:80])
        offset = struct.unpack(order + "q", head[168:176])[0]
    rank = dims[0]
    if not 1 <= rank <= 7 or any(d < 1 for d in dims[1 : rank + 1]) or bitpix not in _BITS_PER_VOXEL:
        raise DamagedImage("the NIfTI header declares impossible dimensions")
    if not 0 <= offset <= _MAX_DATA_OFFSET:  # header extensions are small; a huge offset only inflates work
        raise DamagedImage(f"the NIfTI header puts its data {offset} bytes in: more than {_MAX_DATA_OFFSET}")
    voxels = math.prod(dims[1 : rank + 1])
    return voxels, offset + voxels * (bitpix // 8)


def render(data: bytes, max_pixels: int) -> NDArray[np.uint8]:
    """The middle axial slice (of the first volume), stretched from the 0.5th
    to the 99.5th percentile.  Only that slice is read: a gzip stream is
    inflated up to its end and no further."""
    import nibabel

    head = _head(data)
    voxels, total_bytes = declared_size(head)
    if voxels > max_pixels:
        raise ImageTooLarge(f"the NIfTI volume has {voxels} voxels, over the limit of {max_pixels}")
    try:
        kind = nibabel.Nifti1Header if head[344:347] in (b"n+1", b"ni1") else nibabel.Nifti2Header
        header = kind.from_fileobj(io.BytesIO(head), check=False)  # type: ignore[no-untyped-call]
        shape = tuple(int(n) for n in header.get_data_shape())
        dtype = np.dtype(header.get_data_dtype())
        slope, intercept = header.get_slope_inter()
        offset = int(header.get_data_offset())
    except Exception as exc:  # nibabel raises many types for a damaged header
        raise DamagedImage(f"the NIfTI header cannot be read: {exc}") from exc
    if len(shape) < 2 or dtype.kind not in "iuf":
        raise UnsupportedImage("only NIfTI volumes of numbers in two or more dimensions can be shown")
    plane = shape[0] * shape[1] * dtype.itemsize
    start = offset + (shape[2] // 2 if len(shape) > 2 else 0) * plane
    if data[:2] == _GZIP_MAGIC:
        raw = _inflate_range(data, start, plane, limit=total_bytes + _SLACK_BYTES)
    else:
        raw = data[start : start + plane]
    if len(raw) < plane:
        raise DamagedImage("the NIfTI volume is truncated: its middle slice is not all there")
    values = np.frombuffer(raw, dtype=dtype).reshape(shape[1], shape[0]).T.astype(np.float64)  # x varies fastest
    if slope is not None and np.isfinite(slope) and slope != 0:
        values = values * slope + (intercept if intercept is not None and np.isfinite(intercept) else 0.0)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return stretch(np.rot90(values), float(np.percentile(values, 0.5)), float(np.percentile(values, 99.5)))


def _inflate_range(data: bytes, start: int, length: int, limit: int) -> bytes:
    """Bytes [start, start + length) of a gzip stream, keeping only those in
    memory; the rest is inflated and thrown away, and a stream that unpacks
    past `limit` (what its header declares) is refused."""
    inflater = zlib.decompressobj(_AUTO_GZIP_OR_ZLIB)
    out, position, read = bytearray(), 0, 0
    try:
        while True:
            if inflater.unconsumed_tail:
                chunk = inflater.unconsumed_tail
            elif read < len(data) and not inflater.eof:
                chunk, read = data[read : read + _CHUNK], read + _CHUNK
            else:
                break
            piece = inflater.decompress(chunk, _CHUNK)
            if position + len(piece) > start and len(out) < length:
                out += piece[max(0, start - position) :]
            position += len(piece)
            if position > limit:
                raise ImageTooLarge(f"the NIfTI file unpacks to more than the {limit} bytes its header declares")
    except zlib.error as exc:
        raise DamagedImage(f"the NIfTI file's gzip stream is damaged: {exc}") from exc
    return bytes(out[:length])
