"""Uploads within their limits, and passwords as fields: the same checks for
the API and the pages, made before the body is read where the size is known."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile, UploadedFile
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


class PasswordField(serializers.CharField):
    """A password in an API schema: write-only, kept exactly as typed."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("max_length", 1024)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)
