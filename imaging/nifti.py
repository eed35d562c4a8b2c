"""NIfTI volumes (neuroimaging): detection, and a middle slice for the CNN.

The header's declared size is checked against the pixel limit before the
volume is decompressed or read, and a gzip stream is inflated no further than
the bytes that size needs: a small file that expands to gigabytes is refused,
not unpacked."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
from numpy.typing import NDArray

from core.errors import DamagedImage, ImageTooLarge, NotAnImage, UnsupportedImage

from .tones import stretch

_GZIP_MAGIC = b"\x1f\x8b"
_SLACK_BYTES = 64 * 1024  # header extensions and padding past the declared data
_AUTO_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS


def _inflate(data: bytes, limit: int) -> bytes:
    """The first `limit` (and one more) bytes of a gzip stream, never more."""
    try:
        return zlib.decompressobj(_AUTO_GZIP_OR_ZLIB).decompress(data, limit + 1)
    except zlib.error as exc:
        raise DamagedImage(f"the NIfTI file's gzip stream is damaged: {exc}") from exc


def _inflate_all(data: bytes, limit: int) -> bytes:
    """A gzip stream of at most `limit` bytes; more is an error, not a download."""
    out = _inflate(data, limit)
    if len(out) > limit:
        raise ImageTooLarge(f"the NIfTI file unpacks to more than the {limit} bytes its header declares")
    return out


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
        offset = int(struct.unpack(order + "f", head[108:112])[0])
    else:
        bitpix = struct.unpack(order + "h", head[14:16])[0]
        dims = struct.unpack(order + "8q", head[16:80])
        offset = struct.unpack(order + "q", head[168:176])[0]
    rank = dims[0]
    if not 1 <= rank <= 7 or any(d < 1 for d in dims[1 : rank + 1]) or bitpix <= 0 or bitpix % 8 or offset < 0:
        raise DamagedImage("the NIfTI header declares impossible dimensions")
    voxels = math.prod(dims[1 : rank + 1])
    return voxels, offset + voxels * (bitpix // 8)


def render(data: bytes, max_pixels: int) -> NDArray[np.uint8]:
    """The middle axial slice, stretched from the 0.5th to the 99.5th percentile."""
    import nibabel

    voxels, total_bytes = declared_size(_head(data))
    if voxels > max_pixels:
        raise ImageTooLarge(f"the NIfTI volume has {voxels} voxels, over the limit of {max_pixels}")
    raw = _inflate_all(data, total_bytes + _SLACK_BYTES) if data[:2] == _GZIP_MAGIC else data
    try:
        image = nibabel.Nifti1Image.from_bytes(raw) if raw[344:347] == b"n+1" else nibabel.Nifti2Image.from_bytes(raw)
        shape = image.shape
        if len(shape) < 2:
            raise UnsupportedImage("a NIfTI volume of one dimension has no slice to show")
        # Only the middle slice is read (the first volume of a series): never the whole volume as floats.
        index = (slice(None), slice(None), *([shape[2] // 2] if len(shape) > 2 else []), *[0] * (len(shape) - 3))
        plane = np.asarray(image.dataobj[index], dtype=np.float64)
    except UnsupportedImage:
        raise
    except Exception as exc:  # nibabel raises many types for a damaged file
        raise DamagedImage(f"the NIfTI volume cannot be read: {exc}") from exc
    if not np.isfinite(plane).all():
        plane = np.nan_to_num(plane, nan=0.0, posinf=0.0, neginf=0.0)
    return stretch(np.rot90(plane), float(np.percentile(plane, 0.5)), float(np.percentile(plane, 99.5)))
