"""What a review of the verifiable log found, each pinned: witnesses count
once, unsigned newer events are not called verified, a checkpoint must be of
the log its key names, a witness treats an unprovable growth as a fork, and
the password page asks for the second factor like every other."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

import tlog
from audit import http, offline
from audit.witness import Alert, Witness


def _log(origin: str = "securepix.example/audit") -> tuple[tlog.Ed25519Signer, str]:
    signer_key, verifier_key = tlog.generate_key(origin)
    return tlog.parse_signer_key(signer_key), verifier_key


def _rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for sequence in range(1, count + 1):
        row: dict[str, Any] = dict.fromkeys(offline.LEAF_FIELDS, "")
        row.update(sequence=sequence, extra={}, actor_id=None, confidence=None, mismatch=False)
        row.update(image_width=None, image_height=None, image_bytes=None)
        rows.append(row)
    return rows


def _checkpoint(signer: tlog.Ed25519Signer, rows: list[dict[str, Any]], origin: str = "") -> str:
    root = tlog.merkle_root([tlog.leaf_hash(offline.leaf_bytes(row)) for row in rows])
    body = tlog.format_checkpoint(tlog.Checkpoint(origin or signer.name, len(rows), root))
    return tlog.sign_note(body, [signer])


def test_a_witness_counts_once_however_often_it_appears() -> None:
    signer, key = _log()
    witness_signer, witness_key = tlog.generate_key("witness.example/w1", tlog.COSIGNATURE_V1)
    note = _checkpoint(signer, _rows(2))
    body = tlog.parse_note(note).text
    line = tlog.cosign_checkpoint(body, tlog.parse_signer_key(witness_signer), 1_800_000_000).line
    with pytest.raises(offline.VerificationFailed, match="1 witness cosignature"):
        offline.read_checkpoint(note + line + line, key, [witness_key, witness_key], required_witnesses=2)


def test_events_newer_than_every_checkpoint_are_not_called_verified() -> None:
    signer, key = _log()
    rows = _rows(4)
    signed = offline.read_checkpoint(_checkpoint(signer, rows[:2]), key)
    export = io.StringIO("".join(json.dumps(row) + "\n" for row in rows))
    report = offline.verify_export(export, [signed])
    assert (report.events, report.signed) == (4, 2)


def test_a_checkpoint_must_be_of_the_log_its_key_names_and_signed_by_a_log_key() -> None:
    signer, key = _log()
    with pytest.raises(offline.VerificationFailed, match="of the log 'some-other-log'"):
        offline.read_checkpoint(_checkpoint(signer, _rows(1), origin="some-other-log"), key)
    _, witness_key = tlog.generate_key("securepix.example/audit", tlog.COSIGNATURE_V1)
    with pytest.raises(offline.VerificationFailed, match="type 0x01"):
        offline.read_checkpoint(_checkpoint(signer, _rows(1)), witness_key)


@pytest.mark.parametrize("answer", [{}, [], {"proof": None}, {"proof": ["not base64!"]}])
def test_a_witness_calls_a_growth_it_cannot_check_a_fork(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: object
) -> None:
    signer, key = _log()
    witness_signer, _ = tlog.generate_key("witness.example/w1", tlog.COSIGNATURE_V1)
    notes = iter([_checkpoint(signer, _rows(2)), _checkpoint(signer, _rows(5))])
    monkeypatch.setattr(http, "get_text", lambda server, path, token="": next(notes))
    monkeypatch.setattr(http, "post_text", lambda *args, **kwargs: {"accepted": []})
    monkeypatch.setattr(http, "get_json", lambda *args, **kwargs: answer)
    witness = Witness("http://log.example", key, tlog.parse_signer_key(witness_signer), tmp_path)
    assert isinstance(witness.poll(), tlog.Checkpoint)
    caught = witness.poll()
    assert isinstance(caught, Alert) and caught.kind == "fork"


def test_the_password_page_asks_a_device_owner_for_the_second_factor(operator: Any) -> None:
    TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)
    browser = Client()
    browser.force_login(operator)  # a session that has not used the code
    page = browser.get("/accounts/password/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    changed = browser.post(
        "/accounts/password/",
        {"old_password": "x", "new_password1": "a-new-long-password-71", "new_password2": "a-new-long-password-71"},
    )
    assert changed.status_code == 302 and changed["Location"].startswith("/accounts/login/")


def test_a_password_change_is_recorded(operator: Any) -> None:
    from audit.models import AuditEvent
    from tests.conftest import ACCOUNT_PASSWORD

    browser = Client()
    browser.force_login(operator)
    new = "a-new-long-password-71"
    answer = browser.post(
        "/accounts/password/", {"old_password": ACCOUNT_PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert answer.status_code == 302
    event = AuditEvent.objects.get(action="password_change")
    assert event.username == operator.username and new not in json.dumps(event.content(), default=str)
