"""Pages and responses of the accounts app."""

from __future__ import annotations

import base64
from typing import Any, cast

import django_otp
import segno
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import context_from
from securepix_site.api_errors import json_error
from securepix_site.web import no_store, page, problem

from . import services
from .models import ApiToken


def locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """What django-axes answers once a username is locked out at an address: 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = f"too many failed logins: try again in {minutes} minutes"
    if request.path.startswith("/api/"):
        return json_error(request, "locked_out", message, 429)
    return render(request, "error.html", {"title": "Locked out", "message": message.capitalize() + "."}, status=429)


@require_GET
@page()
def tokens_page(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/tokens.html", {"tokens": _tokens(request)})


def _tokens(request: HttpRequest) -> Any:
    return ApiToken.objects.filter(user=cast(Any, request.user))


@require_POST
@page()
def token_create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()[:100]
    verified = bool(getattr(request.user, "is_verified", lambda: False)())
    _, plain = services.issue_token(context_from(request), name, second_factor=verified)
    context = {"tokens": _tokens(request), "new_token": plain}
    return no_store(render(request, "accounts/_tokens.html", context))


@require_POST
@page()
def token_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    token = get_object_or_404(ApiToken, user=cast(Any, request.user), key_id=key_id)
    services.revoke_token(context_from(request), token)
    return render(request, "accounts/_tokens.html", {"tokens": _tokens(request)})


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("otp_token")
@page(second_factor=False)
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up a TOTP authenticator app: a QR code, then a code from the app to confirm."""
    user = request.user
    has_device = django_otp.user_has_device(user)
    verified = bool(getattr(user, "is_verified", lambda: False)())
    context: dict[str, Any] = {"has_device": has_device}
    if request.method == "POST" and request.POST.get("step") == "start":
        if has_device and not verified:
            return problem(request, "Not now", "Log in with your current authenticator code to replace it.", 403)
        device = services.start_totp(user)
        context["qr"] = segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#111", light="#fff")
        context["secret"] = base64.b32encode(device.bin_key).decode().rstrip("=")
    elif request.method == "POST" and request.POST.get("step") == "confirm":
        device = services.confirm_totp(context_from(request), request.POST.get("otp_token", ""))
        if device is None:
            context["error"] = "That code is not right. Start again and use the newest code from the app."
        else:
            django_otp.login(request, device)
            context.update(has_device=True, enrolled=True)
    return no_store(render(request, "accounts/two_factor.html", context))
