"""Logins: lockout after repeated failures (each audited), TOTP second factor,
demo users for `make run`."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tests.conftest import (
    ACCOUNT_PASSWORD,
    concurrent_writers_need_postgresql,
    make_user,
    token_client,
    totp_code,
    twice_at_once,
    wrong_totp_code,
)


@pytest.mark.django_db
def test_logins_lock_after_five_failures_and_each_failure_is_audited(operator: Any) -> None:
    api = APIClient(REMOTE_ADDR="192.0.2.7")
    statuses = [
        api.post("/api/v1/tokens", {"username": "radiographer", "password": "guess"}).status_code for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 429]  # the fifth failure locks
    locked = api.post("/api/v1/tokens", {"username": "radiographer", "password": ACCOUNT_PASSWORD})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "locked_out"
    failures = AuditEvent.objects.filter(action="login").values_list("outcome", "reason", "username", "client_address")
    assert list(failures[:4]) == [("failure", "bad_credentials", "radiographer", "192.0.2.7")] * 4
    assert failures.last() == ("denied", "locked_out", "radiographer", "192.0.2.7")
    assert (
        APIClient(REMOTE_ADDR="192.0.2.8")
        .post("/api/v1/tokens", {"username": "radiographer", "password": ACCOUNT_PASSWORD})
        .status_code
        == 201
    )  # the lock is for this username at that address
    web = Client(REMOTE_ADDR="192.0.2.7")
    page = web.post("/accounts/login/", {"username": "radiographer", "password": ACCOUNT_PASSWORD})
    assert page.status_code == 429 and "_auth_user_id" not in web.session


def test_web_login_and_logout_are_audited(operator: Any) -> None:
    browser = Client()
    assert browser.post("/accounts/login/", {"username": "radiographer", "password": "nope"}).status_code == 200
    response = browser.post("/accounts/login/", {"username": "radiographer", "password": ACCOUNT_PASSWORD})
    assert response.status_code == 302
    browser.post("/accounts/logout/")
    assert list(AuditEvent.objects.values_list("action", "outcome")) == [
        ("login", "failure"),
        ("login", "success"),
        ("logout", "success"),
    ]


def _enrol(client: APIClient) -> TOTPDevice:
    started = client.post("/api/v1/otp/totp")
    assert started.status_code == 201 and started.json()["config_url"].startswith("otpauth://totp/")
    device = TOTPDevice.objects.get(confirmed=False)
    wrong = client.post("/api/v1/otp/totp/confirm", {"otp_token": wrong_totp_code(device)})
    assert wrong.status_code == 400
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    assert client.post("/api/v1/otp/totp/confirm", {"otp_token": totp_code(device)}).status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_once_enrolled_tokens_need_the_one_time_password(operator: Any) -> None:
    device = _enrol(token_client(operator))
    api = APIClient()
    credentials = {"username": "radiographer", "password": ACCOUNT_PASSWORD}
    missing = api.post("/api/v1/tokens", credentials)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "otp_required"
    device.refresh_from_db()
    made = api.post("/api/v1/tokens", {**credentials, "otp_token": totp_code(device)})
    assert made.status_code == 201 and made.json()["second_factor"] is True
    browser = Client()
    step = browser.post("/accounts/login/", {**credentials, "next": "/audit/"})
    assert step.status_code == 302 and step["Location"] == "/accounts/login/code/"
    assert "_auth_user_id" not in browser.session  # not logged in until the code
    page = browser.get("/accounts/login/code/").content.decode()
    assert "authenticator app" in page and ACCOUNT_PASSWORD not in page
    wrong = browser.post("/accounts/login/code/", {"otp_token": wrong_totp_code(device)})
    assert wrong.status_code == 200 and "not right" in wrong.content.decode()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    done = browser.post("/accounts/login/code/", {"otp_token": totp_code(device)})
    assert done.status_code == 302 and done["Location"] == "/audit/" and "_auth_user_id" in browser.session
    assert AuditEvent.objects.filter(action="login", reason="otp_invalid").count() == 1


def test_the_code_step_gives_up_after_five_wrong_codes_and_locks_the_login(operator: Any) -> None:
    device = _enrol(token_client(operator))
    wrong = wrong_totp_code(device)
    browser = Client()
    browser.post("/accounts/login/", {"username": "radiographer", "password": ACCOUNT_PASSWORD})
    answers = [browser.post("/accounts/login/code/", {"otp_token": wrong}).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]  # wrong codes count towards the lockout like wrong passwords
    assert browser.get("/accounts/login/code/")["Location"] == "/accounts/login/"  # start again from the password
    again = browser.post("/accounts/login/", {"username": "radiographer", "password": ACCOUNT_PASSWORD})
    assert again.status_code == 429


@override_settings(SECUREPIX_REQUIRE_2FA=True)
def test_auditors_must_use_a_second_factor_when_required(auditor: Any, operator: Any) -> None:
    client = token_client(auditor)
    refused = client.get("/api/v1/audit/events")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "second_factor_required"
    assert client.get("/api/v1/me").json()["second_factor"] == {"enrolled": False, "verified": False, "required": True}
    _enrol(client)
    assert client.get("/api/v1/audit/events").status_code == 200
    assert token_client(operator).get("/api/v1/history").status_code == 200  # operators are not forced


@pytest.mark.django_db
def test_demo_users_are_made_once_with_printed_passwords() -> None:
    out = io.StringIO()
    call_command("ensure_demo_users", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all("with password" in line for line in lines)
    password = lines[0].rsplit(" ", 1)[1]
    browser = Client()
    assert browser.post("/accounts/login/", {"username": "demo-operator", "password": password}).status_code == 302
    again = io.StringIO()
    call_command("ensure_demo_users", stdout=again)
    assert "with password" not in again.getvalue()
    assert make_user("late-joiner", None).groups.count() == 0


@pytest.mark.usefixtures("committed_audit")
def test_a_wrong_code_checked_while_another_request_confirms_the_device_leaves_it_confirmed() -> None:
    """A failed check saves the whole device: from a copy read before the other
    request committed, it would have made the device unconfirmed again, and the
    user would be left without a second factor while told it was set up."""
    import threading
    import time

    from django.db import connection, transaction

    from accounts import services
    from core.context import Context

    concurrent_writers_need_postgresql()
    operator = make_user("radiographer", "operator", password=None)
    device = services.do_start_totp(context=Context(actor=operator))
    holding, release = threading.Event(), threading.Event()

    def confirm_elsewhere() -> None:  # as a request with the right code, until it commits
        try:
            with transaction.atomic():
                TOTPDevice.objects.select_for_update().get(pk=device.pk)
                holding.set()
                release.wait(30)
                TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        finally:
            connection.close()

    answers: list[object] = []

    def wrong_code() -> None:
        try:
            wrong = wrong_totp_code(device)
            answers.append(services.do_confirm_totp(context=Context(actor=operator), code=wrong))
        finally:
            connection.close()

    other, checker = threading.Thread(target=confirm_elsewhere), threading.Thread(target=wrong_code)
    other.start()
    try:
        assert holding.wait(30)
        checker.start()
        deadline = time.monotonic() + 30
        with connection.cursor() as cursor:
            waiting = 0
            while not waiting and time.monotonic() < deadline:  # the check waits for the other request's lock
                cursor.execute(
                    "SELECT COUNT(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                waiting = cursor.fetchone()[0]
                time.sleep(0.05)
        assert waiting
    finally:
        release.set()
        other.join(30)
        checker.join(30)
    assert answers == [None]
    assert TOTPDevice.objects.get(pk=device.pk).confirmed


@pytest.mark.usefixtures("committed_audit")
@pytest.mark.parametrize("attempt", range(3))
def test_two_enrolments_started_at_once_leave_one_device_to_confirm(attempt: int) -> None:
    """As two tabs: otherwise each could delete before the other creates, and
    the code from the app set up last might be checked against the other one."""

    from accounts import services
    from core.context import Context

    concurrent_writers_need_postgresql()
    operator = make_user(f"radiographer-{attempt}", "operator", password=None)
    outcomes = twice_at_once(lambda: services.do_start_totp(context=Context(actor=operator)))
    assert [type(o) for o in outcomes] == [TOTPDevice, TOTPDevice]
    assert TOTPDevice.objects.filter(user=operator, confirmed=False).count() == 1
