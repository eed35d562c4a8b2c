"""Pages and responses of the accounts app."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from securepix_site.api_errors import json_error


def locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """What django-axes answers once a username is locked out at an address: 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = f"too many failed logins: try again in {minutes} minutes"
    if request.path.startswith("/api/"):
        return json_error(request, "locked_out", message, 429)
    return render(request, "error.html", {"title": "Locked out", "message": message.capitalize() + "."}, status=429)
