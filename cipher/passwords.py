"""The policy for passwords that protect files: Argon2id slows guessing, it
does not make "a" strong.  Django's own password validators, configured by
SECUREPIX_FILE_PASSWORD_VALIDATORS; the pages, the API and the command line
apply the same ones."""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.views.decorators.debug import sensitive_variables

from core.errors import ErrorCode, SecurePixError


@functools.cache
def _validators() -> list[Any]:
    """The validators, made once per process: the common-password list alone
    takes milliseconds to read and unpack, which every encryption paid."""
    return password_validation.get_password_validators(settings.SECUREPIX_FILE_PASSWORD_VALIDATORS)


@receiver(setting_changed)
def _forget_validators(*, setting: str, **kwargs: Any) -> None:
    if setting == "SECUREPIX_FILE_PASSWORD_VALIDATORS":
        _validators.cache_clear()


@sensitive_variables("password")
def password_problems(password: str) -> list[str]:
    """What makes `password` too weak to protect a file (nothing: it will do)."""
    try:
        password_validation.validate_password(password, password_validators=_validators())
    except ValidationError as error:
        return [str(message) for message in error.messages]
    return []


@sensitive_variables("password")
def check_file_password(password: str) -> None:
    problems = password_problems(password)
    if problems:
        raise SecurePixError(
            "the password is too weak to protect a file: " + " ".join(problems),
            code=ErrorCode.WEAK_PASSWORD,
            details={"reasons": problems},
        )
