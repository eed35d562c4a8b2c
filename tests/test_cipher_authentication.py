"""Wrong passwords and altered files are refused, never decrypted to garbage."""

from __future__ import annotations

import struct
import zlib

import pytest

from cipher.engine import container, envelope, kdf
from core.errors import (
    AuthenticationFailed,
    KdfParametersRefused,
    NotSecurePixFile,
    SecurePixError,
    TamperedFile,
    WrongPassword,
)
from imaging.imagefile import DecodedImage
from tests.conftest import PASSWORD
from tests.images import photo_array
from tests.vectors.generate import replace_header


@pytest.fixture(scope="module", params=envelope.CIPHERS)
def encrypted(request: pytest.FixtureRequest) -> bytes:
    image = DecodedImage(photo_array(24, 40, 3), "RGB", "PNG")
    return envelope.encrypt_image(image, PASSWORD, cipher=request.param)


def _positions(data: bytes) -> list[int]:
    """Byte offsets in every region: signature, IHDR, the header chunk
    (magic, KDF, salt, check, sealed metadata, tag, CRC), pixel data, IEND."""
    header_at = data.index(container.HEADER_CHUNK)
    (header_length,) = struct.unpack(">I", data[header_at - 4 : header_at])
    idat_at = data.index(b"IDAT")
    regions = [range(0, 33), range(header_at - 4, header_at + header_length + 8), range(idat_at - 4, len(data))]
    positions = []
    for region in regions:
        positions.extend(region[:: max(1, len(region) // 60)])
    return sorted(set(positions))


def test_every_single_byte_change_is_detected(encrypted: bytes) -> None:
    for position in _positions(encrypted):
        altered = bytearray(encrypted)
        altered[position] ^= 0x01
        with pytest.raises(SecurePixError):
            envelope.decrypt_file(bytes(altered), PASSWORD)


def test_a_change_with_a_fixed_crc_is_caught_by_the_mac(encrypted: bytes) -> None:
    idat_at = encrypted.index(b"IDAT")
    (length,) = struct.unpack(">I", encrypted[idat_at - 4 : idat_at])
    payload = bytearray(zlib.decompress(encrypted[idat_at + 4 : idat_at + 4 + length]))
    payload[50] ^= 0x80  # a ciphertext byte, not a filter byte
    new_idat = zlib.compress(bytes(payload))
    chunk = struct.pack(">I", len(new_idat)) + b"IDAT" + new_idat + struct.pack(">I", zlib.crc32(b"IDAT" + new_idat))
    forged = encrypted[: idat_at - 4] + chunk + encrypted[idat_at + 4 + length + 4 :]
    with pytest.raises(TamperedFile, match="modified"):
        envelope.decrypt_file(forged, PASSWORD)


def test_a_flipped_mac_is_refused_as_tampering(encrypted: bytes) -> None:
    forged = replace_header(encrypted, tag=bytes(32))
    with pytest.raises(TamperedFile):
        envelope.decrypt_file(forged, PASSWORD)


def test_a_wrong_password_is_detected(encrypted: bytes) -> None:
    with pytest.raises(WrongPassword):
        envelope.decrypt_file(encrypted, PASSWORD + "!")
    with pytest.raises(AuthenticationFailed) as caught:
        envelope.decrypt_file(encrypted, "Correct horse battery staple")
    assert caught.value.exit_code == 3
    assert caught.value.code == "authentication_failed"


@pytest.mark.parametrize(
    "params",
    [
        kdf.KdfParams(memory_kib=64 * 1024 * 1024),  # a 64 GiB demand
        kdf.KdfParams(iterations=1_000_000),
        kdf.KdfParams(parallelism=255),
        kdf.KdfParams(memory_kib=8),  # below the OWASP floor
    ],
)
def test_absurd_kdf_parameters_are_refused_before_any_key_derivation(
    encrypted: bytes, params: kdf.KdfParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    forged = replace_header(encrypted, kdf=params)

    def must_not_run(**_: object) -> bytes:
        raise AssertionError("Argon2 ran on refused parameters")

    monkeypatch.setattr(kdf, "hash_secret_raw", must_not_run)
    with pytest.raises(KdfParametersRefused):
        envelope.decrypt_file(forged, PASSWORD)


def test_a_plain_png_is_not_mistaken_for_an_encrypted_file() -> None:
    from tests.images import encode, image_in_mode

    with pytest.raises(NotSecurePixFile):
        envelope.decrypt_file(encode(image_in_mode("RGB")), PASSWORD)
    with pytest.raises(NotSecurePixFile):
        envelope.decrypt_file(b"not even an image", PASSWORD)


def test_truncated_files_are_refused(encrypted: bytes) -> None:
    for cut in (len(encrypted) - 1, len(encrypted) // 2, 200, 40):
        with pytest.raises(SecurePixError):
            envelope.decrypt_file(encrypted[:cut], PASSWORD)


def test_an_empty_password_is_refused() -> None:
    image = DecodedImage(photo_array(4, 4, 3), "RGB", "PNG")
    with pytest.raises(SecurePixError, match="password is required"):
        envelope.encrypt_image(image, "")


def test_the_password_is_normalised_so_composed_and_decomposed_forms_agree() -> None:
    image = DecodedImage(photo_array(4, 4, 3), "RGB", "PNG")
    data = envelope.encrypt_image(image, "caf\u00e9 au lait")
    assert envelope.decrypt_file(data, "cafe\u0301 au lait").samples.tolist() == image.samples.tolist()
