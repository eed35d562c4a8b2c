"""Known-answer vectors (tests/vectors/vectors.json, also in docs/FORMAT.md).

They pin the format and the keystream bit for bit: a CPU, numpy build or
refactoring that changed a single map iterate would change these hashes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cipher.engine import envelope
from cipher.engine.keystream import ChaoticKeystream
from core import errors
from tests.vectors import generate

ROOT = Path(__file__).resolve().parent.parent
VECTORS: dict[str, Any] = json.loads((ROOT / "tests" / "vectors" / "vectors.json").read_text())
FORMAT_DOC = (ROOT / "docs" / "FORMAT.md").read_text()


@pytest.mark.parametrize("vector", VECTORS["positive"], ids=lambda v: v["name"])
def test_encryption_reproduces_the_vector(vector: dict[str, Any]) -> None:
    data = generate.encrypt_vector(vector)
    assert generate.ciphertext_sha256(data) == vector["ciphertext_sha256"]
    assert hashlib.sha256(data).hexdigest() == vector["file_sha256"]
    assert data.hex() == vector["file_hex"]


@pytest.mark.parametrize("vector", VECTORS["positive"], ids=lambda v: v["name"])
def test_the_vector_file_decrypts_to_its_samples(vector: dict[str, Any]) -> None:
    image = envelope.decrypt_file(bytes.fromhex(vector["file_hex"]), vector["password"])
    assert image.mode == vector["mode"]
    assert np.array_equal(image.samples, np.array(vector["samples"], dtype=vector["dtype"]))


@pytest.mark.parametrize("vector", VECTORS["negative"], ids=lambda v: v["name"])
def test_the_negative_vector_fails_as_documented(vector: dict[str, Any]) -> None:
    with pytest.raises(getattr(errors, vector["error"])) as caught:
        envelope.decrypt_file(bytes.fromhex(vector["file_hex"]), vector["password"])
    assert caught.value.code == vector["code"]


def test_the_keystream_matches_its_vector() -> None:
    spec = VECTORS["keystream"]
    key = bytes.fromhex(spec["key_hex"])
    words = ChaoticKeystream(key, expected_words=spec["expected_words"]).words(len(spec["first_words_hex"]))
    assert [f"{int(w):016x}" for w in words] == spec["first_words_hex"]
    assert generate.long_keystream_sha256(key) == spec["long_sha256"]


def test_the_format_document_carries_the_same_vectors() -> None:
    for vector in VECTORS["positive"]:
        assert vector["ciphertext_sha256"] in FORMAT_DOC, vector["name"]
        assert vector["file_sha256"] in FORMAT_DOC, vector["name"]
    assert VECTORS["keystream"]["long_sha256"] in FORMAT_DOC
    assert all(word in FORMAT_DOC for word in VECTORS["keystream"]["first_words_hex"])
    for vector in VECTORS["negative"]:
        assert vector["name"] in FORMAT_DOC
