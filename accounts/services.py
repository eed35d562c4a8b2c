"""Account operations for the pages and the API, each recorded in the audit
trail: API tokens (issue, revoke) and TOTP enrolment (start, confirm)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action, Outcome
from audit.services import Context, record

from .models import ApiToken


def issue_token(
    context: Context, name: str = "", days: int | None = None, second_factor: bool = False
) -> tuple[ApiToken, str]:
    """A new token for the context's user and its plain text (shown once, never stored)."""
    token, plain = ApiToken.issue(context.actor, name, days, second_factor=second_factor)
    record(Action.TOKEN_CREATE, Outcome.SUCCESS, context, extra={"token": token.key_id})
    return token, plain


def revoke_token(context: Context, token: ApiToken) -> None:
    if token.revoked is None:
        token.revoked = timezone.now()
        token.save(update_fields=["revoked"])
        record(Action.TOKEN_REVOKE, Outcome.SUCCESS, context, extra={"token": token.key_id})


def start_totp(user: Any) -> TOTPDevice:
    """A new, unconfirmed authenticator device (any earlier unconfirmed one is dropped)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def confirm_totp(context: Context, code: str) -> TOTPDevice | None:
    """Confirm the unconfirmed device with a code from it: it replaces any
    earlier device.  None (recorded as a failure) when the code is wrong."""
    user = context.actor
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None or not device.verify_token(code):
        record(Action.OTP_ENROL, Outcome.FAILURE, context, reason="otp_invalid")
        return None
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    record(Action.OTP_ENROL, Outcome.SUCCESS, context)
    return device
