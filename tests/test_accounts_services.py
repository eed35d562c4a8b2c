"""accounts.services, called directly, and the admin's use of them: every
change of a token or a device is recorded."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import ApiToken
from audit.models import AuditEvent
from core.context import Context


def test_confirming_a_device_with_a_token_marks_that_token_as_second_factor(operator: Any) -> None:
    context = Context(actor=operator)
    token, _ = services.do_issue_token(context=context, name="script")
    device = services.do_start_totp(context=context)
    code = totp(device.bin_key)
    wrong = str((code + 1) % 1_000_000).zfill(6)
    assert services.do_confirm_totp(context=context, code=wrong, token=token) is None
    assert not ApiToken.objects.get(pk=token.pk).second_factor
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)  # django-otp slows retries down
    confirmed = services.do_confirm_totp(context=context, code=str(code).zfill(6), token=token)
    assert confirmed is not None and TOTPDevice.objects.get(user=operator).confirmed
    assert ApiToken.objects.get(pk=token.pk).second_factor
    actions = list(AuditEvent.objects.order_by("sequence").values_list("action", "outcome"))
    assert actions == [("token_create", "success"), ("otp_enrol", "failure"), ("otp_enrol", "success")]


def test_the_admin_revokes_tokens_through_the_audited_service(admin: Any, operator: Any) -> None:
    token, _ = services.do_issue_token(context=Context(actor=operator), name="laptop")
    browser = Client()
    browser.force_login(admin)
    response = browser.post(
        "/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    assert response.status_code == 200
    assert ApiToken.objects.get(pk=token.pk).revoked is not None
    revocation = AuditEvent.objects.get(action="token_revoke")
    assert revocation.username == admin.username
    assert revocation.extra == {"token": token.key_id, "owner": operator.username}


def test_two_revocations_of_one_token_at_once_record_one(admin: Any, operator: Any) -> None:
    """As the owner's page and an administrator, each with a copy read before either revoked it."""
    token, _ = services.do_issue_token(context=Context(actor=operator), name="laptop")
    page_copy, admin_copy = ApiToken.objects.get(pk=token.pk), ApiToken.objects.get(pk=token.pk)
    services.do_revoke_token(context=Context(actor=operator), token=page_copy)
    revoked = ApiToken.objects.get(pk=token.pk).revoked
    services.do_revoke_token(context=Context(actor=admin), token=admin_copy)
    assert ApiToken.objects.get(pk=token.pk).revoked == revoked
    assert AuditEvent.objects.filter(action="token_revoke").count() == 1


def test_a_token_in_use_is_not_written_on_every_request(operator: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    _, plain = services.do_issue_token(context=Context(actor=operator), name="script")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert api.get("/api/v1/history").status_code == 200  # the first use is recorded
    first = ApiToken.objects.get(name="script").last_used
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/v1/history").status_code == 200
    assert not any(q["sql"].lstrip().upper().startswith("UPDATE") for q in queries.captured_queries)
    assert ApiToken.objects.get(name="script").last_used == first
