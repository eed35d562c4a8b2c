"""Account operations for the pages, the API and the admin, each recorded in
the audit trail: API tokens (issue, revoke), TOTP enrolment (start, confirm)
and one-time passwords that fail at login."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action, Outcome
from audit.services import record
from core.context import Context

from .models import ApiToken

LOGIN_FAILURE_REASON = "securepix_reason"  # in a failed login's credentials: why, when not the password


def lock_user(user: Any) -> None:
    """Hold the user's row until the transaction ends: a per-user rule (how
    many jobs run, one export, one enrolment) checked under it holds between
    requests and server processes, which a read before the write would not."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()


def do_issue_token(
    *, context: Context, name: str = "", days: int | None = None, second_factor: bool = False
) -> tuple[ApiToken, str]:
    """A new token for the context's user and its plain text (shown once, never stored)."""
    with transaction.atomic():
        token, plain = ApiToken.issue(context.actor, name, days, second_factor=second_factor)
        record(Action.TOKEN_CREATE, Outcome.SUCCESS, context, extra={"token": token.key_id}, commits_soon=True)
    return token, plain


def do_revoke_token(*, context: Context, token: ApiToken) -> None:
    """Revoke a token (its owner's request, or an administrator's in the admin)."""
    with transaction.atomic():
        # Conditional: of two revocations at once (the page and the admin), one is recorded.
        now = timezone.now()
        if ApiToken.objects.filter(pk=token.pk, revoked__isnull=True).update(revoked=now):
            token.revoked = now
            extra = {"token": token.key_id}
            if context.actor is not None and context.actor.pk != token.user_id:
                extra["owner"] = token.user.get_username()
            record(Action.TOKEN_REVOKE, Outcome.SUCCESS, context, extra=extra, commits_soon=True)


def do_start_totp(*, context: Context) -> TOTPDevice:
    """A new, unconfirmed authenticator device (any earlier unconfirmed one is
    dropped); it counts once confirmed (do_confirm_totp), which is recorded."""
    user = context.actor
    with transaction.atomic():
        lock_user(user)  # of two enrolments started at once, the later replaces the earlier
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def do_confirm_totp(*, context: Context, code: str, token: ApiToken | None = None) -> TOTPDevice | None:
    """Confirm the unconfirmed device with a code from it: it replaces any
    earlier device, and `token` (the API token the request came with) counts
    as made with a second factor from now on.  None (recorded as a failure)
    when the code is wrong."""
    user = context.actor
    with transaction.atomic():
        # Locked: a check that fails saves the whole device, and from a copy read
        # before another request confirmed it, would make it unconfirmed again.
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None or not device.verify_token(code):
            record(Action.OTP_ENROL, Outcome.FAILURE, context, reason="otp_invalid", commits_soon=True)
            return None
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        if token is not None:
            ApiToken.objects.filter(pk=token.pk).update(second_factor=True)
        record(Action.OTP_ENROL, Outcome.SUCCESS, context, commits_soon=True)
    return device


def do_record_password_change(*, context: Context) -> None:
    """A user changed their own password (the page; never the password in the event)."""
    record(Action.PASSWORD_CHANGE, Outcome.SUCCESS, context)


def do_reject_login(*, request: HttpRequest, username: str, reason: str) -> None:
    """A login that failed at its second step (a right password, a missing or
    wrong one-time password): recorded (accounts/signals.py) and counted
    towards the lockout (django-axes), like a wrong password."""
    user_login_failed.send(
        sender=__name__, credentials={"username": username, LOGIN_FAILURE_REASON: reason}, request=request
    )
