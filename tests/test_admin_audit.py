"""The Django admin: audit evidence (events, acknowledgments) cannot be added,
changed or deleted there, and every change an administrator makes is itself
an audit event, with the administrator as actor and no password material."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.forms import BaseForm, MultiWidget
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import ApiToken
from audit import chain
from audit.models import AuditEvent
from audit.services import record
from classification.models import MismatchAcknowledgment
from core.context import Context
from tests.conftest import make_user

NEW_PASSWORD = "amber-falcon-cistern-83"


@pytest.fixture
def browser(admin: Any) -> Client:
    client = Client()
    client.force_login(admin)  # django-axes wants a request for login(); the session is what matters here
    return client


@pytest.fixture
def nobody(db: None) -> Any:
    return make_user("newcomer", None)


def _events_during(action: Any) -> list[AuditEvent]:
    """The audit events an action records."""
    before = AuditEvent.objects.count()
    action()
    return list(AuditEvent.objects.filter(sequence__gt=before).order_by("sequence"))


def _the_admin_change(events: list[AuditEvent], admin: Any) -> AuditEvent:
    """The one event recorded, an administrative change by `admin`, holding no password material."""
    assert [(event.action, event.outcome) for event in events] == [("admin_change", "success")]
    event = events[0]
    assert event.actor == admin and event.username == admin.username
    recorded = chain.canonical(event.content()).decode()
    for user in get_user_model().objects.all():
        assert user.password not in recorded
    for secret in (NEW_PASSWORD, "pbkdf2", "argon2", "sha256$"):
        assert secret not in recorded
    return event


def _form_data(form: BaseForm, **changes: Any) -> dict[str, Any]:
    """What a browser posts for an admin change form as displayed, with `changes` made."""
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        shown = form[name].value()
        _put(data, name, field, changes.get(name, shown))
        if field.show_hidden_initial:  # e.g. date_joined: the page holds what it showed, to tell changes
            _put(data, form[name].html_initial_name, field, shown)
    return data


def _put(data: dict[str, Any], name: str, field: Any, value: Any) -> None:
    if isinstance(field.widget, MultiWidget):  # date and time in two inputs
        for index, part in enumerate(field.widget.decompress(value)):
            data[f"{name}_{index}"] = "" if part is None else str(part)
    elif isinstance(value, bool):
        if value:
            data[name] = "on"
    elif isinstance(value, list | tuple):
        data[name] = [str(getattr(item, "pk", item)) for item in value]
    elif value is not None:
        data[name] = str(value)


def _change_user(browser: Client, user: Any, **changes: Any) -> Any:
    url = f"/admin/auth/user/{user.pk}/change/"
    form = browser.get(url).context["adminform"].form
    response = browser.post(url, _form_data(form, **changes))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    return response


# Evidence is read-only ----------------------------------------------------


@pytest.fixture
def acknowledgment(operator: Any) -> MismatchAcknowledgment:
    event = record("acknowledge", "success", Context(actor=operator), declared_domain="medical", mismatch=True)
    return MismatchAcknowledgment.objects.create(
        user=operator,
        declared_domain="medical",
        predicted_domain="legal",
        confidence=0.9,
        model_name="resnet50",
        reason="a scanned consent form in the patient's file",
        audit_event=event,
    )


def _cannot_delete(browser: Client, changelist: str, row: Any) -> None:
    """Neither the bulk action nor the delete page removes the row."""
    browser.post(changelist, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    assert type(row).objects.filter(pk=row.pk).exists(), "deleted by the delete_selected action"
    assert browser.post(f"{changelist}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert type(row).objects.filter(pk=row.pk).exists(), "deleted on its delete page"
    page = browser.get(changelist)
    assert page.status_code == 200 and b"delete_selected" not in page.content


def test_acknowledgments_cannot_be_added_changed_or_deleted_in_the_admin(
    browser: Client, acknowledgment: MismatchAcknowledgment
) -> None:
    changelist = "/admin/classification/mismatchacknowledgment/"
    _cannot_delete(browser, changelist, acknowledgment)
    assert browser.get(f"{changelist}{acknowledgment.pk}/change/").status_code == 200  # it can be read
    assert browser.get(f"{changelist}add/").status_code == 403
    assert browser.post(f"{changelist}{acknowledgment.pk}/change/", {"reason": "rewritten"}).status_code == 403
    stored = MismatchAcknowledgment.objects.get(pk=acknowledgment.pk)
    assert stored.reason == acknowledgment.reason and stored.audit_event_id == acknowledgment.audit_event_id


def test_audit_events_cannot_be_added_changed_or_deleted_in_the_admin(browser: Client, operator: Any) -> None:
    event = record("encrypt", "success", Context(actor=operator))
    changelist = "/admin/audit/auditevent/"
    _cannot_delete(browser, changelist, event)
    assert browser.get(f"{changelist}add/").status_code == 403
    assert browser.post(f"{changelist}{event.pk}/change/", {"outcome": "failure"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).outcome == "success"


# Every administrative change is an audit event -----------------------------


def test_creating_a_user_is_recorded(browser: Client, admin: Any) -> None:
    form = {"username": "locum", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    events = _events_during(lambda: browser.post("/admin/auth/user/add/", form))
    locum = get_user_model().objects.get(username="locum")
    event = _the_admin_change(events, admin)
    assert event.reason == "added"
    assert event.extra == {
        "model": "auth.user",
        "object": str(locum.pk),
        "name": "locum",
        "change": ["password", "username"],
        "values": {"is_active": True, "is_staff": False, "is_superuser": False, "groups": [], "user_permissions": []},
    }


def test_deactivating_a_user_is_recorded(browser: Client, admin: Any, operator: Any) -> None:
    events = _events_during(lambda: _change_user(browser, operator, is_active=False))
    assert not get_user_model().objects.get(pk=operator.pk).is_active
    event = _the_admin_change(events, admin)
    assert event.reason == "changed"
    assert event.extra == {
        "model": "auth.user",
        "object": str(operator.pk),
        "name": operator.username,
        "change": ["is_active"],
        "values": {"is_active": False},
    }


def test_adding_a_user_to_a_group_is_recorded(browser: Client, admin: Any, nobody: Any) -> None:
    operators = Group.objects.get(name="operator")
    events = _events_during(lambda: _change_user(browser, nobody, groups=[operators]))
    assert list(nobody.groups.all()) == [operators]
    event = _the_admin_change(events, admin)
    assert event.extra["change"] == ["groups"] and event.extra["values"] == {"groups": ["operator"]}


def test_granting_and_removing_superuser_status_is_recorded(browser: Client, admin: Any, nobody: Any) -> None:
    granted = _the_admin_change(
        _events_during(lambda: _change_user(browser, nobody, is_staff=True, is_superuser=True)), admin
    )
    assert granted.extra["change"] == ["is_staff", "is_superuser"]
    assert granted.extra["values"] == {"is_staff": True, "is_superuser": True}
    removed = _the_admin_change(_events_during(lambda: _change_user(browser, nobody, is_superuser=False)), admin)
    assert removed.extra["change"] == ["is_superuser"] and removed.extra["values"] == {"is_superuser": False}


def test_setting_a_password_in_the_admin_is_recorded_without_the_password(
    browser: Client, admin: Any, operator: Any
) -> None:
    url = f"/admin/auth/user/{operator.pk}/password/"
    form = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    events = _events_during(lambda: browser.post(url, form))
    assert get_user_model().objects.get(pk=operator.pk).check_password(NEW_PASSWORD)
    event = _the_admin_change(events, admin)  # and neither the password nor its hash in it
    assert event.reason == "changed"
    assert event.extra == {
        "model": "auth.user",
        "object": str(operator.pk),
        "name": operator.username,
        "change": ["password"],
        "values": {},
    }


def test_creating_a_group_is_recorded(browser: Client, admin: Any) -> None:
    permission = Permission.objects.get(codename="view_all_events")
    form = {"name": "night-shift", "permissions": [permission.pk]}
    events = _events_during(lambda: browser.post("/admin/auth/group/add/", form))
    event = _the_admin_change(events, admin)
    assert (event.reason, event.extra["model"], event.extra["name"]) == ("added", "auth.group", "night-shift")
    assert event.extra["values"] == {"name": "night-shift", "permissions": [str(permission)]}


def test_lifting_a_lockout_is_recorded(browser: Client, admin: Any) -> None:
    attempt = AccessAttempt.objects.create(
        username="radiographer", ip_address="10.0.0.9", user_agent="curl/8", http_accept="*/*", path_info="/login",
        get_data="", post_data="", failures_since_start=5,
    )  # fmt: skip
    url = f"/admin/axes/accessattempt/{attempt.pk}/delete/"
    events = _events_during(lambda: browser.post(url, {"post": "yes"}))
    assert not AccessAttempt.objects.exists()
    event = _the_admin_change(events, admin)
    assert (event.reason, event.extra["model"], event.extra["object"]) == (
        "deleted",
        "axes.accessattempt",
        str(attempt.pk),
    )


@pytest.fixture
def devices(operator: Any) -> list[TOTPDevice]:
    return [TOTPDevice.objects.create(user=operator, name=name, confirmed=True) for name in ("phone", "spare")]


def test_removing_an_authenticator_device_is_recorded(
    browser: Client, admin: Any, operator: Any, devices: list[TOTPDevice]
) -> None:
    phone = devices[0]
    url = f"/admin/otp_totp/totpdevice/{phone.pk}/delete/"
    events = _events_during(lambda: browser.post(url, {"post": "yes"}))
    assert not TOTPDevice.objects.filter(pk=phone.pk).exists()
    event = _the_admin_change(events, admin)
    assert event.reason == "deleted"
    assert event.extra == {"model": "otp_totp.totpdevice", "object": str(phone.pk), "name": "phone (radiographer)"}
    assert phone.key not in chain.canonical(event.content()).decode()


def test_removing_devices_in_bulk_records_each(browser: Client, admin: Any, devices: list[TOTPDevice]) -> None:
    form = {"action": "delete_selected", "_selected_action": [device.pk for device in devices], "post": "yes"}
    events = _events_during(lambda: browser.post("/admin/otp_totp/totpdevice/", form))
    assert not TOTPDevice.objects.exists()
    assert len(events) == len(devices)
    assert {(event.action, event.reason, event.extra["object"]) for event in events} == {
        ("admin_change", "deleted", str(device.pk)) for device in devices
    }
    assert {event.actor for event in events} == {admin}


def test_revoking_a_token_in_the_admin_is_recorded_once(browser: Client, admin: Any, operator: Any) -> None:
    token, _ = services.do_issue_token(context=Context(actor=operator), name="laptop")
    form = {"action": "revoke", "_selected_action": [token.pk]}
    events = _events_during(lambda: browser.post("/admin/accounts/apitoken/", form))
    assert ApiToken.objects.get(pk=token.pk).revoked is not None
    assert [(event.action, event.actor, event.extra) for event in events] == [
        ("token_revoke", admin, {"token": token.key_id, "owner": operator.username})
    ]
