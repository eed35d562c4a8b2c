"""One error shape for the whole API: {"error": {"code": ..., "message": ...}},
with the right status code, for DRF's own errors, the services' refusals and
the cipher engine's errors alike."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from audit.errors import ServiceError
from cipher.engine import errors as engine

ENGINE_STATUS = {
    engine.NotAnImage: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    engine.UnsupportedImage: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    engine.ImageTooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
}


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        field, value = next(iter(detail.items()))
        inner = _first_message(value)
        return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _code(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    if isinstance(exc, exceptions.PermissionDenied) and str(exc.detail).startswith("CSRF Failed"):
        return "csrf_failed"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message, **exc.details), status=exc.status)
    if isinstance(exc, engine.SecurePixError):
        return Response(error_body(exc.code, str(exc)), status=ENGINE_STATUS.get(type(exc), 400))
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


def json_error(code: str, message: str, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)
