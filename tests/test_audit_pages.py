"""What an auditor sees: the audit page's table, an event's detail, the
filters (kept in the address) and the exports."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.offline import LEAF_FIELDS
from audit.services import record
from core.context import Context
from tests.conftest import make_user
from tests.test_api import ct, encrypt

pytestmark = pytest.mark.django_db

REASON = "consented teaching file"


def auditor_client(auditor: Any) -> Client:
    client = Client()
    client.force_login(auditor)
    return client


def table(client: Client, query: str = "") -> str:
    response = client.get(f"/audit/events{query}", HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content
    return str(response.content.decode())


def detail(client: Client, sequence: int | None) -> str:
    response = client.get(f"/audit/events/{sequence}", HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content
    return str(response.content.decode())


@pytest.fixture
def acknowledged(operator_api: APIClient) -> tuple[AuditEvent, AuditEvent]:
    """A CT scan encrypted as Personal Privacy after an acknowledgment: its
    encryption and acknowledgment events (the real service, the real classifier)."""
    response = encrypt(operator_api, ct(), "personal", acknowledge="true", acknowledgment_reason=REASON)
    assert response.status_code == 200, response.content
    return AuditEvent.objects.get(action="encrypt"), AuditEvent.objects.get(action="acknowledge")


def test_the_reason_given_is_in_the_table_the_detail_and_the_csv(
    auditor: Any, acknowledged: tuple[AuditEvent, AuditEvent], auditor_api: APIClient
) -> None:
    encryption, acknowledgment = acknowledged
    assert encryption.request_id and encryption.request_id == acknowledgment.request_id
    client = auditor_client(auditor)

    rows = table(client, "?action=acknowledge")
    assert f"<q>{REASON}</q>" in rows and "Acknowledge mismatch" in rows and "acknowledge<" not in rows
    encryptions = table(client, "?action=encrypt")
    assert f"<q>{REASON}</q>" in encryptions and f"acknowledgment #{acknowledgment.sequence}" in encryptions

    text = detail(client, acknowledgment.sequence)
    assert f'<q data-testid="reason-given">{REASON}</q>' in text and "<dt>Reason given</dt>" in text

    export = auditor_api.get("/api/v1/audit/export", {"format": "csv", "action": "acknowledge"})
    (row,) = csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode()))
    assert row["acknowledgment_reason"] == REASON and row["sequence"] == str(acknowledgment.sequence)


def test_a_reason_that_looks_like_a_formula_is_defused_in_the_csv(auditor: Any, auditor_api: APIClient) -> None:
    record("acknowledge", "success", Context(actor=auditor), extra={"acknowledgment": 1, "reason": "=HYPERLINK(1)"})
    export = auditor_api.get("/api/v1/audit/export", {"format": "csv", "action": "acknowledge"})
    (row,) = csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode()))
    assert row["acknowledgment_reason"] == "'=HYPERLINK(1)"


def test_json_lines_rows_keep_exactly_the_leaf_keys(
    acknowledged: tuple[AuditEvent, AuditEvent], auditor_api: APIClient
) -> None:
    export = auditor_api.get("/api/v1/audit/export", {"format": "jsonl"})
    rows = [json.loads(line) for line in b"".join(export.streaming_content).decode().splitlines()]
    assert all(set(row) == {*LEAF_FIELDS, "previous_mac", "mac"} for row in rows)
    (row,) = [row for row in rows if row["action"] == "acknowledge"]
    assert row["extra"]["reason"] == REASON and row["decision"] == "acknowledged"


def test_auditors_filter_on_the_policy_decision_not_on_a_bare_mismatch(auditor: Any, auditor_api: APIClient) -> None:
    operator = make_user("radiographer", "operator")
    as_operator = Context(actor=operator)
    unsure = {"declared_domain": "none", "predicted_domain": "personal", "confidence": 0.4, "mismatch": True}
    record("encrypt", "success", as_operator, decision="allow", **unsure)  # a mismatch the policy allowed
    record("encrypt", "denied", as_operator, reason="blocked_by_policy", decision="blocked", mismatch=True)
    record("encrypt", "success", as_operator, decision="allow", declared_domain="medical")
    client = auditor_client(auditor)

    blocked = table(client, "?decision=blocked")
    assert 'data-testid="event-count">1<' in blocked and "Blocked" in blocked and "blocked by policy<" in blocked
    assert 'data-testid="event-count">2<' in table(client, "?decision=allow")
    assert auditor_api.get("/api/v1/audit/events", {"decision": "blocked"}).json()["count"] == 1
    assert auditor_api.get("/api/v1/audit/events", {"decision": "maybe"}).status_code == 400
    assert auditor_api.get("/api/v1/audit/events", {"mismatch": "true"}).json()["count"] == 2  # still answered

    page = client.get("/audit/").content.decode()
    assert 'name="decision"' in page and 'name="mismatch"' not in page  # the form offers the decision only
    old_link = client.get("/audit/?mismatch=true&action=encrypt").content.decode()
    assert 'data-testid="event-count">2<' in old_link and 'data-testid="mismatch-filter"' in old_link
    assert 'href="/audit/?action=encrypt">Remove this filter' in old_link


def test_the_user_filter_matches_part_of_a_name_in_any_case(auditor: Any, auditor_api: APIClient) -> None:
    for name in ("radiographer", "Radiology-lead", "compliance-2"):
        record("login", "success", Context(actor=make_user(name, "operator")))
    client = auditor_client(auditor)
    assert 'data-testid="event-count">2<' in table(client, "?user=RADIO")
    assert auditor_api.get("/api/v1/audit/events", {"user": "radio"}).json()["count"] == 2
    assert auditor_api.get("/api/v1/audit/events", {"user": "radiographer"}).json()["count"] == 1


def test_the_detail_is_in_words_and_links_the_related_events(
    auditor: Any, acknowledged: tuple[AuditEvent, AuditEvent]
) -> None:
    encryption, acknowledgment = acknowledged
    client = auditor_client(auditor)
    text = detail(client, acknowledgment.sequence)
    assert "{" not in text and "'acknowledgment'" not in text  # no Python dict
    assert f"Event #{acknowledgment.sequence}, Merkle leaf {acknowledgment.sequence - 1}" in text
    assert "<dt>Acknowledgment record</dt><dd>#" in text and "Allowed after an acknowledgment" in text
    assert "Personal Privacy" in text and "Medical" in text
    link = f'hx-get="/audit/events/{encryption.sequence}" hx-target="#event-dialog-body"'
    assert link in text and "<dt>Encryption</dt>" in text and f"Event #{encryption.sequence}</a> (same request)" in text
    back = detail(client, encryption.sequence)
    assert "<dt>Acknowledgment</dt>" in back and f"Event #{acknowledgment.sequence}</a>" in back
    assert "<dt>Cipher</dt>" in back

    shared = client.get(f"/audit/events/{encryption.sequence}").content.decode()  # opened from a link: a page
    assert "<!doctype html>" in shared and "The audit trail" in shared and "hx-target" not in shared.split("<main")[1]


def test_an_export_event_reads_as_words(auditor: Any, auditor_api: APIClient) -> None:
    auditor_api.get("/api/v1/audit/export", {"format": "jsonl", "outcome": "denied"})
    export = AuditEvent.objects.get(action="export")
    text = detail(auditor_client(auditor), export.sequence)
    assert "<dt>Export format</dt>" in text and "JSON Lines" in text and "outcome: denied" in text
    assert "Export audit events" in text and "export<" not in text


def test_the_filters_are_kept_in_the_address(auditor: Any) -> None:
    record("login", "failure", Context(actor=auditor), reason="bad_credentials")
    client = auditor_client(auditor)
    response = client.get("/audit/events?user=comp&outcome=failure&decision=&page=1", HTTP_HX_REQUEST="true")
    assert response["HX-Push-Url"] == "/audit/?user=comp&outcome=failure"

    page = client.get("/audit/?user=comp&outcome=failure&decision=blocked&since=2026-01-01").content.decode()
    assert 'name="user" maxlength="150" value="comp"' in page
    assert '<option value="failure" selected>Failure</option>' in page
    assert '<option value="blocked" selected>Blocked</option>' in page and 'value="2026-01-01"' in page
    assert 'data-testid="event-count">0<' in page  # the filter applies, not only shows

    bad = client.get("/audit/?since=yesterday").content.decode()
    assert 'data-testid="filter-problem"' in bad and "since:" in bad


def test_the_table_shows_labels_local_times_sequence_leaf_and_pending(auditor: Any) -> None:
    record("otp_enrol", "success", Context(actor=auditor))
    client = auditor_client(auditor)  # its login is an event too
    AuditEvent.objects.create(created=timezone.now(), action="logout", outcome="success", username="compliance")
    text = table(client)
    assert "Enrol two-factor device" in text and "otp_enrol" not in text
    first = AuditEvent.objects.get(action="otp_enrol")
    assert f'{first.sequence}<span class="sub">leaf {first.sequence - 1}</span>' in text  # type: ignore[operator]
    assert "data-local-time" in text and first.created.isoformat() in text and "UTC</time>" in text
    assert text.index(">pending<") < text.index("Enrol two-factor device")  # waiting: the newest


def test_an_older_acknowledgment_links_its_encryption_by_number(auditor: Any) -> None:
    encryption = record("encrypt", "success", Context(actor=auditor), extra={"cipher": "aes-gcm"})
    older = record("acknowledge", "success", Context(actor=auditor), extra={"acknowledgment": 6, "encryption_event": 1})
    text = detail(auditor_client(auditor), older.sequence)
    assert f'<dt>Encryption</dt><dd><a href="/audit/events/{encryption.sequence}"' in text and "Event #1</a>" in text
    assert "<dt>Acknowledgment record</dt><dd>#6</dd>" in text
