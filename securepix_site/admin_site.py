"""The Django admin behind the same door as the pages: its login is the
platform's two-step login, and a session that has not used the second factor
it needs does not open it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from audit import log
from web.auth import needs_second_factor, otp_verified
from web.pages import problem, second_factor_step


class SecurePixAdminSite(admin.AdminSite):
    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        """The admin's front page, with the audit log's public key."""
        return super().index(request, {**(extra_context or {}), "audit_log_key": log.verifier_key()})

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return super().has_permission(request) and (not needs_second_factor(user) or otp_verified(user))

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.GET.get("next") or request.get_full_path())
        if needs_second_factor(request.user) and not otp_verified(request.user):
            return second_factor_step(request)
        return problem(request, "Forbidden", "Your account may not use the administration site.", 403)
