"""The paper's section 6.2 measurements of one image and its encryption.

NPCR and UACI need two encryptions under one key, which the product never
does (every file gets a fresh salt), so this module fixes the salt and the
password for measurement only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imaging.imagefile import DecodedImage

from . import container, envelope, metrics
from .kdf import KdfParams, derive_keys

MEASUREMENT_SALT = bytes(16)
MEASUREMENT_PASSWORD = "SecurePix measurement key"
CHANGED_PASSWORD = "SecurePix measurement kez"  # one character changed


def cipher_samples(data: bytes) -> np.ndarray:
    """The samples of an encrypted image as any PNG viewer decodes them."""
    return body_samples(*container.read(data, max_pixels=1 << 40))


def body_samples(header: container.Header, body: np.ndarray) -> np.ndarray:
    """The ciphertext rows of a container as samples (height x width x channels)."""
    dtype = np.dtype(">u2") if header.bit_depth == 16 else np.dtype(np.uint8)
    shape = (header.height, header.width) + ((header.channels,) if header.channels > 1 else ())
    return body.view(dtype).astype(dtype.newbyteorder("=")).reshape(shape)


def _encrypt(image: DecodedImage, password: str, cipher: str) -> np.ndarray:
    kdf = KdfParams()
    keys = derive_keys(password, MEASUREMENT_SALT, kdf)
    sealed = envelope.seal_image(image, keys, cipher=cipher, kdf=kdf, salt=MEASUREMENT_SALT)
    return body_samples(sealed.header, sealed.body)  # not written to a PNG and parsed back


def _with_one_pixel_changed(image: DecodedImage) -> DecodedImage:
    samples = image.samples.copy()
    centre = (image.height // 2, image.width // 2) + ((0,) if samples.ndim == 3 else ())
    top = np.iinfo(samples.dtype).max
    samples[centre] = samples[centre] + 1 if samples[centre] < top else samples[centre] - 1
    return DecodedImage(samples, image.mode, image.source_format, image.metadata)


def analyze(image: DecodedImage, cipher: str = "chaotic") -> dict[str, Any]:
    plain = image.samples
    encrypted = _encrypt(image, MEASUREMENT_PASSWORD, cipher)
    pixel_changed = _encrypt(_with_one_pixel_changed(image), MEASUREMENT_PASSWORD, cipher)
    password_changed = _encrypt(image, CHANGED_PASSWORD, cipher)
    npcr_pixel, uaci_pixel = metrics.npcr_uaci(encrypted, pixel_changed)
    npcr_password, uaci_password = metrics.npcr_uaci(encrypted, password_changed)
    return {
        "cipher": cipher,
        "entropy_plain": metrics.entropy(plain),
        "entropy_cipher": metrics.entropy(encrypted),
        "correlation_plain": metrics.adjacent_correlation(plain),
        "correlation_cipher": metrics.adjacent_correlation(encrypted),
        "npcr_pixel": npcr_pixel,
        "uaci_pixel": uaci_pixel,
        "npcr_password": npcr_password,
        "uaci_password": uaci_password,
    }
