"""Who may do what: roles from groups, the second factor, and the checks the
pages (`page`) and the API (`requires`) make before a view runs.  Deny by
default: each API view names the permission it needs."""

from __future__ import annotations

from typing import Any

import django_otp
from django.conf import settings
from rest_framework import permissions
from rest_framework.request import Request

from core.errors import ErrorCode
from core.permissions import ADMIN, AUDITOR, GROUP_PERMISSIONS


def roles_of(user: Any) -> list[str]:
    if user is None or not user.is_authenticated:
        return []
    roles = sorted(set(user.groups.values_list("name", flat=True)) & set(GROUP_PERMISSIONS))
    if user.is_superuser and user.is_staff:
        roles.append(ADMIN)
    return roles


def has_device(user: Any) -> bool:
    """Whether the user has a confirmed authenticator device."""
    return bool(user is not None and user.is_authenticated and django_otp.user_has_device(user, confirmed=True))


def needs_second_factor(user: Any) -> bool:
    """Whether this user must use a second factor: anyone with a confirmed
    device, on every way in; and auditors and administrators with
    SECUREPIX_REQUIRE_2FA (who may only enrol until they have one)."""
    if settings.SECUREPIX_REQUIRE_2FA and set(roles_of(user)) & {AUDITOR, ADMIN}:
        return True
    return has_device(user)


def otp_verified(user: Any) -> bool:
    """Whether this session was verified with a one-time password (django-otp's middleware tells)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def second_factor_done(request: Request) -> bool:
    """A session verified by django-otp, or an API token made or confirmed with a one-time password."""
    token_flag = getattr(request.auth, "second_factor", None)
    if token_flag is not None:
        return bool(token_flag)
    return otp_verified(request.user)


class DenyAll(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return False


class Authenticated(permissions.BasePermission):
    """Logged in, and past the second factor where SECUREPIX_REQUIRE_2FA asks for one."""

    message = "two-factor authentication is required for this account: enrol a TOTP device and use it"
    code = ErrorCode.SECOND_FACTOR_REQUIRED.code

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
                self.code = ErrorCode.FORBIDDEN.code
                return False
            return True

    Requires.__name__ = f"Requires({', '.join(perms)})"
    return Requires
