"""Pages and responses of the accounts app."""

from __future__ import annotations

import base64
from typing import Any, cast

import django_otp
import segno
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action, Outcome
from audit.services import context_from, record
from securepix_site.api_errors import json_error
from securepix_site.web import no_store, page, problem

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
    token, plain = ApiToken.issue(request.user, name, second_factor=verified)
    record(Action.TOKEN_CREATE, Outcome.SUCCESS, context_from(request), extra={"token": token.key_id})
    context = {"tokens": _tokens(request), "new_token": plain}
    return no_store(render(request, "accounts/_tokens.html", context))


@require_POST
@page()
def token_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    token = get_object_or_404(ApiToken, user=cast(Any, request.user), key_id=key_id)
    if token.revoked is None:
        token.revoked = timezone.now()
        token.save(update_fields=["revoked"])
        record(Action.TOKEN_REVOKE, Outcome.SUCCESS, context_from(request), extra={"token": token.key_id})
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
        TOTPDevice.objects.filter(user=cast(Any, user), confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
        context["qr"] = segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#111", light="#fff")
        context["secret"] = base64.b32encode(device.bin_key).decode().rstrip("=")
    elif request.method == "POST" and request.POST.get("step") == "confirm":
        device = TOTPDevice.objects.filter(user=cast(Any, user), confirmed=False).first()
        if device is None or not device.verify_token(request.POST.get("otp_token", "")):
            record(Action.OTP_ENROL, Outcome.FAILURE, context_from(request), reason="otp_invalid")
            context["error"] = "That code is not right. Start again and use the newest code from the app."
        else:
            TOTPDevice.objects.filter(user=cast(Any, user), confirmed=True).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            django_otp.login(request, device)
            record(Action.OTP_ENROL, Outcome.SUCCESS, context_from(request))
            context.update(has_device=True, enrolled=True)
    return no_store(render(request, "accounts/two_factor.html", context))
