"""Image files <-> arrays of samples, with the metadata needed to rebuild them.

Decoding applies the EXIF orientation (the EXIF block itself is not kept) and
keeps what the pixels cannot be shown correctly without: the palette and its
transparency, and the ICC colour profile.  That metadata travels sealed inside
the encrypted file, never in clear.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageTooLarge, NotAnImage, UnsupportedImage

SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP")
SUPPORTED_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")
_SIXTEEN_BIT_ALIASES = ("I;16L", "I;16B")  # same samples, other byte order on disk


@dataclass
class DecodedImage:
    samples: NDArray[np.uint8] | NDArray[np.uint16]  # HxW or HxWxC
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


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise NotAnImage("the file is not an image that SecurePix can read") from exc
        raise ImageTooLarge(f"the image is over the limit of {max_pixels} pixels") from exc
    if image.format not in SUPPORTED_FORMATS:
        raise UnsupportedImage(f"{image.format} images are not supported; use {', '.join(SUPPORTED_FORMATS)}")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} is over the limit of {max_pixels} pixels")
    if getattr(image, "n_frames", 1) > 1:
        raise UnsupportedImage(f"multi-frame {image.format} images are not supported; save one frame per file")
    return image


def decode(data: bytes, max_pixels: int) -> DecodedImage:
    """Decode an image file into its samples, exactly as Pillow decodes them."""
    image = _open(data, max_pixels)
    source_format = str(image.format)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise NotAnImage(f"the {source_format} file is damaged or truncated: {exc}") from exc
    mode = "I;16" if image.mode in _SIXTEEN_BIT_ALIASES else image.mode
    if mode not in SUPPORTED_MODES:
        raise UnsupportedImage(f"image mode {image.mode} is not supported; supported: {', '.join(SUPPORTED_MODES)}")
    samples = np.asarray(image)
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
        if "transparency" in image.info:
            transparency = image.info["transparency"]
            metadata["transparency"] = _b64(transparency) if isinstance(transparency, bytes) else transparency
    if image.info.get("icc_profile"):
        metadata["icc_profile"] = _b64(image.info["icc_profile"])
    return DecodedImage(np.ascontiguousarray(samples), mode, source_format, metadata)


def encode_png(image: DecodedImage) -> bytes:
    """The decoded pixels as a PNG (lossless), with palette and ICC profile restored."""
    if image.mode == "P":
        pil = Image.frombytes("P", (image.width, image.height), image.samples.tobytes())
        pil.putpalette(base64.b64decode(image.metadata["palette"]), rawmode=image.metadata["palette_mode"])
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
    out = io.BytesIO()
    pil.save(out, format="PNG", **options)
    return out.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
