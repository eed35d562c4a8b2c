"""System checks of the audit settings (`manage.py check`, and every server start)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

MIN_AUDIT_KEY_CHARACTERS = 32


@register()
def check_audit_key(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    if len(str(settings.SECUREPIX_AUDIT_KEY)) < MIN_AUDIT_KEY_CHARACTERS:
        problems.append(
            Error(
                f"SECUREPIX_AUDIT_KEY must be at least {MIN_AUDIT_KEY_CHARACTERS} characters",
                hint="use 64 hex digits, e.g. the output of: python -c 'import secrets; print(secrets.token_hex(32))'",
                id="securepix.E001",
            )
        )
    for name in settings.SECUREPIX_EPHEMERAL_SECRETS:
        problems.append(
            Warning(
                f"no {name} is configured: this process made one up, which no other process shares",
                hint="set SECUREPIX_SECRET_KEY and SECUREPIX_AUDIT_KEY, or run scripts/local-secrets (make run does)",
                id="securepix.W001",
            )
        )
    return problems
