"""What every operation's answer carries so that its user can later prove it
was recorded: the event's sequence number and its leaf in the log's Merkle
tree (`securepix audit receipt` fetches a checkpoint and an inclusion proof
for it)."""

from __future__ import annotations

import contextlib
from typing import Any

from .log import wait_until_sequenced
from .models import AuditEvent

RECEIPT_WAIT_SECONDS = 5.0


def sequenced(event: AuditEvent) -> AuditEvent:
    """The event, numbered by the sequencer (within its bounded delay; still
    unnumbered should it not answer in time: the receipt is then left out)."""
    with contextlib.suppress(TimeoutError):
        wait_until_sequenced([event], timeout=RECEIPT_WAIT_SECONDS)
    return event


def receipt(response: Any, event: AuditEvent) -> None:
    """The X-SecurePix-Audit-Event (sequence) and X-SecurePix-Audit-Leaf (leaf index) headers."""
    if sequenced(event).sequence is not None:
        response["X-SecurePix-Audit-Event"] = str(event.sequence)
        response["X-SecurePix-Audit-Leaf"] = str(event.leaf_index)
