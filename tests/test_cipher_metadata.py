"""Nothing of the input's metadata appears in clear in an encrypted file."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from cipher.engine import envelope
from imaging import imagefile, png
from tests.conftest import PASSWORD
from tests.images import encode, image_in_mode

SECRETS = [b"Jane Q. Patient", b"MRN-0042-7731", b"St. Example Hospital"]


def _exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010E] = "Jane Q. Patient MRN-0042-7731"  # ImageDescription
    exif[0x013B] = "St. Example Hospital"  # Artist
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)}  # GPS
    return exif


def _forms(secret: bytes) -> list[bytes]:
    return [secret, secret.decode().encode("utf-16-le"), base64.b64encode(secret)]


@pytest.mark.parametrize("cipher", envelope.CIPHERS)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP"])
def test_exif_and_gps_never_appear_in_the_output(fmt: str, cipher: str) -> None:
    data = encode(image_in_mode("RGB"), fmt, exif=_exif_with_gps().tobytes())
    assert SECRETS[0] in data  # the input really carries it
    encrypted = envelope.encrypt_file(data, PASSWORD, cipher=cipher).data
    for secret in SECRETS[:2]:
        assert not any(form in encrypted for form in _forms(secret))
    assert b"Exif" not in encrypted and b"eXIf" not in encrypted


def test_png_text_chunks_never_appear_in_the_output() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "St. Example Hospital")
    info.add_itxt("Comment", "Jane Q. Patient, MRN-0042-7731", zip=False)
    data = encode(image_in_mode("RGB"), pnginfo=info)
    encrypted = envelope.encrypt_file(data, PASSWORD).data
    for secret in SECRETS:
        assert not any(form in encrypted for form in _forms(secret))
    for chunk in (b"tEXt", b"iTXt", b"zTXt"):
        assert chunk not in encrypted


def test_an_icc_profile_travels_sealed_not_in_clear() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(image_in_mode("RGB"), icc_profile=profile)
    encrypted = envelope.encrypt_file(data, PASSWORD).data
    assert b"iCCP" not in encrypted
    assert profile[128:200] not in encrypted
    assert base64.b64encode(profile)[200:260] not in encrypted


def _sealed_metadata(encrypted: bytes) -> dict[str, Any]:
    return envelope.decrypt_file(encrypted, PASSWORD).metadata


def _decrypted_png(encrypted: bytes) -> bytes:
    data, suffix = imagefile.encode(envelope.decrypt_file(encrypted, PASSWORD))
    assert suffix == ".png"
    return data


def _trns(data: bytes) -> bytes | None:
    """The tRNS chunk's data, as the file has it."""
    at = data.find(b"tRNS")
    return None if at < 0 else data[at + 4 : at + 4 + int.from_bytes(data[at - 4 : at], "big")]


ALPHA_TABLE = bytes([255, 128, 0, 64])  # a palette's alpha per index
# mode, the transparency Pillow reads and writes, and the sealed metadata's form of it
COLOUR_KEYS = [
    pytest.param("L", 7, 7, id="L-7"),
    pytest.param("L", 0, 0, id="L-0"),
    pytest.param("RGB", (1, 2, 3), [1, 2, 3], id="RGB"),
    pytest.param("I;16", 7, 7, id="I;16-7"),
    pytest.param("I;16", 60000, 60000, id="I;16-60000"),
    pytest.param("P", 3, 3, id="P-index"),
    pytest.param("P", ALPHA_TABLE, base64.b64encode(ALPHA_TABLE).decode(), id="P-table"),
]


@pytest.mark.parametrize("cipher", envelope.CIPHERS)
@pytest.mark.parametrize(("mode", "transparency", "sealed"), COLOUR_KEYS)
def test_png_transparency_survives_encryption_exactly(mode: str, transparency: Any, sealed: Any, cipher: str) -> None:
    data = encode(image_in_mode(mode), transparency=transparency)
    original = Image.open(io.BytesIO(data))
    assert original.info["transparency"] == transparency  # the input really carries it
    encrypted = envelope.encrypt_file(data, PASSWORD, cipher=cipher).data
    assert _trns(encrypted) is None
    assert _sealed_metadata(encrypted)["transparency"] == sealed
    decrypted = _decrypted_png(encrypted)
    assert _trns(decrypted) == _trns(data)
    restored = Image.open(io.BytesIO(decrypted))
    assert restored.mode == original.mode
    assert restored.info["transparency"] == original.info["transparency"]
    assert np.array_equal(np.asarray(restored), np.asarray(original))


def test_a_one_bit_png_keeps_its_transparent_value() -> None:
    data = encode(image_in_mode("1"), transparency=1)
    encrypted = envelope.encrypt_file(data, PASSWORD).data
    assert _sealed_metadata(encrypted)["transparency"] == 1  # the sample value, which Pillow reads as 255
    decrypted = _decrypted_png(encrypted)
    assert _trns(decrypted) == _trns(data) == b"\x00\x01"
    assert Image.open(io.BytesIO(decrypted)).info["transparency"] == Image.open(io.BytesIO(data)).info["transparency"]


def test_a_16_bit_rgb_colour_key_comes_back_as_an_alpha_channel() -> None:
    samples = (np.arange(2 * 3 * 3, dtype=np.uint16) * 3000).reshape(2, 3, 3)
    key = png.chunk(b"tRNS", samples[0, 1].astype(">u2").tobytes())
    data = png.png_bytes(samples.astype(">u2").view(np.uint8).reshape(2, -1), 3, 3, 16, extra_chunks=(key,), level=1)
    decrypted = envelope.decrypt_file(envelope.encrypt_file(data, PASSWORD).data, PASSWORD)
    assert decrypted.mode == "RGBA;16" and decrypted.metadata == {}
    assert np.array_equal(decrypted.samples[..., :3], samples)
    assert decrypted.samples[..., 3].tolist() == [[65535, 0, 65535], [65535, 65535, 65535]]


@pytest.mark.parametrize("mode", ["L", "RGB", "I;16", "P"])
def test_an_image_without_transparency_gets_none(mode: str) -> None:
    encrypted = envelope.encrypt_file(encode(image_in_mode(mode)), PASSWORD).data
    assert "transparency" not in _sealed_metadata(encrypted)
    assert _trns(_decrypted_png(encrypted)) is None
