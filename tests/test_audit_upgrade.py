"""A database with events from before the verifiable log is upgraded in place:
its events become the first leaves, its HMAC chain still verifies, and the
log goes on from there."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

import tlog
from audit import chain, log
from audit.services import check_chain, record
from core.context import Context

BEFORE = [("audit", "0003_admin_change_action")]
OLD_FIELDS = (
    "created", "actor_id", "username", "action", "outcome", "reason", "declared_domain", "predicted_domain",
    "confidence", "mismatch", "model_name", "image_width", "image_height", "image_mode", "image_format",
    "image_bytes", "encrypted_sha256", "client_address", "user_agent", "request_id", "extra",
)  # fmt: skip


@pytest.mark.usefixtures("committed_audit")
def test_events_from_before_the_verifiable_log_become_its_first_leaves() -> None:
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    Event, Head = old.get_model("audit", "AuditEvent"), old.get_model("audit", "ChainHead")
    key, previous = str(settings.SECUREPIX_AUDIT_KEY).encode(), chain.GENESIS
    for sequence in (1, 2, 3):  # chained as the release before 0.2 did: the content without the sequence
        event = Event(sequence=sequence, created=timezone.now(), action="classify", outcome="success", extra={})
        content = {name: getattr(event, name) for name in OLD_FIELDS}
        content["created"] = event.created.isoformat(timespec="microseconds")
        data = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        event.previous_mac, event.mac = (
            previous,
            hmac.new(key, bytes.fromhex(previous) + data, hashlib.sha256).hexdigest(),
        )
        event.save()
        previous = event.mac
    # the process's sequencer thread may have made an empty head since the last
    # test's clean-up (it runs every second): this database's head is the old one
    Head.objects.update_or_create(
        pk=1, defaults={"count": 3, "last_mac": previous, "seal": chain.head_mac(key, 3, previous)}
    )

    MigrationExecutor(connection).migrate(latest)
    assert check_chain().intact
    record("classify", "success", Context(request_id="after the upgrade"))
    assert check_chain().intact and log.tree_size() == 4
    checkpoint = tlog.parse_checkpoint(tlog.parse_note(log.checkpoint_now().note).text)
    from audit.models import AuditEvent

    leaves = [tlog.leaf_hash(log.leaf_bytes(e)) for e in AuditEvent.objects.order_by("sequence")]
    assert checkpoint.size == 4 and checkpoint.root_hash == tlog.merkle_root(leaves)
