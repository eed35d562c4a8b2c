"""Nothing of the input's metadata appears in clear in an encrypted file."""

from __future__ import annotations

import base64

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from cipher.engine import envelope
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
