"""DICOM test files: pydicom's own test files from the installed package, and
variants this module derives from them (nothing third-party is committed)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from benchmarks import medical

# name -> (pydicom test file, what it covers)
PACKAGED = {
    "ct_signed": "CT_small.dcm",  # CT, 16-bit signed, Explicit VR LE
    "mr": "MR_small.dcm",  # MR, 16-bit signed
    "mr_rle": "MR_small_RLE.dcm",  # RLE Lossless
    "mr_jpeg_ls": "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS Lossless
    "nm_jpeg2000": "JPEG2000.dcm",  # JPEG 2000
    "us_ybr_multiframe": "examples_ybr_color.dcm",  # 30 frames, JPEG baseline, YBR_FULL_422
    "rgb_rle_multiframe": "SC_rgb_rle_2frame.dcm",  # 2 colour frames, RLE
    "us_rgb_big_endian": "ExplVR_BigEnd.dcm",  # colour, planar, Explicit VR Big Endian
    "us_palette": "examples_palette.dcm",  # PALETTE COLOR
}
COMPRESSED = {"mr_rle", "mr_jpeg_ls", "nm_jpeg2000", "us_ybr_multiframe", "rgb_rle_multiframe"}


def testdata(filename: str) -> bytes:
    """One of the test files in pydicom's wheel."""
    return Path(get_testdata_file(filename)).read_bytes()


def packaged(name: str) -> bytes:
    return testdata(PACKAGED[name])


def read(data: bytes) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data), force=True)


def write(dataset: Dataset, *, file_format: bool = True) -> bytes:
    out = io.BytesIO()
    pydicom.dcmwrite(out, dataset, enforce_file_format=file_format)
    return out.getvalue()


def ct_without_file_meta() -> bytes:
    """CT_small as a bare dataset: no preamble, no file meta (Implicit VR LE)."""
    dataset = read(packaged("ct_signed"))
    del dataset.file_meta
    dataset.preamble = None
    out = io.BytesIO()
    pydicom.dcmwrite(out, dataset, implicit_vr=True, little_endian=True)
    return out.getvalue()


def ct_unsigned() -> bytes:
    """CT_small stored unsigned, as many scanners do: value + 1024, intercept -1024."""
    dataset = read(packaged("ct_signed"))
    values = dataset.pixel_array.astype(np.int32) + 1024
    dataset.PixelRepresentation = 0
    dataset.RescaleIntercept = -1024
    dataset.PixelData = np.clip(values, 0, 65535).astype("<u2").tobytes()
    return write(dataset)


def mr_monochrome1() -> bytes:
    dataset = read(packaged("mr"))
    dataset.PhotometricInterpretation = "MONOCHROME1"
    return write(dataset)


def ct_multiframe(frames: int = 4, size: int = 128) -> bytes:
    """An uncompressed multi-frame 16-bit CT made of CT_small's slice, resized
    (the medical benchmark's own series)."""
    return medical.ct_file(frames, size)


def with_attribute(data: bytes, **changes: object) -> bytes:
    dataset = read(data)
    for keyword, value in changes.items():
        setattr(dataset, keyword, value)
    return write(dataset)


def phi_values(data: bytes) -> list[str]:
    """Identifying values a reader must never find in clear in an encrypted file."""
    dataset = read(data)
    keywords = (
        "PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "ReferringPhysicianName",
        "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "AccessionNumber", "StudyDate",
    )  # fmt: skip
    values = [str(dataset.get(k, "")).strip() for k in keywords]
    return [v for v in values if len(v) >= 6]
