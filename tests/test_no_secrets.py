"""After a full scenario (logins, encryptions with and without a mismatch, a
failed decryption, an export), neither the database nor the logs hold a
password or any 64-byte run of the images' bytes."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from tests import dicom_files
from tests.conftest import ACCOUNT_PASSWORD
from tests.images import encode, image_in_mode
from tests.test_api import IMAGE_PASSWORD, decrypt, encrypt

WINDOW = 64


def _database_dump() -> bytes:
    """Every row of every table, as text and as raw bytes."""
    parts: list[bytes] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    parts.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
    return b"\n".join(parts)


def _windows(data: bytes) -> Iterator[bytes]:
    """The 64-byte runs worth looking for, without filler (few distinct bytes, like DICOM's zero preamble)."""
    for start in range(len(data) - WINDOW + 1):
        window = data[start : start + WINDOW]
        if len(set(window)) >= 8:
            yield window


def _forms(data: bytes) -> list[bytes]:
    """The bytes as stored raw, as hex, or as base64 at any alignment."""
    forms = [data, data.hex().encode()]
    forms += [base64.b64encode(data[shift:]) for shift in range(3)]
    return forms


def _leaks(haystack: bytes, secret: bytes) -> bool:
    index = {haystack[i : i + WINDOW] for i in range(len(haystack) - WINDOW + 1)}
    return any(window in index for form in _forms(secret) for window in _windows(form))


@pytest.mark.django_db
def test_no_password_and_no_image_bytes_in_the_database_or_the_logs(
    operator: Any, auditor: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    images = [dicom_files.packaged("ct_signed"), encode(image_in_mode("RGB", 96, 96, seed=3))]
    pixels = [dicom_files.read(images[0]).pixel_array.tobytes(), image_in_mode("RGB", 96, 96, seed=3).tobytes()]

    browser = Client()
    browser.post("/accounts/login/", {"username": "radiographer", "password": "a-wrong-account-password"})
    browser.post("/accounts/login/", {"username": "radiographer", "password": ACCOUNT_PASSWORD})
    api = APIClient()
    token = api.post("/api/v1/tokens", {"username": "radiographer", "password": ACCOUNT_PASSWORD}).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    done = encrypt(api, images[0], "medical")
    assert done.status_code == 200
    assert encrypt(api, images[0], "personal").status_code == 409
    assert (
        encrypt(api, images[0], "personal", acknowledge="true", acknowledgment_reason="consent on file").status_code
        == 200
    )
    assert encrypt(api, images[1], "personal", name="holiday.png").status_code in (200, 409)
    assert decrypt(api, done.content, "a-wrong-image-password").status_code == 400
    assert decrypt(api, done.content).status_code == 200
    auditor_api = APIClient()
    auditor_token = auditor_api.post("/api/v1/tokens", {"username": "compliance", "password": ACCOUNT_PASSWORD})
    auditor_api.credentials(HTTP_AUTHORIZATION=f"Bearer {auditor_token.json()['token']}")
    export = auditor_api.get("/api/v1/audit/export", {"format": "jsonl"})
    exported = b"".join(export.streaming_content)

    dump = _database_dump()
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records).encode()
    assert b'"action": "encrypt"' in exported and b"radiographer" in dump  # the dump is real
    assert _leaks(dump + pixels[0][500:580], pixels[0])  # and the search finds a leak where there is one
    assert _leaks(logs + base64.b64encode(images[1][200:300]), images[1])
    for where, haystack in (("database", dump), ("logs", logs), ("export", exported)):
        for password in (ACCOUNT_PASSWORD, "a-wrong-account-password", IMAGE_PASSWORD, "a-wrong-image-password", token):
            assert password.encode() not in haystack, f"a password or token is in the {where}"
        for data in images + pixels:
            assert not _leaks(haystack, data), f"image bytes are in the {where}"
