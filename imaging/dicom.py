"""DICOM files: pixel data out for encryption, the whole file back after.

The encrypted image holds the Pixel Data element's value; every other byte of
the file (preamble, file meta, every data element but Pixel Data, trailing
elements) travels in the sealed metadata, so decryption rebuilds an
uncompressed file byte for byte and no patient data is ever in clear.
Compressed transfer syntaxes are decoded first (pydicom with the pylibjpeg
codecs) and kept as Explicit VR Little Endian; see docs/FORMAT.md.

Frames are stacked vertically into one image; planar colour data becomes one
grey plane after another.  The display path renders one frame to 8 bits for
people and the classifier; the archival samples are never converted.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from core.errors import DamagedImage, ImageTooLarge, NotAnImage, SecurePixError, UnsupportedImage

from .tones import stretch

PIXEL_DATA = 0x7FE00010
_UNDEFINED_LENGTH = 0xFFFFFFFF
# Photos and scans stored as DICOM (other, external camera, secondary capture,
# document): their modality says nothing about what they show.
NON_CLINICAL_MODALITIES = frozenset({"OT", "XC", "SC", "DOC"})


@contextmanager
def _decoder(failure: Callable[[str], SecurePixError]) -> Iterator[None]:
    """pydicom and its codecs raise every kind of error for damaged data
    (struct.error, zlib.error, NotImplementedError for an unknown VR, even a
    Rust panic, which is a BaseException): here each one becomes `failure`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except (SecurePixError, KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
        raise
    except BaseException as exc:  # the codecs' panics are BaseExceptions
        raise failure(f"{type(exc).__name__}: {exc}"[:300]) from exc


def read_dataset(data: bytes) -> Dataset:
    """Parse a DICOM file, with or without preamble and file meta; never a
    pydicom exception, always a SecurePix error."""
    with _decoder(lambda why: NotAnImage(f"the DICOM file cannot be read: {why}")):
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
        dataset.get_item(PIXEL_DATA)
        syntax = dataset.file_meta.get("TransferSyntaxUID")
        if syntax is not None and not (isinstance(syntax, UID) and syntax.is_transfer_syntax):
            raise UnsupportedImage(f"the DICOM file names an unknown transfer syntax: {str(syntax)[:64]}")
    if dataset.get_item(PIXEL_DATA) is None or "Rows" not in dataset or "Columns" not in dataset:
        raise NotAnImage("the DICOM file has no image (no Pixel Data, Rows or Columns)")
    if "TransferSyntaxUID" not in dataset.file_meta:
        # A file without file meta: name the encoding pydicom found, so that its decoders can run.
        implicit, little = dataset.original_encoding
        dataset.file_meta.TransferSyntaxUID = {
            (True, True): ImplicitVRLittleEndian,
            (False, True): ExplicitVRLittleEndian,
            (False, False): ExplicitVRBigEndian,
        }[(bool(implicit), bool(little) if little is not None else True)]
    return dataset


def modality(dataset: Dataset) -> str:
    """The Modality attribute, upper case ("" when absent)."""
    return str(dataset.get("Modality", "")).strip().upper()


def is_clinical(modality: str) -> bool:
    """A modality that says the image is clinical imaging (CT, MR, US, ...)."""
    return bool(modality) and modality not in NON_CLINICAL_MODALITIES


def _attribute(dataset: Dataset, name: str, default: int | None = None) -> int:
    value = dataset.get(name, default)
    if value is None or value == "":
        raise UnsupportedImage(f"the DICOM file lacks {name}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UnsupportedImage(f"the DICOM attribute {name} is not a number: {value!r}") from None


def _layout(dataset: Dataset) -> dict[str, int]:
    layout = {
        "frames": _attribute(dataset, "NumberOfFrames", 1),
        "rows": _attribute(dataset, "Rows"),
        "columns": _attribute(dataset, "Columns"),
        "samples": _attribute(dataset, "SamplesPerPixel", 1),
        "bits": _attribute(dataset, "BitsAllocated"),
        "signed": _attribute(dataset, "PixelRepresentation", 0),
        "planar": _attribute(dataset, "PlanarConfiguration", 0),
    }
    if layout["bits"] not in (8, 16):
        raise UnsupportedImage(f"DICOM pixel data of {layout['bits']} bits allocated is not supported (8 or 16)")
    if min(layout["frames"], layout["rows"], layout["columns"], layout["samples"]) < 1 or layout["samples"] > 4:
        raise UnsupportedImage("the DICOM file has impossible image dimensions")
    return layout


def _raw_pixel_data(dataset: Dataset) -> RawDataElement:
    """The Pixel Data element as read: where its value starts in the file, and its length."""
    element = dataset.get_item(PIXEL_DATA)
    if not isinstance(element, RawDataElement):
        raise NotAnImage("the DICOM Pixel Data element cannot be located in the file")
    return element


def _decompressed(dataset: Dataset) -> bytes:
    """Decode compressed pixel data and write the file as Explicit VR Little Endian."""
    syntax = dataset.file_meta.TransferSyntaxUID
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset.decompress(generate_instance_uid=False)
    except (NotImplementedError, RuntimeError) as exc:
        raise UnsupportedImage(f"cannot decode {syntax.name} pixel data: {exc}") from exc
    except (SecurePixError, KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
        raise
    except BaseException as exc:  # a codec's panic is a BaseException
        raise DamagedImage(f"the compressed {syntax.name} pixel data is damaged: {exc}"[:300]) from exc
    out = io.BytesIO()
    with _decoder(lambda why: DamagedImage(f"the DICOM file cannot be written back: {why}")):
        pydicom.dcmwrite(out, dataset, enforce_file_format=True)
    return out.getvalue()


def decode(data: bytes, dataset: Dataset, max_pixels: int) -> tuple[NDArray[np.generic], dict[str, Any]]:
    """The stored pixel values (frames stacked), and the sealed metadata that
    rebuilds the file around them.  `dataset` is read_dataset(data); a
    compressed file is decompressed in it (and read once more, written out)."""
    layout = _layout(dataset)
    pixels = layout["rows"] * layout["columns"] * layout["frames"]
    # Colour planes count too: a planar-colour file is stored (and so decrypted) as one plane after another.
    if pixels * layout["samples"] > max_pixels:
        raise ImageTooLarge(
            f"the DICOM image has {pixels} pixels x {layout['samples']} samples, over the limit of {max_pixels}"
        )
    element = _raw_pixel_data(dataset)
    decompressed_from = None
    syntax = getattr(dataset, "file_meta", Dataset()).get("TransferSyntaxUID")
    if element.length == _UNDEFINED_LENGTH or (syntax is not None and syntax.is_compressed):
        if syntax is None or not syntax.is_compressed:
            raise UnsupportedImage("encapsulated pixel data without a compressed transfer syntax")
        decompressed_from = str(syntax)
        data = _decompressed(dataset)
        written = read_dataset(data)
        layout = _layout(written)
        pixels = layout["rows"] * layout["columns"] * layout["frames"]  # as written out (a codec may disagree)
        if pixels * layout["samples"] > max_pixels:
            raise ImageTooLarge(f"the decoded DICOM image has {pixels} pixels, over the limit of {max_pixels}")
        element = _raw_pixel_data(written)
        little_endian = True  # written as Explicit VR Little Endian
    else:
        little_endian = dataset.original_encoding[1] if dataset.original_encoding[1] is not None else True
    itemsize = layout["bits"] // 8
    expected = pixels * layout["samples"] * itemsize
    start, length = element.value_tell, element.length
    if length < expected or start + length > len(data):
        raise DamagedImage(
            f"the DICOM pixel data is truncated or inconsistent: {min(length, len(data) - start)} bytes for "
            f"{layout['frames']} frame(s) of {layout['rows']}x{layout['columns']}x{layout['samples']} "
            f"at {layout['bits']} bits ({expected} bytes)"
        )
    dtype = np.dtype(("<" if little_endian else ">") + ("i" if layout["signed"] else "u") + str(itemsize))
    values = np.frombuffer(data, dtype=dtype, count=pixels * layout["samples"], offset=start)
    if layout["samples"] > 1 and layout["planar"] == 0:
        shape: tuple[int, ...] = (layout["frames"] * layout["rows"], layout["columns"], layout["samples"])
    else:
        shape = (layout["frames"] * layout["samples"] * layout["rows"], layout["columns"])
    metadata = {
        "dicom": {
            "prefix": base64.b64encode(data[:start]).decode("ascii"),
            "suffix": base64.b64encode(data[start + expected :]).decode("ascii"),
            "dtype": dtype.str,
            "layout": layout,
            "decompressed_from": decompressed_from,
        }
    }
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(shape), metadata


def encode(samples: NDArray[np.generic], metadata: dict[str, Any]) -> bytes:
    """The DICOM file, rebuilt around decrypted pixel values."""
    info = metadata["dicom"]
    pixel_bytes = samples.astype(np.dtype(info["dtype"]), copy=False).tobytes()
    return base64.b64decode(info["prefix"]) + pixel_bytes + base64.b64decode(info["suffix"])


def render(dataset: Dataset) -> NDArray[np.uint8]:
    """First frame as 8 bits for display: modality LUT, then the VOI LUT or
    window when present (else min/max), MONOCHROME1 inverted, palette colour
    applied; YBR is converted to RGB once, by pydicom's decoder."""
    with _decoder(lambda why: DamagedImage(f"the DICOM image cannot be shown: {why}")):
        rendering = _render(dataset)
    return rendering


def _render(dataset: Dataset) -> NDArray[np.uint8]:
    layout = _layout(dataset)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The first frame alone: a series' other frames are not decoded to show it.
            dataset.pixel_array_options(index=0)
            frame = dataset.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        raise UnsupportedImage(f"cannot decode this DICOM pixel data: {exc}") from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DamagedImage(f"the DICOM pixel data is damaged: {exc}") from exc
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(frame, dataset)
        return stretch(rgb, 0, float((1 << 16) - 1) if rgb.max() > 255 else 255.0)
    if layout["samples"] > 1:
        return stretch(frame, 0, float((1 << layout["bits"]) - 1))
    values = apply_modality_lut(frame, dataset)
    if "VOILUTSequence" in dataset or _usable_window(dataset):
        low, high = _voi_output_range(dataset, values)
        values = apply_voi_lut(values, dataset)
    else:
        low, high = float(values.min()), float(values.max())
    image = stretch(values, low, high)
    return 255 - image if photometric == "MONOCHROME1" else image


def _usable_window(dataset: Dataset) -> bool:
    """A window the VOI step can apply: some files carry a width below 1 (the
    standard's minimum), which is no window at all: show their full range."""
    width = dataset.get("WindowWidth")
    if width is None or width == "":
        return False
    try:
        return float(width[0] if isinstance(width, MultiValue) else width) >= 1
    except (TypeError, ValueError, IndexError):
        return False


def _voi_output_range(dataset: Dataset, values: NDArray[np.generic]) -> tuple[float, float]:
    """The range pydicom's VOI step maps into: a LUT's own bit depth, or, for a
    window, the stored range after the modality rescale."""
    if "VOILUTSequence" in dataset:
        bits = int(dataset.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float((1 << bits) - 1)
    stored = int(dataset.get("BitsStored", dataset.BitsAllocated))
    if dataset.get("PixelRepresentation", 0):
        low, high = -float(1 << (stored - 1)), float((1 << (stored - 1)) - 1)
    else:
        low, high = 0.0, float((1 << stored) - 1)
    slope, intercept = float(dataset.get("RescaleSlope", 1)), float(dataset.get("RescaleIntercept", 0))
    low, high = low * slope + intercept, high * slope + intercept
    return min(low, high), max(low, high)
