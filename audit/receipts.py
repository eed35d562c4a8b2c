"""What every operation's answer carries so that its user can later prove it
was recorded: the event's sequence number and its leaf in the log's Merkle
tree (`securepix audit receipt` fetches a checkpoint and an inclusion proof
for it).  The middleware puts them on every answer whose request recorded an
event: the first one it recorded, the operation's own."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from .log import wait_until_sequenced
from .models import AuditEvent

RECEIPT_WAIT_SECONDS = 5.0
_recorded: ContextVar[list[AuditEvent] | None] = ContextVar("securepix_recorded_events", default=None)


def note(event: AuditEvent) -> None:
    """audit.services.record tells: this request recorded `event`."""
    recorded = _recorded.get()
    if recorded is not None:
        recorded.append(event)


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


class ReceiptMiddleware:
    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = _recorded.set([])
        try:
            response = self.get_response(request)
            recorded = _recorded.get() or []
            if recorded and "X-SecurePix-Audit-Event" not in response:
                receipt(response, recorded[0])
            return response
        finally:
            _recorded.reset(token)
