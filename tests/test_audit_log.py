"""The audit log as a verifiable log: Merkle leaves, signed checkpoints, proofs
that any client checks with the public key, receipts, an offline verifier and
a witness.  The attacks at the end run against a real server (Django's live
server) with the witness and the verifier as separate processes."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import override_settings

import tlog
from accounts.models import ApiToken
from audit import log, triggers
from audit.models import AuditEvent, ChainHead, Checkpoint, Cosignature, MerkleNode
from audit.services import record
from core.context import Context
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parent.parent


def _record(count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        record("classify", "success", Context(request_id=f"r{i}"), declared_domain="medical", extra={"i": i})


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _signed(note: str) -> tlog.Checkpoint:
    verified = tlog.verify_note(note, [tlog.parse_verifier_key(log.verifier_key())])
    return tlog.parse_checkpoint(verified.text)


# In process: the tree, the checkpoints, the proofs ---------------------------


@pytest.mark.django_db
def test_every_event_is_a_leaf_and_the_signed_root_is_the_rfc6962_root() -> None:
    _record(13)
    checkpoint = _signed(log.checkpoint_now().note)
    events = AuditEvent.objects.order_by("sequence")
    assert checkpoint.size == 13 and checkpoint.origin == "securepix.local/audit"
    assert checkpoint.root_hash == tlog.merkle_root([tlog.leaf_hash(log.leaf_bytes(e)) for e in events])
    assert MerkleNode.objects.filter(level=0).count() == 13
    first = json.loads(log.leaf_bytes(events[0]))
    assert first["sequence"] == 1 and first["extra"] == {"i": 0} and first["request_id"] == "r0"


@pytest.mark.django_db
def test_proofs_verify_against_signed_checkpoints(auditor_api: Any) -> None:
    _record(7)
    old = _signed(auditor_api.post("/api/v1/audit/checkpoint").content.decode())
    _record(12, start=7)
    new = _signed(auditor_api.post("/api/v1/audit/checkpoint").content.decode())
    assert (old.size, new.size) == (7, 19)
    for index in (0, 6, 18):
        answer = auditor_api.get(f"/api/v1/audit/proof/inclusion?index={index}&size={new.size}").json()
        proof = [_b64(p) for p in answer["proof"]]
        assert tlog.leaf_hash(_b64(answer["leaf"])) == _b64(answer["leaf_hash"])
        tlog.verify_inclusion(index, new.size, _b64(answer["leaf_hash"]), proof, new.root_hash)
    consistency = auditor_api.get(f"/api/v1/audit/proof/consistency?from={old.size}&to={new.size}").json()
    assert (consistency["from"], consistency["to"]) == (7, 19)
    tlog.verify_consistency(7, 19, old.root_hash, new.root_hash, [_b64(p) for p in consistency["proof"]])
    leaves = auditor_api.get("/api/v1/audit/leaves?start=0&end=19").json()["leaves"]
    assert tlog.merkle_root([tlog.leaf_hash(_b64(leaf)) for leaf in leaves]) == new.root_hash
    assert auditor_api.get("/api/v1/audit/proof/inclusion?index=19&size=19").status_code == 400


@pytest.mark.django_db
@override_settings(SECUREPIX_CHECKPOINT_SECONDS=0)
def test_the_checkpoint_and_the_key_need_no_login_and_proofs_do(client: Any, operator_api: Any) -> None:
    _record(3)
    served = client.get("/api/v1/audit/checkpoint")
    assert served.status_code == 200 and served["Content-Type"].startswith("text/plain")
    assert _signed(served.content.decode()).size >= 3
    key = client.get("/api/v1/audit/key").content.decode().strip()
    name, key_hash, material = key.split("+", 2)
    assert name == "securepix.local/audit" and len(key_hash) == 8 and _b64(material)[0] == 0x01
    assert client.get("/api/v1/audit/proof/consistency?from=1&to=3").status_code == 401
    assert operator_api.get("/api/v1/audit/leaves?start=0&end=1").status_code == 403
    # an operator may prove their own events only
    assert operator_api.get("/api/v1/audit/proof/inclusion?index=0&size=3").status_code == 403


@pytest.mark.django_db
def test_a_proof_reads_only_a_logarithmic_number_of_nodes(django_assert_max_num_queries: Any) -> None:
    _record(300)
    with django_assert_max_num_queries(4):
        log.inclusion_proof(123, 300)
    with django_assert_max_num_queries(4):
        log.consistency_proof(100, 300)


@pytest.mark.django_db
def test_operations_carry_their_receipt(operator_api: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.images import encode, image_in_mode

    form = {
        "image": SimpleUploadedFile("a.png", encode(image_in_mode("RGB"))),
        "password": "larch-beacon-mosaic-61",
        "declared_domain": "none",
    }
    answer = operator_api.post("/api/v1/encrypt", form, format="multipart")
    assert answer.status_code == 200
    event = AuditEvent.objects.get(action="encrypt")
    assert answer["X-SecurePix-Audit-Leaf"] == str(event.sequence - 1)
    assert answer["X-SecurePix-Audit-Event"] == str(event.sequence)
    proof = operator_api.get(f"/api/v1/audit/proof/inclusion?index={event.sequence - 1}&size={event.sequence}")
    assert proof.status_code == 200  # their own event: the operator may prove it


def _witness_keys() -> tuple[str, str]:
    return tlog.generate_key("witness.example/w1", tlog.COSIGNATURE_V1)


@pytest.mark.django_db
def test_only_known_witnesses_cosign(client: Any) -> None:
    signer_key, verifier_key = _witness_keys()
    stranger_signer, _ = tlog.generate_key("stranger.example/w", tlog.COSIGNATURE_V1)
    _record(2)
    note = log.served_note(log.checkpoint_now())
    body = tlog.parse_note(note).text
    line = tlog.cosign_checkpoint(body, tlog.parse_signer_key(signer_key), 1_800_000_000).line
    stranger = tlog.cosign_checkpoint(body, tlog.parse_signer_key(stranger_signer), 1_800_000_000).line
    with override_settings(SECUREPIX_AUDIT_WITNESS_KEYS=[verifier_key]):
        refused = client.post("/api/v1/audit/cosignatures", note + stranger, content_type="text/plain")
        assert refused.status_code == 400 and Cosignature.objects.count() == 0
        accepted = client.post("/api/v1/audit/cosignatures", note + line, content_type="text/plain")
        assert accepted.status_code == 200 and accepted.json()["accepted"][0]["witness"] == "witness.example/w1"
        served = client.get("/api/v1/audit/checkpoint").content.decode()
    assert line.rstrip("\n") in served.splitlines()


# Real processes: a live server, a witness, the offline verifier -------------


class Attack:
    """A test server with its log, an auditor's token, a witness and the offline verifier."""

    def __init__(self, server: str, tmp: Path) -> None:
        self.server, self.tmp = server, tmp
        auditor = make_user("compliance", "auditor")
        _, token = ApiToken.issue(auditor)
        self.token_file = tmp / "token"
        self.token_file.write_text(token)
        self.witness_signer, self.witness_verifier = _witness_keys()
        self.log_key = log.verifier_key()

    def get(self, path: str) -> bytes:
        request = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {self.token()}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            data: bytes = response.read()
            return data

    def token(self) -> str:
        return self.token_file.read_text()

    def witness(self) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable, "manage.py", "audit_witness", "--server", self.server, "--log-key", self.log_key,
            "--witness-key", self.witness_signer, "--state", str(self.tmp / "witness"),
            "--token-file", str(self.token_file), "--once",
        ]  # fmt: skip
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)

    def save_checkpoint(self, name: str) -> Path:
        path = self.tmp / name
        path.write_bytes(self.get("/api/v1/audit/checkpoint"))
        return path

    def verify_offline(self, checkpoint: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        export = self.tmp / "export.jsonl"
        export.write_bytes(self.get("/api/v1/audit/export?format=jsonl"))
        command = [
            sys.executable, "-m", "securepix_site.cli", "audit", "verify", str(export),
            "--checkpoint", str(checkpoint), "--key", self.log_key, *extra,
        ]  # fmt: skip
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def attack(live_server: Any, committed_audit: None, tmp_path: Path, settings: Any) -> Attack:
    settings.SECUREPIX_CHECKPOINT_SECONDS = 0.0  # a new checkpoint whenever the log has grown
    the_attack = Attack(live_server.url, tmp_path)
    settings.SECUREPIX_AUDIT_WITNESS_KEYS = [the_attack.witness_verifier]
    return the_attack


def _as_attacker(*statements: str) -> None:
    """Direct database edits, past the append-only triggers."""
    triggers.remove(connection)
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        triggers.install(connection)


_TABLES = ("audit_chainhead", triggers.TABLE, *triggers.LOG_TABLES)  # each after those it points at


def _everything() -> dict[str, list[tuple[Any, ...]]]:
    """A copy of the audit tables, as a backup would hold them."""
    copy = {}
    with connection.cursor() as cursor:
        for table in _TABLES:
            cursor.execute(f"SELECT * FROM {table} ORDER BY id")
            copy[table] = cursor.fetchall()
    return copy


def _restore(copy: dict[str, list[tuple[Any, ...]]]) -> None:
    triggers.remove(connection)
    try:
        with connection.cursor() as cursor:
            for table in reversed(_TABLES):  # the rows that point at others first
                cursor.execute(f"DELETE FROM {table}")
            for table in _TABLES:
                for row in copy[table]:
                    marks = ", ".join(["%s"] * len(row))
                    cursor.execute(f"INSERT INTO {table} VALUES ({marks})", row)
    finally:
        triggers.install(connection)


def test_the_witness_cosigns_an_honest_log_and_the_verifier_passes_it(attack: Attack) -> None:
    _record(20)
    first = attack.witness()
    assert first.returncode == 0, first.stderr
    _record(5, start=20)
    second = attack.witness()
    assert second.returncode == 0, second.stderr
    assert "consistent and cosigned" in second.stdout
    assert Cosignature.objects.filter(witness="witness.example/w1").count() == 2
    cosigned = attack.save_checkpoint("cosigned.txt")
    done = attack.verify_offline(cosigned, "--witness-key", attack.witness_verifier, "--witnesses", "1")
    assert done.returncode == 0, done.stderr
    assert "audit log intact" in done.stdout


def test_an_altered_field_is_caught_by_the_offline_verifier(attack: Attack) -> None:
    _record(12)
    checkpoint = attack.save_checkpoint("checkpoint.txt")
    _as_attacker(f"UPDATE {triggers.TABLE} SET username = 'someone else' WHERE sequence = 5")
    caught = attack.verify_offline(checkpoint)
    assert caught.returncode == 3 and "does not belong" in caught.stderr


def test_a_renumbered_event_is_caught_by_the_offline_verifier(attack: Attack) -> None:
    _record(12)
    checkpoint = attack.save_checkpoint("checkpoint.txt")
    _as_attacker(f"UPDATE {triggers.TABLE} SET sequence = sequence + 500 WHERE sequence >= 6")
    caught = attack.verify_offline(checkpoint)
    assert caught.returncode == 3 and "event 6 is missing" in caught.stderr


def test_a_deleted_middle_event_is_caught_by_the_offline_verifier(attack: Attack) -> None:
    _record(12)
    checkpoint = attack.save_checkpoint("checkpoint.txt")
    _as_attacker(f"DELETE FROM {triggers.TABLE} WHERE sequence = 7")
    caught = attack.verify_offline(checkpoint)
    assert caught.returncode == 3 and "event 7 is missing" in caught.stderr


def test_cutting_the_newest_events_is_caught_by_the_witness_and_the_verifier(attack: Attack) -> None:
    _record(12)
    assert attack.witness().returncode == 0
    checkpoint = attack.save_checkpoint("checkpoint.txt")
    head = ChainHead.objects.get()
    tree = tlog.CompactRange()
    for event in AuditEvent.objects.filter(sequence__lte=8).order_by("sequence"):
        tree.append(log.leaf_hash(event))
    edge = json.dumps([h.hex() for h in tree.hashes])
    last_mac = AuditEvent.objects.get(sequence=8).mac
    beyond = [n for n in MerkleNode.objects.values_list("level", "index") if (n[1] + 1) << n[0] > 8]
    _as_attacker(
        *(
            f"DELETE FROM audit_merklenode WHERE level = {level} AND {connection.ops.quote_name('index')} = {index}"
            for level, index in beyond
        ),
        f"DELETE FROM {triggers.TABLE} WHERE sequence > 8",
        "DELETE FROM audit_cosignature",
        "DELETE FROM audit_checkpoint",
        f"UPDATE audit_chainhead SET count = 8, last_mac = '{last_mac}', tree_edge = '{edge}' WHERE id = {head.pk}",
    )
    caught = attack.witness()
    assert caught.returncode == 2 and "truncation" in caught.stderr
    cut = attack.verify_offline(checkpoint)
    assert cut.returncode == 3 and "cut off" in cut.stderr


def test_deleting_everything_is_caught_by_the_witness(attack: Attack) -> None:
    _record(6)
    assert attack.witness().returncode == 0
    _as_attacker(*(f"DELETE FROM {t}" for t in ("audit_cosignature", "audit_checkpoint", "audit_merklenode")))
    _as_attacker(f"DELETE FROM {triggers.TABLE}", "DELETE FROM audit_chainhead")
    caught = attack.witness()
    assert caught.returncode == 2 and "wipe" in caught.stderr


def test_restoring_an_older_copy_of_the_database_is_caught_by_the_witness(attack: Attack) -> None:
    _record(8)
    assert attack.witness().returncode == 0
    backup = _everything()
    _record(8, start=8)
    assert attack.witness().returncode == 0
    _restore(backup)
    caught = attack.witness()
    assert caught.returncode == 2 and "rollback" in caught.stderr
    assert AuditEvent.objects.filter(action="witness_alert", reason="rollback").exists()  # the alert is recorded


def test_history_rewritten_with_the_stolen_signing_key_is_caught(attack: Attack) -> None:
    _record(10)
    assert attack.witness().returncode == 0
    # The attacker holds the database and the signing key: they change an event,
    # rebuild the whole tree and sign a checkpoint for the same size.
    _as_attacker(f"UPDATE {triggers.TABLE} SET outcome = 'denied' WHERE sequence = 3")
    tree, nodes = tlog.CompactRange(), []
    for event in AuditEvent.objects.order_by("sequence"):
        nodes += tree.append(log.leaf_hash(event))
    _as_attacker("DELETE FROM audit_cosignature", "DELETE FROM audit_checkpoint", "DELETE FROM audit_merklenode")
    MerkleNode.objects.bulk_create(MerkleNode(level=n.level, index=n.index, hash=n.hash) for n in nodes)
    head = ChainHead.objects.get()
    _as_attacker(
        f"UPDATE audit_chainhead SET tree_edge = '{json.dumps([h.hex() for h in tree.hashes])}' WHERE id = {head.pk}"
    )
    forged = attack.save_checkpoint("forged.txt")
    assert _signed(forged.read_text()).root_hash == tree.root()  # validly signed with the stolen key
    caught = attack.witness()
    assert caught.returncode == 2 and "fork" in caught.stderr  # two roots for one size
    unwitnessed = attack.verify_offline(forged, "--witness-key", attack.witness_verifier, "--witnesses", "1")
    assert unwitnessed.returncode == 3 and "witness cosignature" in unwitnessed.stderr
    assert Checkpoint.objects.count() >= 1


@pytest.mark.usefixtures("committed_audit")
def test_the_background_sequencer_covers_waiting_events_within_its_interval(settings: Any) -> None:
    import threading
    import time

    from django.utils import timezone

    settings.SECUREPIX_CHECKPOINT_SECONDS = 0.1
    AuditEvent(created=timezone.now(), action="classify", outcome="success").save()  # as a writer leaves it

    def covered() -> bool:
        try:
            return Checkpoint.objects.filter(size__gte=1).exists()
        except OperationalError:  # SQLite's shared in-memory test database: the sequencer is writing the table
            return False

    stop = threading.Event()
    thread = log.keep_sequencing(0.1, stop)
    try:
        deadline = time.monotonic() + 20
        while not covered() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    assert AuditEvent.objects.get().sequence == 1
    assert Checkpoint.objects.filter(size=1).exists()


def test_a_waiter_does_not_miss_a_round_that_ended_before_it_began_to_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request waiting for its event's number asks for a round and waits for
    one to end: when the round ends first, the waiter returns at once instead
    of waiting out its timeout."""
    import time

    monkeypatch.setattr(log, "integrate_logged", lambda drain: None)
    sequencer = log.Sequencer()
    try:
        rounds = sequencer.rounds
        sequencer.wake()
        deadline = time.monotonic() + 20
        while sequencer.rounds == rounds and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        sequencer.wait_past(rounds, timeout=30)
        assert time.monotonic() - started < 5
    finally:
        sequencer.stop()


@pytest.mark.django_db
def test_the_audit_page_shows_the_latest_checkpoint_and_its_witnesses(auditor: Any, settings: Any) -> None:
    from django.test import Client
    from django.utils import timezone

    settings.SECUREPIX_CHECKPOINT_SECONDS = 3600  # no newer checkpoint for the login's event, however slow the test
    _record(4)
    checkpoint = log.checkpoint_now()
    Cosignature.objects.create(
        checkpoint=checkpoint, witness="witness.example/w1", line="— witness.example/w1 x\n",
        signed_at=timezone.now(), received=timezone.now(),
    )  # fmt: skip
    browser = Client()
    browser.force_login(auditor)
    page = browser.get("/audit/").content.decode()
    assert f"<strong>{checkpoint.size}</strong> events" in page
    assert "Cosigned by <strong>witness.example/w1</strong>" in page and log.verifier_key() in page


def test_a_user_proves_their_operation_was_recorded_with_a_receipt(attack: Attack, tmp_path: Path) -> None:
    import os

    operator = make_user("radiographer", "operator")
    _, token = ApiToken.issue(operator)
    _record(5)
    event = record("classify", "success", Context(actor=operator, request_id="mine"))
    assert event.sequence is not None
    saved = tmp_path / "receipt.json"
    command = [sys.executable, "-m", "securepix_site.cli", "audit", "receipt", "--key", attack.log_key]
    fetch = [*command, "--server", attack.server, "--leaf", str(event.sequence - 1), "-o", str(saved)]
    environment = {**os.environ, "SECUREPIX_TOKEN": token}
    fetched = subprocess.run(fetch, cwd=ROOT, capture_output=True, text=True, timeout=120, env=environment)
    assert fetched.returncode == 0, fetched.stderr
    assert f"event {event.sequence} (classify, success" in fetched.stdout and "is leaf 5" in fetched.stdout
    offline = subprocess.run([*command, "--check", str(saved)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert offline.returncode == 0, offline.stderr
    forged = json.loads(saved.read_text())
    forged["leaf"] = base64.b64encode(base64.b64decode(forged["leaf"]).replace(b"success", b"failure")).decode()
    saved.write_text(json.dumps(forged))
    refused = subprocess.run([*command, "--check", str(saved)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 3 and "not in the signed tree" in refused.stderr


def test_the_admin_shows_the_audit_logs_public_key(admin: Any) -> None:
    from django.test import Client

    browser = Client()
    browser.force_login(admin)
    page = browser.get("/admin/")
    assert page.status_code == 200 and log.verifier_key() in page.content.decode()


@pytest.mark.django_db
def test_after_a_key_rotation_old_checkpoints_still_verify(client: Any, settings: Any) -> None:
    from audit.offline import read_checkpoint

    _record(3)
    old_note = log.checkpoint_now().note
    old_key = log.verifier_key()
    new_signer, _ = tlog.generate_key("securepix.local/audit")
    settings.SECUREPIX_AUDIT_SIGNING_KEY = new_signer
    settings.SECUREPIX_AUDIT_OLD_VERIFIER_KEYS = [old_key]
    _record(2, start=3)
    new_note = log.checkpoint_now().note
    keys = client.get("/api/v1/audit/key?all=1").content.decode().split()
    assert keys[1] == old_key and keys[0] == log.verifier_key() != old_key
    assert read_checkpoint(old_note, keys).checkpoint.size == 3
    assert read_checkpoint(new_note, keys).checkpoint.size == 5
    with pytest.raises(ValueError, match="not signed"):
        read_checkpoint(old_note, keys[0])


@pytest.mark.django_db
def test_every_operation_that_records_an_event_answers_with_its_receipt(operator: Any, auditor_api: Any) -> None:
    from rest_framework.test import APIClient

    from tests.conftest import ACCOUNT_PASSWORD

    token = APIClient().post("/api/v1/tokens", {"username": operator.username, "password": ACCOUNT_PASSWORD})
    verify = auditor_api.get("/api/v1/audit/verify")
    export = auditor_api.get("/api/v1/audit/export?format=jsonl")
    for answer, action in ((token, "token_create"), (verify, "verify"), (export, "export")):
        assert answer.status_code in (200, 201)
        event = AuditEvent.objects.get(sequence=int(answer["X-SecurePix-Audit-Event"]))
        assert event.action == action and answer["X-SecurePix-Audit-Leaf"] == str(event.sequence - 1)
    assert "X-SecurePix-Audit-Event" not in auditor_api.get("/api/v1/audit/key")  # nothing recorded, no receipt
