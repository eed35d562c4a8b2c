"""API tokens, stored hashed with an expiry (never the token itself)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

PREFIX = "spx"


def token_hash(secret: str) -> str:
    # Tokens are 256-bit random, so one SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_id = models.CharField(max_length=16, unique=True)  # public part, shown in lists
    secret_hash = models.CharField(max_length=64)
    name = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)
    second_factor = models.BooleanField(default=False)  # created or confirmed with a one-time password

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{PREFIX}_{self.key_id} ({self.user})"

    @classmethod
    def issue(
        cls, user: object, name: str = "", days: int | None = None, second_factor: bool = False
    ) -> tuple[ApiToken, str]:
        """A new token and its plain text, which is shown once and never stored."""
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            key_id=key_id,
            secret_hash=token_hash(secret),
            name=name,
            # SECUREPIX_TOKEN_DAYS is a ceiling, not a default
            expires=timezone.now()
            + timedelta(days=min(days or settings.SECUREPIX_TOKEN_DAYS, settings.SECUREPIX_TOKEN_DAYS)),
            second_factor=second_factor,
        )
        return token, f"{PREFIX}_{key_id}_{secret}"

    @property
    def active(self) -> bool:
        return self.revoked is None and self.expires > timezone.now()
