"""NIfTI volumes (neuroimaging): detection, and a middle slice for the CNN."""

from __future__ import annotations

import gzip
import io
import struct

import numpy as np
from numpy.typing import NDArray

from core.errors import NotAnImage

from .tones import stretch


def is_nifti(data: bytes) -> bool:
    head = data[:600]
    if head[:2] == b"\x1f\x8b":
        try:
            head = gzip.GzipFile(fileobj=io.BytesIO(data)).read(600)
        except (OSError, EOFError):
            return False
    if len(head) < 348:
        return False
    sizes = {struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0]}
    return (348 in sizes and head[344:347] in (b"n+1", b"ni1")) or (540 in sizes and head[4:7] in (b"n+2", b"ni2"))


def render(data: bytes) -> NDArray[np.uint8]:
    """The middle axial slice, stretched from the 0.5th to the 99.5th percentile."""
    import nibabel

    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    try:
        image = nibabel.Nifti1Image.from_bytes(raw) if raw[344:347] == b"n+1" else nibabel.Nifti2Image.from_bytes(raw)
        volume = np.asarray(image.get_fdata(), dtype=np.float64)
    except Exception as exc:  # nibabel raises many types for a damaged file
        raise NotAnImage(f"the NIfTI volume cannot be read: {exc}") from exc
    while volume.ndim > 3:
        volume = volume[..., 0]
    plane = volume[..., volume.shape[-1] // 2] if volume.ndim == 3 else volume
    return stretch(np.rot90(plane), float(np.percentile(plane, 0.5)), float(np.percentile(plane, 99.5)))
