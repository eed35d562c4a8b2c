"""Uploads within their limits, and passwords as fields: the same checks for
the API and the pages, made before the body is read where the size is known."""

from __future__ import annotations

import io
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile, TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.http import HttpRequest
from rest_framework import serializers

from core.errors import UploadTooLarge

_MULTIPART_SLACK = 64 * 1024  # room for the form's other fields and boundaries


def _too_large(what: str) -> UploadTooLarge:
    return UploadTooLarge(f"{what} is larger than {settings.SECUREPIX_MAX_UPLOAD_BYTES} bytes")


def check_content_length(request: Any) -> None:
    """Refuse an oversized upload from its Content-Length, before reading the body."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.SECUREPIX_MAX_UPLOAD_BYTES + _MULTIPART_SLACK:
        raise _too_large("the upload")


def upload_bytes(upload: UploadedFile) -> bytes:
    """An uploaded file's bytes, within the upload limit.  A file held in
    memory (MemoryFileUploadHandler, the setting) gives its own bytes rather
    than a copy: BytesIO.getvalue() fits its buffer to the file and shares it,
    where read() copies it (23.5 MB for a 4096x4096 photo's PNG)."""
    if upload.size is not None and upload.size > settings.SECUREPIX_MAX_UPLOAD_BYTES:
        raise _too_large(upload.name or "the file")
    if isinstance(upload, InMemoryUploadedFile) and isinstance(upload.file, io.BytesIO):
        return upload.file.getvalue()
    return bytes(upload.read())


def uploads(request: Any, field: str) -> list[tuple[str, bytes]]:
    """Every file of a multipart field, as (name, bytes), after the size checks."""
    check_content_length(request)
    return [(upload.name or "image", upload_bytes(upload)) for upload in request.FILES.getlist(field)]


# From this many bytes, an encrypted file sent to the API is spooled to disk
# (SpoolLargeCiphertext); a smaller one stays in memory.
SPOOL_MIN_BYTES = 4 << 20


class SpoolLargeCiphertext(MemoryFileUploadHandler):
    """For an upload that is ciphertext only (a SecurePix file to decrypt):
    in memory when small, else left to TemporaryFileUploadHandler (placed
    after this one), which writes it to a temporary file that Django deletes
    when the request ends.  The file is then read from disk a piece at a time,
    so that a worker holds the decrypted image, not the encrypted file beside
    it.  Plaintext never goes this way: encrypt's uploads stay in memory."""

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: str | None = None
    ) -> None:
        super().handle_raw_input(input_data, META, content_length, boundary, encoding)
        self.activated = self.activated and content_length is not None and content_length < SPOOL_MIN_BYTES


def spool_large_ciphertext(request: HttpRequest) -> None:
    """Set SpoolLargeCiphertext for `request`, before its body is read."""
    request.upload_handlers = [SpoolLargeCiphertext(request), TemporaryFileUploadHandler(request)]


def ciphertext_uploads(request: Any, field: str) -> list[tuple[str, bytes | BinaryIO]]:
    """uploads(), with a spooled file (spool_large_ciphertext) as its open
    temporary file rather than its bytes."""
    check_content_length(request)
    found: list[tuple[str, bytes | BinaryIO]] = []
    for upload in request.FILES.getlist(field):
        if isinstance(upload, TemporaryUploadedFile) and upload.file is not None:
            if upload.size is not None and upload.size > settings.SECUREPIX_MAX_UPLOAD_BYTES:
                raise _too_large(upload.name or "the file")
            upload.file.seek(0)
            found.append((upload.name or "file", cast(BinaryIO, upload.file)))
        else:
            found.append((upload.name or "file", upload_bytes(upload)))
    return found


class PasswordField(serializers.CharField):
    """A password in an API schema: write-only, kept exactly as typed."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("max_length", 1024)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)
