"""The audit chain: append-only in the database, and every alteration,
deletion, insertion or reordering named by verify_audit."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit import chain, triggers
from audit.models import AuditEvent, ChainHead
from audit.services import check_chain, record
from core.context import Context

KEY = b"k" * 32


def _links(n: int) -> list[chain.Link]:
    links, previous = [], chain.GENESIS
    for i in range(1, n + 1):
        content = {"sequence": i, "action": "encrypt"}
        mac = chain.mac(KEY, previous, content)
        links.append(chain.Link(i, previous, mac, content))
        previous = mac
    return links


def _head(links: list[chain.Link]) -> tuple[int, str, str]:
    return len(links), links[-1].mac, chain.head_mac(KEY, len(links), links[-1].mac)


def test_an_intact_chain_verifies() -> None:
    links = _links(5)
    assert chain.verify(KEY, links, _head(links)) is None
    assert chain.verify(KEY, [], None) is None


def test_the_canonical_encoding_ignores_key_order() -> None:
    assert chain.canonical({"b": 1, "a": "é"}) == chain.canonical({"a": "é", "b": 1}) == '{"a":"é","b":1}'.encode()


@pytest.mark.parametrize("index", [0, 2, 4])
def test_each_kind_of_tampering_is_named(index: int) -> None:
    links = _links(5)
    head = _head(links)
    altered = list(links)
    altered[index] = chain.Link(links[index].sequence, links[index].previous, links[index].mac, {"action": "decrypt"})
    problem = chain.verify(KEY, altered, head)
    assert problem is not None and (problem.kind, problem.sequence) == ("altered", index + 1)

    deleted = links[:index] + links[index + 1 :]
    problem = chain.verify(KEY, deleted, head)
    assert problem is not None and problem.kind == "deleted"

    forged = chain.Link(99, links[index].previous, "ab" * 32, {"action": "encrypt"})
    problem = chain.verify(KEY, [*links[: index + 1], forged, *links[index + 1 :]], head)
    assert problem is not None and (problem.kind, problem.sequence) == ("inserted", 99)

    copy = links[index]
    problem = chain.verify(KEY, [*links, chain.Link(6, copy.previous, copy.mac, copy.content)], head)
    assert problem is not None and (problem.kind, problem.sequence) == ("inserted", 6)

    if index < 4:
        swapped = list(links)
        swapped[index], swapped[index + 1] = links[index + 1], links[index]
        problem = chain.verify(KEY, swapped, head)
        assert problem is not None and problem.kind == "reordered"


def test_events_without_a_head_name_the_missing_head() -> None:
    links = _links(3)
    problem = chain.verify(KEY, links, None)
    assert problem == chain.Problem(
        "head_missing", None, "the chain head was deleted: 3 events are on record but the head is gone"
    )


def test_another_key_cannot_vouch_for_the_chain() -> None:
    links = _links(3)
    problem = chain.verify(b"x" * 32, links, _head(links))
    assert problem is not None and problem.sequence == 1


# In the database ---------------------------------------------------------


def _events(n: int) -> list[AuditEvent]:
    return [
        record("encrypt", "success", Context(client_address="10.0.0.1"), declared_domain="medical", extra={"i": i})
        for i in range(n)
    ]


@pytest.mark.django_db
def test_the_database_refuses_update_and_delete() -> None:
    event = _events(1)[0]
    for attempt in (
        lambda: AuditEvent.objects.filter(pk=event.pk).update(outcome="failure"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {triggers.TABLE} SET username = 'someone else'")
    assert AuditEvent.objects.get(pk=event.pk).outcome == "success"


@pytest.fixture
def attacker() -> Iterator[None]:
    """Someone with the database but not the key: drops the triggers (inside the
    test's transaction, so they come back afterwards)."""
    triggers.remove(connection)
    yield


def _verify_audit() -> tuple[int, dict[str, object]]:
    out = io.StringIO()
    try:
        call_command("verify_audit", "--json", stdout=out)
        code = 0
    except SystemExit as exit:
        code = int(exit.code or 0)
    return code, json.loads(out.getvalue())


@pytest.mark.django_db
def test_verify_audit_passes_an_untouched_chain() -> None:
    _events(4)
    assert _verify_audit() == (0, {"intact": True, "events": 4, "problem": None})


@pytest.mark.django_db
@pytest.mark.usefixtures("attacker")
@pytest.mark.parametrize("victim", [1, 3, 5])
def test_verify_audit_names_an_altered_event(victim: int) -> None:
    _events(5)
    AuditEvent.objects.filter(sequence=victim).update(declared_domain="personal")
    code, result = _verify_audit()
    assert code == 1 and result["problem"] == {
        "kind": "altered",
        "sequence": victim,
        "message": f"event {victim} was altered after it was recorded",
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("attacker")
@pytest.mark.parametrize("victim", [1, 3, 5])
def test_verify_audit_names_a_deleted_event(victim: int) -> None:
    _events(5)
    AuditEvent.objects.filter(sequence=victim).delete()
    code, result = _verify_audit()
    problem = result["problem"]
    assert code == 1 and isinstance(problem, dict) and problem["kind"] == "deleted"
    assert problem["sequence"] == (victim + 1 if victim < 5 else None)


@pytest.mark.django_db
@pytest.mark.usefixtures("attacker")
def test_verify_audit_names_an_inserted_event() -> None:
    events = _events(3)
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.pk, forged.sequence, forged.mac = None, 4, "cd" * 32
    forged.username = "nobody"
    forged.save(force_insert=True)
    code, result = _verify_audit()
    assert code == 1 and result["problem"]["kind"] == "inserted" and result["problem"]["sequence"] == 4  # type: ignore[index]


@pytest.mark.django_db
@pytest.mark.usefixtures("attacker")
def test_verify_audit_names_reordered_events() -> None:
    _events(4)
    AuditEvent.objects.filter(sequence=2).update(sequence=100)
    AuditEvent.objects.filter(sequence=3).update(sequence=2)
    AuditEvent.objects.filter(sequence=100).update(sequence=3)
    code, result = _verify_audit()
    assert code == 1 and result["problem"]["kind"] == "reordered" and result["problem"]["sequence"] == 2  # type: ignore[index]


@pytest.mark.django_db
def test_events_cut_off_the_end_are_noticed() -> None:
    _events(3)
    triggers.remove(connection)
    AuditEvent.objects.filter(sequence=3).delete()
    code, result = _verify_audit()
    assert code == 1 and result["problem"]["kind"] == "deleted"  # type: ignore[index]
    for count in (2, 0):  # rolling the head back needs the key too
        ChainHead.objects.update(count=count)
        code, result = _verify_audit()
        assert code == 1 and result["problem"]["message"] == "the chain head was altered"  # type: ignore[index]


@pytest.mark.django_db
def test_an_event_holds_what_it_was_given() -> None:
    context = Context(client_address="::ffff:10.0.0.1", request_id="r1")
    event = record("decrypt", "failure", context, reason="wrong_password")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.sequence, stored.previous_mac, stored.reason) == (1, chain.GENESIS, "wrong_password")
    assert stored.client_address == "10.0.0.1" and stored.request_id == "r1"
    assert check_chain().intact
    with pytest.raises(ValueError, match="unknown audit action"):
        record("launch", "success", Context())


def test_events_appended_after_the_head_was_read_still_verify() -> None:
    links = _links(5)
    head = _head(links[:3])  # the head as it was when verification started
    assert chain.verify(KEY, links, head) is None
    assert chain.intact(KEY, iter(links), head) == (True, 5)
    forged = chain.Link(6, links[-1].mac, "ef" * 32, {"action": "encrypt"})
    problem = chain.verify(KEY, [*links, forged], head)
    assert problem is not None and (problem.kind, problem.sequence) == ("inserted", 6)
    assert chain.intact(KEY, iter([*links, forged]), head) == (False, 6)


def test_the_streaming_pass_agrees_with_the_full_one() -> None:
    links = _links(6)
    head = _head(links)
    assert chain.intact(KEY, iter(links), head) == (True, 6)
    assert chain.intact(KEY, iter(links[:-1]), head)[0] is False  # cut off the end
    assert chain.intact(KEY, iter([links[0], links[2]]), head)[0] is False  # a hole
    assert chain.intact(KEY, iter([]), None) == (True, 0)
    assert chain.intact(KEY, iter(links), None)[0] is False  # events without a head


# What the MAC covers -------------------------------------------------------

CHAIN_FIELDS = {"id", "previous_mac", "mac"}  # the row id and the links themselves


def test_every_stored_field_of_an_event_is_in_its_mac() -> None:
    stored = {field.attname for field in AuditEvent._meta.concrete_fields}
    assert set(AuditEvent.CONTENT_FIELDS) == stored - CHAIN_FIELDS


def _forgery(event: AuditEvent, name: str, someone_else: Any) -> Any:
    """Another value for one field, of the right type."""
    forged: dict[str, Any] = {
        "sequence": event.sequence + 1,
        "created": event.created + timedelta(seconds=1),
        "actor": someone_else,
        "username": "someone-else",
        "action": "decrypt",
        "outcome": "failure",
        "reason": "forged",
        "declared_domain": "legal",
        "predicted_domain": "medical",
        "confidence": 0.125,
        "mismatch": False,
        "decision": "blocked",
        "model_name": "another-model",
        "image_width": 11,
        "image_height": 13,
        "image_mode": "L",
        "image_format": "JPEG",
        "image_bytes": 1001,
        "encrypted_sha256": "cd" * 32,
        "client_address": "10.0.0.2",
        "user_agent": "curl/8",
        "request_id": "r-forged",
        "extra": {"i": 99},
    }
    return forged[name]


@pytest.mark.django_db
@pytest.mark.usefixtures("attacker")
@pytest.mark.parametrize(
    "name", [field.name for field in AuditEvent._meta.concrete_fields if field.name not in CHAIN_FIELDS]
)
def test_changing_any_field_an_auditor_sees_breaks_the_chain(name: str, operator: Any, auditor: Any) -> None:
    event = record(
        "encrypt",
        "success",
        Context(actor=operator, client_address="10.0.0.1", user_agent="browser", request_id="r1"),
        declared_domain="medical",
        predicted_domain="legal",
        confidence=0.875,
        mismatch=True,
        model_name="resnet50",
        image_width=640,
        image_height=480,
        image_mode="RGB",
        image_format="PNG",
        image_bytes=1000,
        encrypted_sha256="ab" * 32,
        extra={"i": 1},
    )
    assert check_chain().intact
    AuditEvent.objects.filter(pk=event.pk).update(**{name: _forgery(event, name, auditor)})
    code, result = _verify_audit()
    assert code == 1 and result["intact"] is False


@pytest.mark.django_db
@pytest.mark.usefixtures("attacker")
def test_renumbered_events_are_noticed() -> None:
    _events(3)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {triggers.TABLE} SET sequence = sequence + 500")
    code, result = _verify_audit()
    assert code == 1 and result["problem"] == {
        "kind": "renumbered",
        "sequence": 501,
        "message": "event 501 was recorded as event 1: its sequence number was changed",
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("attacker")
def test_an_event_moved_by_its_sequence_number_is_named() -> None:
    _events(4)
    AuditEvent.objects.filter(sequence=2).update(sequence=502)
    code, result = _verify_audit()
    assert code == 1 and result["problem"] == {
        "kind": "reordered",
        "sequence": 502,
        "message": "event 502 is out of order: it was recorded as event 2",
    }


@pytest.mark.django_db
def test_a_deleted_chain_head_is_named() -> None:
    _events(3)
    ChainHead.objects.filter(pk=1).delete()
    code, result = _verify_audit()
    assert code == 1 and result == {
        "intact": False,
        "events": 3,
        "problem": {
            "kind": "head_missing",
            "sequence": None,
            "message": "the chain head was deleted: 3 events are on record but the head is gone",
        },
    }
