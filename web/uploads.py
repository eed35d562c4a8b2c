"""Uploads within their limits, and passwords as fields: the same checks for
the API and the pages, made before the body is read where the size is known."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, MemoryFileUploadHandler
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


def _check_size(upload: UploadedFile) -> None:
    if upload.size is not None and upload.size > settings.SECUREPIX_MAX_UPLOAD_BYTES:
        raise _too_large(upload.name or "the file")


# What an upload handler is given at a time.  Django's 64 KiB costs a large
# upload dearly under gunicorn: each read of a piece copies what gunicorn
# holds beyond it (up to a megabyte read ahead), some 8 times the body in all.
UPLOAD_CHUNK_BYTES = 1 << 20


class MemoryUploadHandler(MemoryFileUploadHandler):
    """Django's in-memory upload handler (FILE_UPLOAD_HANDLERS), given the
    body a megabyte at a time (UPLOAD_CHUNK_BYTES)."""

    chunk_size = UPLOAD_CHUNK_BYTES


def upload_bytes(upload: UploadedFile) -> bytes:
    """An uploaded file's bytes, within the upload limit.  A file held in
    memory (MemoryUploadHandler, the setting) gives its own bytes rather
    than a copy: BytesIO.getvalue() fits its buffer to the file and shares it,
    where read() copies it (23.5 MB for a 4096x4096 photo's PNG)."""
    _check_size(upload)
    if isinstance(upload, InMemoryUploadedFile) and isinstance(upload.file, io.BytesIO):
        return upload.file.getvalue()
    return bytes(upload.read())


def uploads(request: Any, field: str) -> list[tuple[str, bytes]]:
    """Every file of a multipart field, as (name, bytes), after the size
    checks.  The files are closed once read: the bytes are the caller's
    alone, who may let them go (Upload.release) while the request goes on."""
    check_content_length(request)
    return [_taken(upload) for upload in request.FILES.getlist(field)]


def _taken(upload: UploadedFile) -> tuple[str, bytes]:
    """An uploaded file as (name, bytes), closed: its bytes are the caller's alone."""
    taken = (upload.name or "image", upload_bytes(upload))
    upload.close()
    return taken


# From this many bytes of request, a file to decrypt sent to the API is
# spooled to disk (CiphertextUploadHandler); a smaller one stays in memory.
SPOOL_MIN_BYTES = 4 << 20


class SpooledUpload(UploadedFile):
    """An uploaded file spooled to a temporary file that has no name on disk
    (tempfile.TemporaryFile: O_TMPFILE, or unlinked as soon as made, in
    FILE_UPLOAD_TEMP_DIR): the system frees it when it is closed, at the
    request's end, or when its process dies, so that a worker killed
    mid-request leaves nothing behind (Django's TemporaryUploadedFile is
    named, and stays there)."""

    def __init__(self, name: str, content_type: str | None, charset: str | None, extra: Any) -> None:
        spool = tempfile.TemporaryFile(suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115 (closed with the request)
        super().__init__(spool, name, content_type, 0, charset, extra)


class CiphertextUploadHandler(FileUploadHandler):
    """For the API's decryption: a file of a request of SPOOL_MIN_BYTES or
    more that begins as a SecurePix file does (`begins`, given its first
    `head_bytes` bytes) is written to a temporary file without a name
    (SpooledUpload), freed when the request ends or its worker dies, and
    read from disk a piece at a time: a worker holds the decrypted image,
    not the encrypted file beside it.  Anything else, a plaintext image sent
    by mistake above all, stays in memory, where decryption refuses it.  A
    file over the upload limit is refused (413) before a byte past the limit
    is kept, and what was spooled is freed."""

    chunk_size = UPLOAD_CHUNK_BYTES

    def __init__(self, request: HttpRequest, begins: Callable[[bytes], bool], head_bytes: int) -> None:
        super().__init__(request)
        self.begins, self.head_bytes = begins, head_bytes
        self.large = False
        self.head = b""  # a file's first bytes, until there are enough to choose where it goes
        self.target: SpooledUpload | io.BytesIO | None = None

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, boundary: Any, encoding: str | None = None
    ) -> None:
        self.large = content_length >= SPOOL_MIN_BYTES

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.head, self.target = b"", None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > settings.SECUREPIX_MAX_UPLOAD_BYTES:
            self.upload_interrupted()
            raise _too_large(self.file_name or "the file")
        if self.target is None:
            self.head += raw_data
            if len(self.head) < self.head_bytes:
                return
            raw_data, self.head = self.head, b""
            self.target = self._chosen(raw_data)
        self.target.write(raw_data)

    def _chosen(self, head: bytes) -> SpooledUpload | io.BytesIO:
        if self.large and self.begins(head):
            return SpooledUpload(self.file_name or "file", self.content_type, self.charset, self.content_type_extra)
        return io.BytesIO()

    def file_complete(self, file_size: int) -> UploadedFile:
        if self.target is None:  # shorter than head_bytes: no SecurePix file
            self.target = io.BytesIO(self.head)
        self.target.seek(0)
        if isinstance(self.target, SpooledUpload):
            self.target.size = file_size
            return self.target
        return InMemoryUploadedFile(
            self.target,
            self.field_name,
            self.file_name,
            self.content_type,
            file_size,
            self.charset,
            self.content_type_extra,
        )

    def upload_interrupted(self) -> None:
        if isinstance(self.target, SpooledUpload):
            self.target.close()  # freed as it closes


def spool_ciphertext(request: HttpRequest, begins: Callable[[bytes], bool], head_bytes: int) -> None:
    """CiphertextUploadHandler for `request`, before its body is read."""
    request.upload_handlers = [CiphertextUploadHandler(request, begins, head_bytes)]


def ciphertext_uploads(request: Any, field: str) -> list[tuple[str, bytes | BinaryIO]]:
    """uploads(), with a spooled file (spool_ciphertext) as its open
    temporary file rather than its bytes."""
    check_content_length(request)
    found: list[tuple[str, bytes | BinaryIO]] = []
    for upload in request.FILES.getlist(field):
        if isinstance(upload, SpooledUpload) and upload.file is not None:
            _check_size(upload)
            upload.file.seek(0)
            found.append((upload.name or "image", cast(BinaryIO, upload.file)))
        else:
            found.append(_taken(upload))
    return found


class PasswordField(serializers.CharField):
    """A password in an API schema: write-only, kept exactly as typed."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("max_length", 1024)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)
