from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from drf_spectacular.views import SpectacularSwaggerSplitView

from audit.services import EventFilter, events
from cipher.engine.envelope import CIPHERS
from classification import services as classification
from classification.models import MismatchAcknowledgment
from core import permissions
from core.errors import ErrorCode
from web.errors import json_error

from .middleware import CONTENT_SECURITY_POLICY


def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: my recent operations and acknowledgments (a welcome page when logged out)."""
    if not request.user.is_authenticated:
        return render(request, "home.html", {"ciphers": CIPHERS})
    if not request.user.has_perm(permissions.OWN_HISTORY):  # a user in no group sees nothing
        return render(request, "dashboard.html", {"events": [], "acknowledgments": [], "no_role": True})
    context = {
        "events": events(EventFilter(), actor=request.user).order_by("-sequence")[:15],
        "acknowledgments": MismatchAcknowledgment.objects.filter(user=cast(Any, request.user))[:10],
    }
    return render(request, "dashboard.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 once the classifier is loaded and warm, else 503 (loading or failed)."""
    status = classification.readiness()
    if status != "ready":
        return JsonResponse({"status": status}, status=503)
    return JsonResponse({"status": status, "classifier": classification.model_name()})


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_json(request):
        return json_error(ErrorCode.NOT_FOUND, "no such API endpoint")
    return render(request, "error.html", {"title": "Not found", "message": "There is no such page."}, status=404)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Requests Django refuses before any view (too many files or fields, a body too large)."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

    if isinstance(exception, TooManyFilesSent):
        code, message = ErrorCode.TOO_MANY_FILES, f"at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files per request"
    elif isinstance(exception, RequestDataTooBig):
        code, message = ErrorCode.UPLOAD_TOO_LARGE, "the request body is larger than the limit"
    elif isinstance(exception, TooManyFieldsSent):
        code, message = ErrorCode.INVALID, "the request has too many fields"
    else:
        code, message = ErrorCode.BAD_INPUT, "the request cannot be used"
    if _wants_json(request):
        return json_error(code, message)
    page = {"title": "Bad request", "message": message[:1].upper() + message[1:] + "."}
    return render(request, "error.html", page, status=code.status)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return json_error(ErrorCode.SERVER_ERROR, "something went wrong on our side; it has been logged")
    return render(
        request, "error.html", {"title": "Server error", "message": "Something went wrong on our side."}, status=500
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    message = "the form's CSRF token is missing or wrong: reload the page and try again"
    if _wants_json(request):
        return json_error(ErrorCode.CSRF_FAILED, message)
    return render(request, "error.html", {"title": "Forbidden", "message": message}, status=403)


_swagger = SpectacularSwaggerSplitView.as_view(url_name="api-schema")


def swagger_ui(request: HttpRequest) -> HttpResponse:
    """Swagger UI (scripts from files, as everywhere); it adds a <style> element
    of its own, so this page alone also allows inline styles (never scripts)."""
    response = _swagger(request)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )
    return response
