"""Encrypt then decrypt gives back the decoded pixels bit for bit."""

from __future__ import annotations

import functools
import hashlib
import io
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from cipher.engine import envelope
from cipher.engine.kdf import FileKeys, KdfParams, derive_keys
from imaging import imagefile
from imaging.imagefile import DecodedImage
from tests.conftest import PASSWORD
from tests.images import decoded_pixels, encode, image_in_mode, photo_array

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]


def _round_trip(data: bytes, cipher: str = "chaotic") -> tuple[bytes, DecodedImage]:
    encrypted = envelope.encrypt_file(data, PASSWORD, cipher=cipher)
    return encrypted.data, envelope.decrypt_file(encrypted.data, PASSWORD)


@pytest.mark.parametrize("cipher", envelope.CIPHERS)
@pytest.mark.parametrize("mode", MODES)
def test_it_round_trips_every_mode_bit_for_bit(mode: str, cipher: str) -> None:
    original = image_in_mode(mode)
    data = encode(original)
    _, decrypted = _round_trip(data, cipher)
    restored = Image.open(io.BytesIO(imagefile.encode(decrypted)[0]))
    assert restored.mode == original.mode
    assert np.array_equal(np.asarray(restored), np.asarray(original))


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP", "JPEG"])
def test_it_round_trips_every_input_format(fmt: str) -> None:
    options = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(image_in_mode("RGB"), fmt, **options)
    _, decrypted = _round_trip(data)
    assert decrypted.source_format == fmt
    assert np.array_equal(decoded_pixels(imagefile.encode(decrypted)[0]), decoded_pixels(data))


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (1, 7, 4), (7, 1), (3, 5, 2), (101, 67, 3), (2, 3)])
def test_it_round_trips_tiny_and_odd_sizes(shape: tuple[int, ...]) -> None:
    samples = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    mode = {2: "L", 3: {2: "LA", 3: "RGB", 4: "RGBA"}.get(shape[-1], "RGB")}[len(shape)]
    image = DecodedImage(samples, mode, "PNG")
    for cipher in envelope.CIPHERS:
        data = envelope.encrypt_image(image, PASSWORD, cipher=cipher)
        assert np.array_equal(envelope.decrypt_file(data, PASSWORD).samples, samples)


def test_it_round_trips_signed_looking_16_bit_extremes() -> None:
    samples = np.array([[0, 1, 32767, 32768], [65534, 65535, 4096, 12345]], dtype=np.uint16)
    data = envelope.encrypt_image(DecodedImage(samples, "I;16", "PNG"), PASSWORD)
    decrypted = envelope.decrypt_file(data, PASSWORD)
    assert decrypted.samples.dtype == np.uint16
    assert np.array_equal(decrypted.samples, samples)


def test_it_round_trips_a_4096_square_rgb_image() -> None:
    samples = photo_array(4096, 4096, 3, seed=3)
    data = envelope.encrypt_image(DecodedImage(samples, "RGB", "PNG"), PASSWORD)
    assert np.array_equal(envelope.decrypt_file(data, PASSWORD).samples, samples)


def test_the_encrypted_file_is_a_png_of_the_same_size_and_depth() -> None:
    for mode, depth_mode in [("RGB", "RGB"), ("I;16", "I;16"), ("LA", "LA"), ("P", "L")]:
        original = image_in_mode(mode, height=20, width=30)
        encrypted = envelope.encrypt_file(encode(original), PASSWORD).data
        shown = Image.open(io.BytesIO(encrypted))
        assert shown.format == "PNG"
        assert shown.size == (30, 20)
        assert shown.mode == depth_mode


def test_a_palette_image_keeps_its_palette_and_transparency() -> None:
    original = image_in_mode("P")
    original.info["transparency"] = 3
    data = encode(original, transparency=3)
    _, decrypted = _round_trip(data)
    restored = Image.open(io.BytesIO(imagefile.encode(decrypted)[0]))
    assert restored.getpalette() == Image.open(io.BytesIO(data)).getpalette()
    assert restored.info.get("transparency") == 3


def test_exif_orientation_is_applied_before_encryption() -> None:
    original = Image.fromarray(photo_array(20, 40, 3))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encode(original, "JPEG", exif=exif.tobytes(), quality=95)
    _, decrypted = _round_trip(data)
    assert decrypted.samples.shape[:2] == (40, 20)


def test_the_icc_profile_comes_back_after_decryption() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(image_in_mode("RGB"), icc_profile=profile)
    _, decrypted = _round_trip(data)
    restored = Image.open(io.BytesIO(imagefile.encode(decrypted)[0]))
    assert restored.info["icc_profile"] == profile


@pytest.mark.parametrize(
    ("shape", "dtype", "mode"),
    [
        ((3000, 700, 3), np.uint8, "RGB"),  # many pieces, more than one group of threads
        ((1500, 1100, 4), np.uint8, "RGBA"),
        ((2100, 999), np.uint8, "L"),
        ((700, 901, 2), np.uint8, "LA"),
        ((1200, 800, 3), np.uint16, "RGB;16"),
        ((5, 1, 3), np.uint8, "RGB"),  # one pixel wide: nothing to its left
    ],
)
def test_decrypted_pngs_are_written_in_parallel_pieces_that_any_reader_takes(
    shape: tuple[int, ...], dtype: Any, mode: str
) -> None:
    import cv2

    rng = np.random.default_rng(len(shape) * 7 + shape[0])
    top = 65536 if dtype == np.uint16 else 256
    smooth = np.cumsum(rng.integers(0, 3, shape), axis=1) % top  # photo-like: the Sub filter helps
    samples = smooth.astype(dtype)
    out, suffix = imagefile.encode(DecodedImage(samples, mode, "PNG"))
    assert suffix == ".png"
    read = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_UNCHANGED)
    if mode == "LA":
        read = read[..., [0, 3]]  # OpenCV reads grey+alpha as BGRA
    elif samples.ndim == 3:
        read = read[..., [2, 1, 0, 3][: samples.shape[2]]]  # OpenCV reads BGR(A)
    assert read.dtype == samples.dtype and (read.reshape(samples.shape) == samples).all()
    assert (imagefile.decode(out, 10**8).samples == samples).all()


@functools.cache
def _keys() -> FileKeys:
    return derive_keys(PASSWORD, bytes(16), KdfParams())


@settings(max_examples=30, deadline=None)
@given(
    height=st.integers(1, 900),
    width=st.integers(1, 400),
    channels=st.sampled_from([1, 2, 3, 4]),
    wide=st.booleans(),
)
def test_the_encrypted_files_length_and_digest_are_known_without_making_it(
    height: int, width: int, channels: int, wide: bool
) -> None:
    """The API streams the file with its Content-Length, and hashes it for
    the audit event a piece at a time: both agree with the file made whole,
    across the batches of rows the stored blocks are cut from."""
    dtype = np.uint16 if wide else np.uint8
    shape = (height, width) if channels == 1 else (height, width, channels)
    samples = np.random.default_rng(height * width * channels).integers(0, 256, shape).astype(dtype)
    mode = ["L", "LA", "RGB", "RGBA"][channels - 1] + (";16" if wide else "")
    image = DecodedImage(samples, mode, "PNG", {})
    encrypted = envelope.seal_image(image, _keys(), cipher="chaotic", kdf=KdfParams(), salt=bytes(16))
    streamed = b"".join(bytes(piece) for piece in encrypted.pieces())
    assert encrypted.size == len(streamed)
    assert encrypted.sha256() == hashlib.sha256(streamed).hexdigest()
    assert streamed == encrypted.data and encrypted.sha256() == hashlib.sha256(encrypted.data).hexdigest()
