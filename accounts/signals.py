"""Logins, failed logins (each one) and logouts go to the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.models import Action, Outcome
from audit.services import record
from core.context import Context
from web.context import context_from

from .services import LOGIN_FAILURE_REASON


def _context(request: Any, user: Any = None) -> Context:
    return Context(actor=user) if request is None else context_from(request, actor=user)


@receiver(user_logged_in)
def logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record(Action.LOGIN, Outcome.SUCCESS, _context(request, user))


@receiver(user_logged_out)
def logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record(Action.LOGOUT, Outcome.SUCCESS, _context(request, user))


@receiver(user_login_failed)
def login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    locked = bool(getattr(request, "axes_locked_out", False))
    reason = "locked_out" if locked else str(credentials.get(LOGIN_FAILURE_REASON, "bad_credentials"))
    record(
        Action.LOGIN,
        Outcome.DENIED if locked else Outcome.FAILURE,
        _context(request),
        reason=reason,
        username=str(credentials.get("username", ""))[:150],
    )
