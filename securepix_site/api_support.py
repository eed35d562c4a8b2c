"""Pieces every API view shares: upload limits, the audit context, throttles."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

from audit.errors import ServiceError
from audit.services import Context, context_from

_MULTIPART_SLACK = 64 * 1024  # room for the form's other fields and boundaries


def _too_large(what: str) -> ServiceError:
    return ServiceError("upload_too_large", f"{what} is larger than {settings.SECUREPIX_MAX_UPLOAD_BYTES} bytes", 413)


def check_content_length(request: Any) -> None:
    """Refuse an oversized upload from its Content-Length, before reading the body (API and pages)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.SECUREPIX_MAX_UPLOAD_BYTES + _MULTIPART_SLACK:
        raise _too_large("the upload")


def upload_bytes(upload: UploadedFile) -> bytes:
    """An uploaded file's bytes, within the upload limit."""
    if upload.size is not None and upload.size > settings.SECUREPIX_MAX_UPLOAD_BYTES:
        raise _too_large(upload.name or "the file")
    return bytes(upload.read())


def upload_form(request: Request, form_class: type[serializers.Serializer[Any]]) -> dict[str, Any]:
    """A multipart API request's fields, validated, after the upload-size check."""
    check_content_length(request)
    form = form_class(data=request.data)
    form.is_valid(raise_exception=True)
    return dict(form.validated_data)


def read_upload(upload: UploadedFile) -> bytes:
    """For the API: the file's bytes, and an empty file is an invalid field."""
    data = upload_bytes(upload)
    if not data:
        raise serializers.ValidationError({"file": ["the file is empty"]})
    return data


def audit_context(request: Request, actor: Any = None) -> Context:
    return context_from(request._request, actor=actor or request.user)


def download_name(name: str | None, suffix: str) -> str:
    """A safe file name for a download: the upload's stem (without its
    extension and any `.securepix`) and `suffix`."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", (name or "image").rsplit("/", 1)[-1]).strip("._") or "image"
    stem = safe.rsplit(".", 1)[0].removesuffix(".securepix") or "image"
    return f"{stem[:100]}{suffix}"


class PasswordField(serializers.CharField):
    """A password: write-only, kept exactly as typed, hidden in the schema."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("max_length", 1024)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)


class DecryptUserThrottle(UserRateThrottle):
    scope = "decrypt_user"


class AddressThrottle(SimpleRateThrottle):
    """Per client address, whoever is logged in."""

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class DecryptAddressThrottle(AddressThrottle):
    scope = "decrypt_address"


class TokenAddressThrottle(AddressThrottle):
    scope = "token_address"


def decrypt_wait(request: Any) -> float | None:
    """For the decrypt page: the API's decryption throttles (same counters), as
    the seconds to wait, or None when the attempt may go ahead."""
    waits = []
    for throttle in (DecryptUserThrottle(), DecryptAddressThrottle()):
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]  # the views do not use it
            waits.append(throttle.wait() or 60.0)
    return max(waits) if waits else None
