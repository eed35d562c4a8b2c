"""Deny by default: each API view names the permission it needs."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from .models import ApiToken
from .roles import needs_second_factor, otp_verified


class DenyAll(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return False


def second_factor_done(request: Request) -> bool:
    """A session verified by django-otp, or a token made or confirmed with a one-time password."""
    if isinstance(request.auth, ApiToken):
        return request.auth.second_factor
    return otp_verified(request.user)


class Authenticated(permissions.BasePermission):
    """Logged in, and past the second factor where SECUREPIX_REQUIRE_2FA asks for one."""

    message = "two-factor authentication is required for this account: enrol a TOTP device and use it"
    code = "second_factor_required"

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if needs_second_factor(request.user) and not getattr(view, "allow_without_second_factor", False):
            return second_factor_done(request)
        return True


def requires(*perms: str) -> type[permissions.BasePermission]:
    """A permission class: authenticated (see above) and holding all of `perms`."""

    class Requires(Authenticated):
        def has_permission(self, request: Request, view: Any) -> bool:
            if not super().has_permission(request, view):
                return False
            if not request.user.has_perms(perms):
                self.message = "your role does not allow this"
                self.code = "forbidden"
                return False
            return True

    Requires.__name__ = f"Requires({', '.join(perms)})"
    return Requires
