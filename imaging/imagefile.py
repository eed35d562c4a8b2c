"""Image files <-> arrays of samples, with the metadata needed to rebuild them.

Decoding applies the EXIF orientation (the EXIF block itself is not kept) and
keeps what the pixels cannot be shown correctly without: the palette and its
transparency, and the ICC colour profile.  That metadata travels sealed inside
the encrypted file, never in clear.  Pillow decodes most files; libpng
(imagecodecs, with zlib-ng) the plain PNGs, in half Pillow's time (a quarter
for large ones, inflated by ISA-L beside it: png.read_pixels), and the 16-bit
colour PNGs, which Pillow would cut to 8 bits; tifffile the 16-bit
colour or signed TIFFs; pydicom the DICOM files (dicom.py).

An upload is parsed once (`parse`): the result carries the decoded samples,
the DICOM dataset and the 8-bit rendering to classification, encryption and
the pages alike.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import imagecodecs
import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from core.errors import DamagedImage, ImageTooLarge, NotAnImage, SecurePixError, UnsupportedImage

# imaging.dicom is imported where a DICOM file needs it: pydicom takes a
# seventh of a second to import, which every command would pay.
from . import nifti, png
from .tones import stretch

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "DICOM")
# Deflate level of decrypted PNGs: 1 writes a 4096x4096 photo in a fraction of the
# time level 6 takes (which was most of a decryption), for a file about a tenth
# larger.  ISA-L's level in imaging/png.py, zlib's where Pillow writes.
DECRYPTED_PNG_LEVEL = 1
PILLOW_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")
# Modes Pillow cannot hold exactly, read with libpng (16-bit colour PNG) or
# tifffile (16-bit colour or signed TIFF), and DICOM.
WIDE_MODES = {("uint16", 2): "LA;16", ("uint16", 3): "RGB;16", ("uint16", 4): "RGBA;16", ("int16", 1): "I;16S"}
_SIXTEEN_BIT_ALIASES = ("I;16L", "I;16B")  # same samples, other byte order on disk
_PNG_COLOUR_TYPE_OFFSET = 25
_PNG_BIT_DEPTH_OFFSET = 24
_PNG_INTERLACE_OFFSET = 28
_TIFF_BITS_PER_SAMPLE = 258
_TIFF_SAMPLE_FORMAT = 339
_EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the numpy view that shows the image upright (as Pillow's ImageOps.exif_transpose).
_UPRIGHT: dict[int, Any] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@dataclass
class DecodedImage:
    samples: NDArray[Any]  # HxW or HxWxC; uint8, uint16 or int16
    mode: str
    source_format: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.samples.shape[0])

    @property
    def width(self) -> int:
        return int(self.samples.shape[1])

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 2 else int(self.samples.shape[2])


@dataclass
class ParsedUpload:
    """A file parsed once.  `image` is None for a NIfTI volume, which can be
    classified but not encrypted; `dataset` is the DICOM dataset of a DICOM file."""

    image: DecodedImage | None
    dataset: Dataset | None = None
    volume_slice: NDArray[np.uint8] | None = None  # a NIfTI volume's middle slice, 8 bits
    _rendering: NDArray[np.uint8] | None = field(default=None, init=False, repr=False)

    @property
    def is_nifti(self) -> bool:
        return self.volume_slice is not None

    @property
    def decoded(self) -> DecodedImage:
        """The samples to encrypt."""
        if self.image is None:
            raise UnsupportedImage("NIfTI volumes can be classified, not encrypted; convert the slices to DICOM or PNG")
        return self.image

    def rendering(self) -> NDArray[np.uint8]:
        """8-bit RGB or grey, for display and classification (made once)."""
        if self._rendering is None:
            if self.volume_slice is not None:
                rendering = self.volume_slice
            elif self.dataset is not None:
                from . import dicom

                rendering = dicom.render(self.dataset)
            else:
                rendering = render(self.decoded)
            self._rendering = displayable(rendering)
        return self._rendering


def displayable(rendering: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """A rendering as grey (height x width) or RGB (height x width x 3): alpha
    and extra channels dropped; any other shape is a damaged image."""
    if rendering.ndim == 3 and rendering.shape[2] in (1, 2):
        rendering = rendering[..., 0]
    elif rendering.ndim == 3 and rendering.shape[2] == 4:
        rendering = rendering[..., :3]
    if rendering.ndim not in (2, 3) or (rendering.ndim == 3 and rendering.shape[2] != 3) or 0 in rendering.shape:
        raise DamagedImage(f"the image cannot be shown: its samples come out as {rendering.shape}")
    return np.ascontiguousarray(rendering)


def parse(data: bytes, max_pixels: int) -> ParsedUpload:
    """Decode an uploaded file once: an image, a DICOM file or a NIfTI volume."""
    if nifti.is_nifti(data):
        return ParsedUpload(None, volume_slice=nifti.render(data, max_pixels))
    if data[128:132] == b"DICM":  # the DICOM preamble's magic
        from . import dicom

        return _parse_dicom(data, dicom.read_dataset(data), max_pixels)
    try:
        image = _open(data, max_pixels)
    except NotAnImage as not_an_image:
        from . import dicom

        try:
            dataset = dicom.read_dataset(data)  # a DICOM file without its preamble
        except NotAnImage:
            raise not_an_image from None
        return _parse_dicom(data, dataset, max_pixels)
    return ParsedUpload(_decode_opened(image, data))


def screened(data: bytes, max_pixels: int) -> bool:
    """Whether the file passes what parse() checks of a picture before
    decoding it (a header Pillow reads, a supported format, one frame,
    within `max_pixels`), at the cost of reading its header.  False for a
    DICOM file or a NIfTI volume, and for anything parse() would refuse at
    once: parse() then says what is wrong."""
    if nifti.is_nifti(data) or data[128:132] == b"DICM":
        return False
    try:
        _open(data, max_pixels).close()
    except SecurePixError:
        return False
    return True


def decode(data: bytes, max_pixels: int) -> DecodedImage:
    """Decode an image file into its samples, exactly as stored."""
    return parse(data, max_pixels).decoded


def _parse_dicom(data: bytes, dataset: Dataset, max_pixels: int) -> ParsedUpload:
    from . import dicom

    samples, metadata = dicom.decode(data, dataset, max_pixels)
    return ParsedUpload(DecodedImage(samples, "DICOM", "DICOM", metadata), dataset)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image's header, read by Pillow; its declared size is checked here,
    before a single pixel is decoded."""
    try:
        with warnings.catch_warnings():
            # SecurePix's own limit decides (below); Pillow's warning comes at a lower size.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            frames = getattr(image, "n_frames", 1)
    except UnidentifiedImageError as exc:
        raise NotAnImage("the file is not an image that SecurePix can read") from exc
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"the image is over the limit of {max_pixels} pixels") from exc
    except Exception as exc:  # Pillow's parsers raise many types for a damaged header
        raise DamagedImage(f"the image file is damaged: {exc}") from exc
    if image.format not in SUPPORTED_FORMATS:
        raise UnsupportedImage(f"{image.format} images are not supported; use {', '.join(SUPPORTED_FORMATS)}")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} is over the limit of {max_pixels} pixels")
    if frames > 1:
        raise UnsupportedImage(f"multi-frame {image.format} images are not supported; save one frame per file")
    return image


def _decode_opened(image: Image.Image, data: bytes) -> DecodedImage:
    source_format = str(image.format)
    metadata: dict[str, Any] = {}
    try:
        if _reads_fast(image, data) and (fast := _png_with_libpng(data)) is not None:
            samples, mode, metadata = _decode_with_pillow(image, fast)
            return DecodedImage(np.ascontiguousarray(samples), mode, source_format, metadata)
        image.load()
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        if _is_wide_png(data) or _is_wide_tiff(image):
            samples = _decode_wide(data, source_format)
            mode = WIDE_MODES.get((samples.dtype.name, 1 if samples.ndim == 2 else samples.shape[2]), "I;16")
        else:
            samples, mode, metadata = _decode_with_pillow(image)
    except SecurePixError:
        raise
    except Exception as exc:  # Pillow, libpng and tifffile raise many types for damaged data
        raise DamagedImage(f"the {source_format} file is damaged or truncated: {exc}") from exc
    if orientation in _UPRIGHT:
        samples = _UPRIGHT[orientation](samples)
    return DecodedImage(np.ascontiguousarray(samples), mode, source_format, metadata)


# PNGs that libpng (imagecodecs, with zlib-ng) reads to exactly Pillow's
# samples in half the time: mode -> bit depth.  Not with a tRNS chunk (libpng
# would add an alpha channel) nor with EXIF or XMP, which may turn the image:
# an eXIf chunk, or text chunks Pillow reads as EXIF or XMP (before the pixels:
# in `info`; after them, only a full read by Pillow sees them).
_FAST_PNG_MODES = {"L": 8, "LA": 8, "RGB": 8, "RGBA": 8, "I;16": 16, "I;16B": 16}
_ORIENTATION_TEXT_KEYS = ("Raw profile type exif", "XML:com.adobe.xmp", "xmp")
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


def _reads_fast(image: Image.Image, data: bytes) -> bool:
    if image.format != "PNG" or data[_PNG_BIT_DEPTH_OFFSET] != _FAST_PNG_MODES.get(image.mode):
        return False
    if max(image.size) > png.LIBPNG_MAX_SIDE or data[_PNG_INTERLACE_OFFSET] != 0:
        return False  # libpng's own limit; interlaced files make it print warnings
    if any(key in image.info for key in _ORIENTATION_TEXT_KEYS):
        return False
    kinds = png.chunk_kinds(data)
    after_pixels = kinds[kinds.index(b"IDAT") :] if b"IDAT" in kinds else []
    return b"tRNS" not in kinds and b"eXIf" not in kinds and not any(kind in _TEXT_CHUNKS for kind in after_pixels)


def _png_with_libpng(data: bytes) -> NDArray[Any] | None:
    """The samples as libpng reads them, or None where it refuses a file that
    Pillow may still read (a bad CRC, a stream without its checksum): Pillow
    then decides."""
    try:
        return _png_samples(data)
    except (imagecodecs.PngError, UnicodeDecodeError):  # the latter: libpng's message about a bad chunk name
        return None


def _png_samples(data: bytes) -> NDArray[Any]:
    """libpng's samples: a large plain PNG inflated and unfiltered on two threads (png.read_pixels)."""
    samples = png.read_pixels(data)
    return np.asarray(imagecodecs.png_decode(data)) if samples is None else samples


def _is_wide_png(data: bytes) -> bool:
    """A 16-bit PNG with colour or alpha, which Pillow would cut to 8 bits."""
    return (
        data.startswith(b"\x89PNG")
        and len(data) > _PNG_COLOUR_TYPE_OFFSET
        and data[_PNG_BIT_DEPTH_OFFSET] == 16
        and data[_PNG_COLOUR_TYPE_OFFSET] in (2, 4, 6)
    )


def _is_wide_tiff(image: Image.Image) -> bool:
    """A TIFF of more than 8 bits per sample or signed samples, other than the
    16-bit grey that Pillow holds exactly."""
    if image.format != "TIFF" or image.mode in (*_SIXTEEN_BIT_ALIASES, "I;16"):
        return False
    tags = getattr(image, "tag_v2", {})
    bits = tags.get(_TIFF_BITS_PER_SAMPLE, (8,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    return max(bits) > 8 or tags.get(_TIFF_SAMPLE_FORMAT, 1) in (2, (2,))


def _decode_wide(data: bytes, source_format: str) -> NDArray[Any]:
    if source_format == "PNG":
        return _png_samples(data)  # libpng: 16-bit colour exactly, a tRNS key as alpha
    import tifffile

    samples = np.asarray(tifffile.imread(io.BytesIO(data), key=0))
    channels = 1 if samples.ndim == 2 else samples.shape[-1]
    if (samples.dtype.name, channels) not in WIDE_MODES:
        raise UnsupportedImage(
            f"TIFF samples of type {samples.dtype.name} with {channels} channel(s) are not supported; "
            "supported: 16-bit unsigned with 1-4 channels, or 16-bit signed grey"
        )
    return samples


def _decode_with_pillow(
    image: Image.Image, decoded: NDArray[Any] | None = None
) -> tuple[NDArray[Any], str, dict[str, Any]]:
    """The samples, mode and metadata Pillow reads; `decoded`: the samples,
    already read by a faster decoder."""
    mode = "I;16" if image.mode in _SIXTEEN_BIT_ALIASES else image.mode
    if mode not in PILLOW_MODES:
        raise UnsupportedImage(f"image mode {image.mode} is not supported; supported: {', '.join(PILLOW_MODES)}")
    samples = np.asarray(image) if decoded is None else decoded
    if mode == "1":
        samples = samples.astype(np.uint8)
    elif mode == "I;16":
        samples = samples.astype(np.uint16)
    metadata: dict[str, Any] = {}
    if mode == "P":
        palette = image.palette
        assert palette is not None
        metadata["palette_mode"] = palette.mode
        metadata["palette"] = _b64(bytes(image.getpalette(rawmode=palette.mode) or []))
    transparency = _sealed_transparency(mode, image.info.get("transparency"))
    if transparency is not None:
        metadata["transparency"] = transparency
    if image.info.get("icc_profile"):
        metadata["icc_profile"] = _b64(image.info["icc_profile"])
    return samples, mode, metadata


def _sealed_transparency(mode: str, transparency: Any) -> int | list[int] | str | None:
    """A PNG's tRNS as the sealed metadata keeps it, in the form Pillow writes it back: a palette's
    alpha table (base64) or its one transparent index; the transparent grey value (0 or 1 for mode 1,
    which Pillow reads as 0 or 255); the transparent [red, green, blue]."""
    if transparency is None:
        return None
    if mode == "P":
        return _b64(transparency) if isinstance(transparency, bytes) else int(transparency)
    if mode == "1":
        return int(transparency != 0)
    if mode in ("L", "I;16"):
        return int(transparency)
    if mode == "RGB":
        return [int(value) for value in transparency]
    return None


def encode(image: DecodedImage) -> tuple[bytes, str]:
    """The decrypted image as a file, and its suffix: the DICOM file for DICOM
    sources, a TIFF for signed samples, a PNG for everything else."""
    out = io.BytesIO()
    suffix = write(out, image)
    return out.getvalue(), suffix


def suffix(image: DecodedImage) -> str:
    """The suffix of the file `write` makes of the image."""
    if image.mode == "DICOM":
        return ".dcm"
    return ".tiff" if image.samples.dtype.kind == "i" else ".png"


def write(out: BinaryIO, image: DecodedImage) -> str:
    """encode(), streamed to a seekable file; returns the file's suffix."""
    kind = suffix(image)
    if kind == ".dcm":
        from . import dicom

        out.write(dicom.encode(image.samples, image.metadata))
    elif kind == ".tiff":
        import tifffile

        tifffile.imwrite(out, image.samples)
    elif (plain := _plain_png_pieces(image)) is not None:
        for piece in plain:
            out.write(piece)
    else:
        _write_with_pillow(out, image)
    return kind


def pieces(image: DecodedImage) -> Iterator[bytes | memoryview]:
    """encode()'s file a piece at a time: a plain PNG straight from the
    threads that deflate it (png.png_pieces), never whole in memory; any
    other file whole."""
    plain = _plain_png_pieces(image)
    if plain is None:
        yield encode(image)[0]
    else:
        yield from plain


def plain_png(image: DecodedImage) -> bool:
    """Whether imaging/png.py writes the image's file (a PNG without palette,
    transparency key or ICC profile): pieces() makes it as it goes."""
    if suffix(image) != ".png":
        return False
    return image.mode in WIDE_MODES.values() or (
        image.mode in _PLAIN_PNG_MODES and not _PNG_METADATA & image.metadata.keys()
    )


def _plain_png_pieces(image: DecodedImage) -> Iterator[bytes | memoryview] | None:
    """png.png_pieces() of a plain_png() image, else None."""
    if not plain_png(image):
        return None
    if image.mode in WIDE_MODES.values():
        rows, bit_depth = image.samples.astype(">u2").view(np.uint8).reshape(image.height, -1), 16
    else:
        rows, bit_depth = np.ascontiguousarray(image.samples).reshape(image.height, -1), 8
    return png.png_pieces(rows, image.width, image.channels, bit_depth, level=DECRYPTED_PNG_LEVEL)


# Written by imaging/png.py (faster than Pillow's writer); images with a
# palette, transparency or an ICC profile go through Pillow, which keeps them.
_PLAIN_PNG_MODES = ("L", "LA", "RGB", "RGBA")
_PNG_METADATA = {"transparency", "icc_profile", "palette"}


def _write_with_pillow(out: BinaryIO, image: DecodedImage) -> None:
    """The decoded pixels as a PNG (lossless), with palette, transparency and ICC profile restored."""
    if image.mode == "P":
        pil = _palette_image(image)
    else:
        pil = Image.fromarray(image.samples.astype(bool) if image.mode == "1" else image.samples)
    if pil.mode != image.mode:
        raise ValueError(f"samples rebuilt as {pil.mode}, expected {image.mode}")
    options: dict[str, Any] = {}
    transparency = image.metadata.get("transparency")
    if transparency is not None:
        options["transparency"] = base64.b64decode(transparency) if isinstance(transparency, str) else transparency
    if "icc_profile" in image.metadata:
        options["icc_profile"] = base64.b64decode(image.metadata["icc_profile"])
    pil.save(out, format="PNG", compress_level=DECRYPTED_PNG_LEVEL, **options)


def _palette_image(image: DecodedImage) -> Image.Image:
    """A mode P image rebuilt from its indices and its sealed palette."""
    pil = Image.frombytes("P", (image.width, image.height), image.samples.tobytes())
    pil.putpalette(base64.b64decode(image.metadata["palette"]), rawmode=image.metadata["palette_mode"])
    return pil


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render(image: DecodedImage, file: bytes | None = None) -> NDArray[np.uint8]:
    """An 8-bit RGB or grey rendering for display and classification.

    DICOM goes through its modality and VOI LUTs (dicom.render; `file` is the
    DICOM file when the caller has it); 16-bit and signed images are stretched
    from their minimum to their maximum; a palette is applied; alpha is
    dropped.  The archival samples are not touched.
    """
    if image.mode == "DICOM":
        from . import dicom

        return dicom.render(dicom.read_dataset(file or dicom.encode(image.samples, image.metadata)))
    samples = image.samples
    if image.mode == "P":
        return np.asarray(_palette_image(image).convert("RGB"))
    if image.mode == "1":
        return samples * np.uint8(255)
    if samples.ndim == 3 and samples.shape[2] in (2, 4):
        samples = samples[..., :-1]  # drop alpha
        samples = samples[..., 0] if samples.shape[2] == 1 else samples
    if samples.dtype == np.uint8:
        return np.ascontiguousarray(samples)
    return stretch(samples, float(samples.min()), float(samples.max()))
