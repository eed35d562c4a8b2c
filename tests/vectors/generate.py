"""Writes tests/vectors/vectors.json: the known-answer vectors of docs/FORMAT.md.

Run once when the format changes (`python -m tests.vectors.generate`); the
tests then check that the engine still produces exactly these bytes.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from cipher.engine import container, envelope
from cipher.engine.kdf import KdfParams
from cipher.engine.keystream import ChaoticKeystream
from imaging.imagefile import DecodedImage

HERE = Path(__file__).parent
SALT = bytes(range(16))
PASSWORD = "SecurePix test vector 1"

POSITIVE = [
    {"name": "chaotic-rgb-2x3", "cipher": "chaotic", "mode": "RGB", "dtype": "uint8",
     "samples": np.arange(18, dtype=np.uint8).reshape(2, 3, 3) * 13},
    {"name": "chaotic-gray16-3x2", "cipher": "chaotic", "mode": "I;16", "dtype": "uint16",
     "samples": np.array([[0, 1], [4095, 4096], [65534, 65535]], dtype=np.uint16)},
    {"name": "aes-gcm-rgb-2x3", "cipher": "aes-gcm", "mode": "RGB", "dtype": "uint8",
     "samples": np.arange(18, dtype=np.uint8).reshape(2, 3, 3) * 13},
]  # fmt: skip


LONG_WORDS = 1 << 20  # enough for the widest lane count and hundreds of steps


def long_keystream_sha256(key: bytes) -> str:
    words = ChaoticKeystream(key, expected_words=LONG_WORDS).words(LONG_WORDS)
    return hashlib.sha256(words.astype("<u8").tobytes()).hexdigest()


def encrypt_vector(vector: dict[str, Any]) -> bytes:
    image = DecodedImage(np.asarray(vector["samples"], dtype=vector["dtype"]), vector["mode"], "PNG")
    return envelope.encrypt_image(image, PASSWORD, cipher=vector["cipher"], kdf=KdfParams(), salt=SALT)


def replace_header(data: bytes, **changes: Any) -> bytes:
    header = container.read_header(data, max_pixels=1 << 30)
    payload = container.Header(**{**header.__dict__, **changes}).to_bytes()
    at = data.index(container.HEADER_CHUNK)
    (length,) = struct.unpack(">I", data[at - 4 : at])
    chunk = struct.pack(">I", len(payload)) + container.HEADER_CHUNK + payload
    chunk += struct.pack(">I", zlib.crc32(container.HEADER_CHUNK + payload))
    return data[: at - 4] + chunk + data[at + 4 + length + 4 :]


def ciphertext_sha256(data: bytes) -> str:
    header, rows = container.read(data, max_pixels=1 << 30)
    return hashlib.sha256(np.ascontiguousarray(rows).tobytes() + header.extra).hexdigest()


def build() -> dict[str, Any]:
    positives = []
    for vector in POSITIVE:
        data = encrypt_vector(vector)
        positives.append(
            {
                "name": vector["name"],
                "cipher": vector["cipher"],
                "password": PASSWORD,
                "salt_hex": SALT.hex(),
                "kdf": KdfParams().__dict__,
                "mode": vector["mode"],
                "dtype": vector["dtype"],
                "samples": np.asarray(vector["samples"]).tolist(),
                "file_sha256": hashlib.sha256(data).hexdigest(),
                "ciphertext_sha256": ciphertext_sha256(data),
                "file_hex": data.hex(),
            }
        )
    first = bytes.fromhex(positives[0]["file_hex"])
    tag = container.read_header(first, max_pixels=1 << 30).tag
    negatives = [
        {"name": "wrong-password", "password": "SecurePix test vector 2", "file_hex": first.hex(),
         "error": "WrongPassword", "code": "authentication_failed"},
        {"name": "flipped-mac", "password": PASSWORD,
         "file_hex": replace_header(first, tag=tag[:-1] + bytes([tag[-1] ^ 1])).hex(),
         "error": "TamperedFile", "code": "authentication_failed"},
        {"name": "excessive-kdf-memory", "password": PASSWORD,
         "file_hex": replace_header(first, kdf=KdfParams(memory_kib=64 * 1024 * 1024)).hex(),
         "error": "KdfParametersRefused", "code": "kdf_parameters_refused"},
    ]  # fmt: skip
    key = bytes(range(32))
    keystream = {
        "key_hex": key.hex(),
        "expected_words": 8,
        "first_words_hex": [f"{int(w):016x}" for w in ChaoticKeystream(key, expected_words=8).words(8)],
        "long_words": LONG_WORDS,
        "long_sha256": long_keystream_sha256(key),
    }
    return {"positive": positives, "negative": negatives, "keystream": keystream}


if __name__ == "__main__":
    (HERE / "vectors.json").write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {HERE / 'vectors.json'}")
