"""`Authorization: Bearer spx_<id>_<secret>` for the API."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.errors import ErrorCode

from .models import PREFIX, ApiToken, token_hash

LAST_USED_RESOLUTION = timedelta(minutes=5)  # a token's last use is recorded to within this


def _refused(message: str, code: ErrorCode) -> exceptions.AuthenticationFailed:
    """DRF's 401 (with its WWW-Authenticate header), carrying our code."""
    return exceptions.AuthenticationFailed(message, code=code.code)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        parts = value.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            raise _refused("malformed API token", ErrorCode.BAD_TOKEN)
        token = ApiToken.objects.select_related("user").filter(key_id=parts[1]).first()
        if token is None or not hmac.compare_digest(token.secret_hash, token_hash(parts[2])):
            raise _refused("unknown API token", ErrorCode.BAD_TOKEN)
        if token.revoked is not None:
            raise _refused("this API token was revoked", ErrorCode.TOKEN_REVOKED)
        if token.expires <= timezone.now():
            raise _refused("this API token has expired", ErrorCode.TOKEN_EXPIRED)
        if not token.user.is_active:
            raise _refused("this account is disabled", ErrorCode.ACCOUNT_DISABLED)
        now = timezone.now()
        if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION:
            # Not a write per request: reads stay reads (and can go to a replica).
            ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword  # makes DRF answer 401, not 403, when credentials are missing
