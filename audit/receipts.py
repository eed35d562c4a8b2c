"""What every operation's answer carries so that its user can later prove it
was recorded: the event's sequence number and its leaf in the log's Merkle
tree (`securepix audit receipt` fetches a checkpoint and an inclusion proof
for it)."""

from __future__ import annotations

from typing import Any

from .models import AuditEvent


def receipt(response: Any, event: AuditEvent) -> None:
    """The X-SecurePix-Audit-Event (sequence) and X-SecurePix-Audit-Leaf (leaf index) headers."""
    if event.sequence is not None:
        response["X-SecurePix-Audit-Event"] = str(event.sequence)
        response["X-SecurePix-Audit-Leaf"] = str(event.leaf_index)
