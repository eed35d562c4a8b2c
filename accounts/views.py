"""Pages and responses of the accounts app."""

from __future__ import annotations

import base64
import time
from typing import Any, cast

import django_otp
import segno
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ErrorCode
from web.auth import otp_verified
from web.context import context_from
from web.errors import json_error
from web.pages import no_store, page, problem

from . import services
from .forms import OneTimePasswordForm
from .models import ApiToken


def locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """What django-axes answers once a username is locked out at an address: 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = f"too many failed logins: try again in {minutes} minutes"
    if request.path.startswith("/api/"):
        return json_error(ErrorCode.LOCKED_OUT, message)
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
    _, plain = services.do_issue_token(
        context=context_from(request), name=name, second_factor=otp_verified(request.user)
    )
    context = {"tokens": _tokens(request), "new_token": plain}
    return no_store(render(request, "accounts/_tokens.html", context))


@require_POST
@page()
def token_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    token = get_object_or_404(ApiToken, user=cast(Any, request.user), key_id=key_id)
    services.do_revoke_token(context=context_from(request), token=token)
    return render(request, "accounts/_tokens.html", {"tokens": _tokens(request)})


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("otp_token")
@page(second_factor=False)
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up a TOTP authenticator app: a QR code, then a code from the app to confirm."""
    user = request.user
    has_device = django_otp.user_has_device(user)
    context: dict[str, Any] = {"has_device": has_device}
    if request.method == "POST" and request.POST.get("step") == "start":
        if has_device and not otp_verified(user):
            return problem(request, "Not now", "Log in with your current authenticator code to replace it.", 403)
        device = services.do_start_totp(context=context_from(request))
        context["qr"] = segno.make(device.config_url, error="m").svg_inline(
            scale=4, dark="#111", light="#fff", omitsize=True
        )
        context["secret"] = base64.b32encode(device.bin_key).decode().rstrip("=")
    elif request.method == "POST" and request.POST.get("step") == "confirm":
        device = services.do_confirm_totp(context=context_from(request), code=request.POST.get("otp_token", ""))
        if device is None:
            context["error"] = "That code is not right. Start again and use the newest code from the app."
        else:
            django_otp.login(request, device)
            context.update(has_device=True, enrolled=True)
    return no_store(render(request, "accounts/two_factor.html", context))


# Logging in: the password first, then (for users with an authenticator app)
# the one-time password, as a second step that never carries the password.
PENDING = "securepix_login_pending"
PENDING_SECONDS = 300
OTP_ATTEMPTS = 5


class PasswordChangeView(auth_views.PasswordChangeView):
    """One's own password: only from a session past its second factor, and recorded."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.do_record_password_change(context=context_from(self.request))
        return response


password_change = sensitive_post_parameters()(page()(cast(Any, PasswordChangeView.as_view())))


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if django_otp.user_has_device(user):
            self.request.session[PENDING] = {
                "user": user.pk,
                "until": time.time() + PENDING_SECONDS,
                "next": self.get_success_url(),
                "tries": 0,
            }
            return redirect("login-otp")
        return super().form_valid(form)


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("otp_token")
def login_otp(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING)
    if not pending or pending["until"] < time.time():
        request.session.pop(PENDING, None)
        return redirect("login")
    user = get_user_model().objects.get(pk=pending["user"])
    form = OneTimePasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = django_otp.match_token(user, form.cleaned_data["otp_token"])
        if device is not None:
            request.session.pop(PENDING)
            user.otp_device = device  # type: ignore[attr-defined]  # django-otp marks the session verified
            auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(pending["next"])
        pending["tries"] += 1
        services.do_reject_login(request=request, username=user.get_username(), reason="otp_invalid")
        if pending["tries"] >= OTP_ATTEMPTS:
            request.session.pop(PENDING)
            return redirect("login")
        request.session[PENDING] = pending
        form.add_error("otp_token", "That code is not right; use the newest one from the app.")
    return render(request, "registration/login_otp.html", {"form": form})
