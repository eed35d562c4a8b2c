"""One error shape for the whole API, {"error": {"code": ..., "message": ...}},
with the status its `ErrorCode` carries: for SecurePix's own errors, DRF's and
Django's alike."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ErrorCode, SecurePixError


def error_body(code: ErrorCode | str, message: str, **details: Any) -> dict[str, Any]:
    name = code.code if isinstance(code, ErrorCode) else code
    return {"error": {"code": name, "message": message, **details}}


def json_error(code: ErrorCode, message: str) -> JsonResponse:
    """For plain Django views under /api/ (404, 500, CSRF, lockout)."""
    return JsonResponse(error_body(code, message), status=code.status)


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        field, value = next(iter(detail.items()))
        inner = _first_message(value)
        return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _code(exc: exceptions.APIException) -> ErrorCode | str:
    if isinstance(exc, exceptions.ValidationError):
        return ErrorCode.INVALID
    if isinstance(exc, exceptions.PermissionDenied) and str(exc.detail).startswith("CSRF Failed"):
        return ErrorCode.CSRF_FAILED
    codes = exc.get_codes()
    name = codes if isinstance(codes, str) else exc.default_code
    return ErrorCode.from_code(str(name)) or str(name)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER."""
    if isinstance(exc, SecurePixError):
        return Response(error_body(exc.error_code, exc.message, **exc.details), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    details: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        details["fields"] = response.data
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        details["retry_after_seconds"] = round(wait)
    response.data = error_body(_code(exc), _first_message(exc.detail), **details)
    return response
