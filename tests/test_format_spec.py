"""A second SecurePix reader, written from docs/FORMAT.md alone, checked against the engine.

It parses the PNG and the header, derives the keys (argon2-cffi for Argon2id,
HKDF by hand), checks the password check and the MAC, opens the sealed
metadata and decrypts the pixels.  AES-GCM it decrypts on its own; for the
chaotic cipher it borrows the engine's keystream (section 4, pinned by the
known-answer vectors in test_cipher_vectors.py) and does section 5 itself.
The engine is used only to make the files and to say what they decrypt to:
where this reader agrees with it bit for bit, the document says enough.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import math
import struct
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from argon2 import low_level as argon2
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from PIL import Image

from cipher.engine import envelope
from cipher.engine.keystream import ChaoticKeystream
from imaging import png
from tests import dicom_files
from tests.conftest import PASSWORD
from tests.images import encode, image_in_mode, photo_array

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "vectors.json").read_text())
SIGNATURE = bytes.fromhex("89504e470d0a1a0a")
FIXED = struct.Struct(">9sBBBIII16s16sIIBB")  # section 2: the first 66 bytes
CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # IHDR colour type -> channels
CIPHERS = {1: "chaotic", 2: "aes-gcm"}
SUBKEYS = ("keystream", "permutation", "metadata", "mac", "aes", "password_check")
HKDF_INFO = b"securepix v1 file keys"
BODY_NONCE, METADATA_NONCE = bytes(11) + b"\x01", bytes(11) + b"\x02"
M1_INVERSE = np.uint64(pow(0xBF58476D1CE4E5B9, -1, 1 << 64))
M2_INVERSE = np.uint64(pow(0x94D049BB133111EB, -1, 1 << 64))


class Refused(Exception):
    """A refusal, named as the document names it."""


@dataclass
class Container:
    header: dict[str, Any]
    authenticated: bytes  # A of section 8
    tag: bytes
    body: bytes  # B of section 8


@dataclass
class Opened:
    description: dict[str, Any]
    description_json: bytes
    samples: np.ndarray
    container: Container


def _length_prefixed(payload: bytes, offset: int, size: int) -> tuple[bytes, int]:
    if offset + size > len(payload):
        raise Refused("authentication_failed")
    length = int.from_bytes(payload[offset : offset + size], "big")
    end = offset + size + length
    if end > len(payload):
        raise Refused("authentication_failed")
    return payload[offset + size : end], end


def parse_header(payload: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """Section 2: the fields, the authenticated bytes (A of section 8) and the tag."""
    if len(payload) < FIXED.size:
        raise Refused("authentication_failed")
    names = "magic version cipher kdf memory iterations parallelism salt check height width channels depth"
    header = dict(zip(names.split(), FIXED.unpack_from(payload), strict=True))
    if header["magic"] != b"SecurePix" or header["version"] != 1:
        raise Refused("not_securepix_file")
    if header["cipher"] not in CIPHERS or header["kdf"] != 1:
        raise Refused("authentication_failed")
    header["extra"], offset = _length_prefixed(payload, FIXED.size, 1)
    header["sealed"], offset = _length_prefixed(payload, offset, 4)
    authenticated = payload[:offset]
    tag, offset = _length_prefixed(payload, offset, 1)
    if offset != len(payload):
        raise Refused("authentication_failed")
    return header, authenticated, tag


def read_container(data: bytes, max_pixels: int = 100_000_000) -> Container:
    """Section 1: the PNG's structure, checked."""
    if not data.startswith(SIGNATURE):
        raise Refused("not_securepix_file")
    chunks: list[tuple[bytes, bytes]] = []
    offset = len(SIGNATURE)
    while offset < len(data) and (not chunks or chunks[-1][0] != b"IEND"):
        length, kind = struct.unpack_from(">I4s", data, offset)
        payload = data[offset + 8 : offset + 8 + length]
        crc = data[offset + 8 + length : offset + 12 + length]
        if len(crc) != 4 or int.from_bytes(crc, "big") != zlib.crc32(kind + payload):
            raise Refused("authentication_failed")
        chunks.append((kind, payload))
        offset += 12 + length
    kinds = [kind for kind, _ in chunks]
    if kinds[:2] != [b"IHDR", b"spXH"] or kinds.count(b"spXH") != 1 or kinds[-1] != b"IEND" or offset != len(data):
        raise Refused("authentication_failed")
    header, authenticated, tag = parse_header(chunks[1][1])
    width, height, depth, colour, *options = struct.unpack(">IIBBBBB", chunks[0][1])
    described = (header["width"], header["height"], header["depth"], header["channels"])
    if (width, height, depth, CHANNELS.get(colour)) != described or options != [0, 0, 0] or depth not in (8, 16):
        raise Refused("authentication_failed")
    if width * height > max_pixels:
        raise Refused("image_too_large")
    row = width * header["channels"] * depth // 8
    inflater = zlib.decompressobj()
    raw = inflater.decompress(b"".join(payload for kind, payload in chunks if kind == b"IDAT"))
    if len(raw) != height * (row + 1) or not inflater.eof or inflater.unused_data:
        raise Refused("authentication_failed")
    scanlines = np.frombuffer(raw, dtype=np.uint8).reshape(height, row + 1)
    if scanlines[:, 0].any():
        raise Refused("authentication_failed")
    return Container(header, authenticated, tag, scanlines[:, 1:].tobytes())


def check_kdf_limits(header: dict[str, Any]) -> None:
    limits = (("memory", 19456, 1048576), ("iterations", 2, 16), ("parallelism", 1, 16))
    if not all(low <= header[name] <= high for name, low, high in limits):
        raise Refused("kdf_parameters_refused")


def derive_subkeys(password: str, header: dict[str, Any]) -> dict[str, bytes]:
    """Section 3: Argon2id version 0x13, then HKDF-SHA256 written out (RFC 5869)."""
    master = argon2.hash_secret_raw(
        secret=unicodedata.normalize("NFC", password).encode("utf-8"),
        salt=header["salt"],
        time_cost=header["iterations"],
        memory_cost=header["memory"],
        parallelism=header["parallelism"],
        hash_len=32,
        type=argon2.Type.ID,
        version=0x13,
    )
    prk = hmac.digest(bytes(32), master, "sha256")
    block, subkeys = b"", []
    for counter in range(1, len(SUBKEYS) + 1):
        block = hmac.digest(prk, block + HKDF_INFO + bytes([counter]), "sha256")
        subkeys.append(block)
    return dict(zip(SUBKEYS, subkeys, strict=True))


def _unxorshift(z: np.ndarray, shift: int) -> np.ndarray:
    out = z.copy()
    for multiple in range(shift, 64, shift):
        out ^= z >> np.uint64(multiple)
    return out


def unmix(z: np.ndarray) -> np.ndarray:
    """The inverse of splitmix64's finaliser (section 4), step by step backwards."""
    z = _unxorshift(z, 31) * M2_INVERSE
    z = _unxorshift(z, 27) * M1_INVERSE
    return _unxorshift(z, 30)


def chaotic_plaintext(ciphertext: bytes, shape: list[int], itemsize: int, keys: dict[str, bytes]) -> bytes:
    """Section 5, inverted: the samples' little-endian bytes."""
    rows, columns = shape[0], math.prod(shape[1:])
    schedule = ChaoticKeystream(keys["permutation"], rows + columns + 2).words(rows + columns + 2)
    row_order = np.argsort(schedule[:rows], kind="stable")
    column_order = np.argsort(schedule[rows : rows + columns], kind="stable")
    iv1, iv2 = schedule[-2], schedule[-1]
    d = unmix(np.frombuffer(ciphertext, dtype="<u8").astype(np.uint64))
    c = unmix(d - np.append(d[1:], iv2))  # d_i = d_{i+1} + e_i, d_n = iv2
    a = c - np.insert(c[:-1], 0, iv1)  # c_i = c_{i-1} + a_i, c_{-1} = iv1
    words = a - ChaoticKeystream(keys["keystream"], a.size).words(a.size)
    permuted_bytes = words.astype("<u8").tobytes()[: rows * columns * itemsize]
    permuted = np.frombuffer(permuted_bytes, dtype=f"<u{itemsize}").reshape(rows, columns)
    matrix = np.empty_like(permuted)
    matrix[np.ix_(row_order, column_order)] = permuted  # P[i][j] = M[row_order[i]][column_order[j]]
    return matrix.tobytes()


def open_file(data: bytes, password: str) -> Opened:
    """Section 8's reader: structure, limits, keys, password check, MAC, then decryption."""
    container = read_container(data)
    header = container.header
    check_kdf_limits(header)
    keys = derive_subkeys(password, header)
    if not hmac.compare_digest(keys["password_check"][:16], header["check"]):
        raise Refused("wrong password")
    tag = hmac.digest(keys["mac"], container.authenticated + container.body, "sha256")
    if not hmac.compare_digest(tag, container.tag):
        raise Refused("tampered file")
    ciphertext = container.body + header["extra"]
    if CIPHERS[header["cipher"]] == "aes-gcm":
        aes = AESGCM(keys["aes"])
        description_json = aes.decrypt(METADATA_NONCE, header["sealed"], None)
        assert len(header["sealed"]) == len(description_json) + 16 and len(header["extra"]) == 16
    else:
        sealed = header["sealed"]
        stream = ChaoticKeystream(keys["metadata"], len(sealed) // 8 + 1).bytes(len(sealed))
        description_json = bytes(np.frombuffer(sealed, dtype=np.uint8) ^ stream)
        assert len(ciphertext) % 8 == 0 and len(header["extra"]) < 8
    description = json.loads(description_json)
    shape, dtype = description["shape"], np.dtype(description["dtype"])
    assert shape == [header["height"], header["width"], *([header["channels"]] if header["channels"] > 1 else [])]
    assert dtype.itemsize * 8 == header["depth"]
    if CIPHERS[header["cipher"]] == "aes-gcm":
        plain = AESGCM(keys["aes"]).decrypt(BODY_NONCE, ciphertext, None)
    else:
        plain = chaotic_plaintext(ciphertext, shape, dtype.itemsize, keys)
    words = np.frombuffer(plain, dtype=f"<u{dtype.itemsize}").astype(f"u{dtype.itemsize}")
    return Opened(description, description_json, words.view(dtype).reshape(shape), container)


def rebuilt_dicom(opened: Opened) -> bytes:
    """Section 1.2: prefix || the values in the stored byte order || suffix."""
    dicom = opened.description["metadata"]["dicom"]
    pixel_bytes = opened.samples.astype(np.dtype(dicom["dtype"])).tobytes()
    return b64(dicom["prefix"]) + pixel_bytes + b64(dicom["suffix"])


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


# The inputs ---------------------------------------------------------------------


def _png(mode: str, **options: Any) -> bytes:
    return encode(image_in_mode(mode, height=9, width=11), **options)


def _rgb16_png() -> bytes:
    samples = photo_array(7, 5, 3, seed=3, bits=16)
    return png.png_bytes(samples.astype(">u2").view(np.uint8).reshape(7, -1), 5, 3, 16, level=1)


def _signed_tiff() -> bytes:
    out = io.BytesIO()
    tifffile.imwrite(out, (photo_array(6, 4, 1, seed=5, bits=16).astype(np.int32) - 32768).astype(np.int16))
    return out.getvalue()


KINDS: dict[str, Callable[[], bytes]] = {
    "RGB": lambda: _png("RGB"),
    "L with transparency": lambda: _png("L", transparency=7),
    "RGB with transparency": lambda: _png("RGB", transparency=(1, 2, 3)),
    "P with an alpha table": lambda: _png("P", transparency=bytes([255, 0, 128])),
    "I;16 with transparency": lambda: _png("I;16", transparency=60000),
    "RGB;16": _rgb16_png,
    "I;16S": _signed_tiff,
    "DICOM CT, signed": lambda: dicom_files.packaged("ct_signed"),
    "DICOM big-endian planar colour": lambda: dicom_files.packaged("us_rgb_big_endian"),
}


@pytest.mark.parametrize("cipher", envelope.CIPHERS)
@pytest.mark.parametrize("kind", KINDS)
def test_the_spec_reader_decrypts_what_the_engine_decrypts(kind: str, cipher: str) -> None:
    original = KINDS[kind]()
    encrypted = envelope.encrypt_file(original, PASSWORD, cipher=cipher).data
    opened = open_file(encrypted, PASSWORD)
    engine = envelope.decrypt_file(encrypted, PASSWORD)
    assert opened.samples.dtype == engine.samples.dtype and opened.samples.shape == engine.samples.shape
    assert opened.samples.tobytes() == engine.samples.tobytes()
    assert opened.description == {
        "dtype": engine.samples.dtype.name,
        "format": engine.source_format,
        "metadata": engine.metadata,
        "mode": engine.mode,
        "shape": list(engine.samples.shape),
    }
    assert opened.description_json == json.dumps(opened.description, sort_keys=True, separators=(",", ":")).encode()
    if engine.mode == "DICOM":
        assert rebuilt_dicom(opened) == original


@pytest.mark.parametrize(
    ("kind", "transparency"),
    [("L with transparency", 7), ("RGB with transparency", [1, 2, 3]), ("I;16 with transparency", 60000)],
    ids=["L", "RGB", "I;16"],
)
def test_a_colour_key_is_sealed_as_the_spec_says(kind: str, transparency: Any) -> None:
    opened = open_file(envelope.encrypt_file(KINDS[kind](), PASSWORD, cipher="aes-gcm").data, PASSWORD)
    assert opened.description["metadata"]["transparency"] == transparency


def test_a_palette_is_sealed_as_the_spec_says() -> None:
    data = KINDS["P with an alpha table"]()
    metadata = open_file(envelope.encrypt_file(data, PASSWORD).data, PASSWORD).description["metadata"]
    assert metadata["palette_mode"] == "RGB"
    assert b64(metadata["palette"]) == bytes(Image.open(io.BytesIO(data)).getpalette() or [])
    assert b64(metadata["transparency"]) == bytes([255, 0, 128])


def test_a_dicom_file_is_described_as_the_spec_says() -> None:
    opened = open_file(envelope.encrypt_file(dicom_files.packaged("ct_signed"), PASSWORD).data, PASSWORD)
    dicom = opened.description["metadata"]["dicom"]
    assert sorted(dicom) == ["decompressed_from", "dtype", "layout", "prefix", "suffix"]
    assert dicom["dtype"] == "<i2" and dicom["decompressed_from"] is None
    layout = {"bits": 16, "columns": 128, "frames": 1, "planar": 0, "rows": 128, "samples": 1, "signed": 1}
    assert dicom["layout"] == layout
    assert opened.description["dtype"] == "int16" and opened.description["shape"] == [128, 128]


@pytest.mark.parametrize("vector", VECTORS["positive"], ids=lambda v: v["name"])
def test_the_spec_reader_opens_the_known_answer_vectors(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["file_hex"])
    opened = open_file(data, vector["password"])
    assert opened.samples.tolist() == vector["samples"] and opened.samples.dtype.name == vector["dtype"]
    ciphertext = opened.container.body + opened.container.header["extra"]
    assert hashlib.sha256(ciphertext).hexdigest() == vector["ciphertext_sha256"]


def _no_key_derivation(**_: Any) -> bytes:
    raise AssertionError("a file the limits refuse must be refused before any key derivation")


NEGATIVE = {
    "wrong-password": "wrong password",
    "flipped-mac": "tampered file",
    "excessive-kdf-memory": "kdf_parameters_refused",
}


@pytest.mark.parametrize("vector", VECTORS["negative"], ids=lambda v: v["name"])
def test_the_spec_reader_refuses_the_negative_vectors(vector: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    if vector["name"] == "excessive-kdf-memory":
        monkeypatch.setattr(argon2, "hash_secret_raw", _no_key_derivation)
    with pytest.raises(Refused, match=NEGATIVE[vector["name"]]):
        open_file(bytes.fromhex(vector["file_hex"]), vector["password"])
