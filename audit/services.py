"""Recording, querying, exporting and verifying audit events.

Every operation a user performs goes through `record`; appends are
serialised (a lock on the chain head row, and SQLite's write lock) so that
concurrent requests never fork the chain.
"""

from __future__ import annotations

import contextlib
import csv
import ipaddress
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.context import Context
from core.errors import Forbidden, SecurePixError

from . import chain, log, receipts
from .models import Action, AuditEvent, ChainHead, Outcome

_append_lock = threading.Lock()  # in_transaction on SQLite: one writer at a time within a process


def _address(text: str | None) -> str:
    """One spelling per address: IPv4-mapped IPv6 as IPv4, IPv6 compressed."""
    try:
        address = ipaddress.ip_address(text or "")
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.compressed


def record(
    action: str, outcome: str, context: Context, *, reason: str = "", commits_soon: bool = False, **fields: Any
) -> AuditEvent:
    """Append one event to the log and return it.

    The event is written at once, in the caller's transaction, without waiting
    for any lock or for any other writer.

    Where the database can skip a locked row (PostgreSQL), the event is
    numbered in that same transaction when no other sequencer holds the
    chain's head: one commit, and the number known at once
    (`audit.log.number_now`).  Only when the head may stay locked until the
    commit: the transaction is this call's own, or the caller's own atomic
    block is the outermost and it says it `commits_soon` (nothing slow
    follows the event).  An operation run inside a longer transaction (a
    job's file, stored after its event) leaves its event to the sequencer.

    Otherwise, once the transaction commits, this process's sequencer
    (audit/log.py) is woken and numbers it, with the events of every other
    writer that committed meanwhile.  `event.sequence` is None until the
    event is numbered and committed: `audit.log.wait_until_sequenced`
    (receipts use it) waits for the number.  With
    SECUREPIX_AUDIT_SEQUENCING=in_transaction it is numbered before this
    returns, inside the caller's transaction (one writer at a time)."""
    if action not in Action.values or outcome not in Outcome.values:
        raise ValueError(f"unknown audit action or outcome: {action}/{outcome}")
    actor = context.actor
    event = AuditEvent(
        created=timezone.now(),
        actor=actor,
        username=actor.get_username() if actor is not None else fields.pop("username", ""),
        action=action,
        outcome=outcome,
        reason=reason,
        client_address=_address(context.client_address),
        user_agent=context.user_agent,
        request_id=context.request_id,
        **fields,
    )
    receipts.note(event)
    if settings.SECUREPIX_AUDIT_SEQUENCING == "in_transaction":
        # PostgreSQL queues writers on the head row itself; a process lock held
        # there as well could deadlock against a transaction that records twice.
        guard = _append_lock if connection.vendor == "sqlite" else contextlib.nullcontext()
        with guard, transaction.atomic():
            event.save(force_insert=True)
            log.wait_until_sequenced([event])
    else:
        # atomic_blocks: Django's stack of the atomic blocks open on this connection.
        depth = len(connection.atomic_blocks)
        skips_locks = connection.features.has_select_for_update_skip_locked
        at_once = skips_locks and (depth == 0 or (depth == 1 and commits_soon))
        # No savepoint of its own: a failed insert fails the caller's transaction, as it always did.
        with transaction.atomic(savepoint=False) if at_once else contextlib.nullcontext():
            event.save(force_insert=True)
            numbered = at_once and log.number_now(event)
        if not numbered:
            transaction.on_commit(log.sequencer.wake)
    return event


def refuse(
    action: str, context: Context, error: SecurePixError, outcome: str = Outcome.FAILURE, **fields: Any
) -> SecurePixError:
    """Record a refused or failed operation (its reason: the error's code, or
    finer, e.g. a wrong password told apart from an altered file) and return
    the error to raise."""
    record(action, outcome, context, reason=error.audit_reason, **fields)
    return error


def require(context: Context, permission: str, action: str) -> None:
    """Services check the role too, so that no front end can skip it; a refusal is recorded."""
    if context.actor is None or not context.actor.has_perm(permission):
        raise refuse(action, context, Forbidden(), Outcome.DENIED)


@dataclass(frozen=True)
class Verification:
    events: int
    problem: chain.Problem | None

    @property
    def intact(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        problem = self.problem
        return {
            "intact": self.intact,
            "events": self.events,
            "problem": None
            if problem is None
            else {"kind": problem.kind, "sequence": problem.sequence, "message": problem.message},
        }


def check_chain() -> Verification:
    """Recompute the chain without recording anything (the command line uses
    this): one streaming pass, and only when it finds a break, a second pass
    with every link in memory to name it."""

    stored = ChainHead.objects.filter(pk=1).first()
    legacy_until = stored.legacy_until if stored is not None else 0

    def links() -> Iterator[chain.Link]:
        for event in AuditEvent.objects.filter(sequence__isnull=False).order_by("sequence", "id").iterator(
            chunk_size=2000
        ):
            content = event.content(legacy=(event.sequence or 0) <= legacy_until)
            yield chain.Link(event.sequence or 0, event.previous_mac or "", event.mac or "", content)

    def stored_head() -> tuple[int, str, str] | None:
        # The head row is written in the first event's transaction: no row, nothing recorded (or the row deleted).
        stored = ChainHead.objects.filter(pk=1).first()
        return None if stored is None else (stored.count, stored.last_mac, stored.seal)

    # The head first: events appended while this runs come after it, and chain on from it.
    head = stored_head()
    ok, count = chain.intact(log.audit_key(), links(), head)
    if not ok and head is None:
        # Nothing was recorded when the check began: the first events arrived
        # meanwhile.  Read the head they made and check against it.
        head = stored_head()
        ok, count = chain.intact(log.audit_key(), links(), head)
    if ok:
        return Verification(count, None)
    everything = list(links())
    return Verification(len(everything), chain.verify(log.audit_key(), everything, head))


def verify(context: Context) -> Verification:
    """Check the chain on a user's request, and record that it was checked."""
    result = check_chain()
    record(
        Action.VERIFY,
        Outcome.SUCCESS,
        context,
        reason="intact" if result.problem is None else f"broken_{result.problem.kind}",
        extra={"events": result.events},
    )
    return result


# Queries -------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    user: str = ""  # part of a username, any case
    action: str = ""
    outcome: str = ""
    domain: str = ""  # declared or predicted
    decision: str = ""  # the mismatch policy's (audit.models.Decision)
    # declared != predicted, whatever the policy decided (it allows an unsure
    # prediction): kept for the API's callers; `decision` is what to review
    mismatch: bool | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in self.__dict__.items()
            if v not in ("", None)
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EventFilter:
        """The filter `as_dict` wrote (e.g. kept with an export job)."""
        times = {k: datetime.fromisoformat(values[k]) for k in ("since", "until") if values.get(k)}
        return cls(**{**values, **times})


def events(where: EventFilter, actor: Any = None) -> QuerySet[AuditEvent]:
    """Events matching the filter; only `actor`'s own when an actor is given."""
    query = AuditEvent.objects.order_by("sequence")
    if actor is not None:
        query = query.filter(actor=actor)
    if where.user:
        query = query.filter(username__icontains=where.user)
    if where.action:
        query = query.filter(action=where.action)
    if where.outcome:
        query = query.filter(outcome=where.outcome)
    if where.domain:
        query = query.filter(Q(declared_domain=where.domain) | Q(predicted_domain=where.domain))
    if where.decision:
        query = query.filter(decision=where.decision)
    if where.mismatch is not None:
        query = query.filter(mismatch=where.mismatch)
    if where.since is not None:
        query = query.filter(created__gte=where.since)
    if where.until is not None:
        query = query.filter(created__lt=where.until)
    return query


EXPORT_FIELDS = (*AuditEvent.CONTENT_FIELDS, "previous_mac", "mac")
# The CSV's own columns, read out of `extra` for a spreadsheet (JSON Lines
# rows keep exactly the leaf's keys: the offline verifier rebuilds leaves from them).
CSV_FIELDS = (*EXPORT_FIELDS, "acknowledgment_reason")
EXPORT_FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


def export(where: EventFilter, fmt: str, context: Context) -> Iterator[str]:
    """The matching events as CSV or JSON Lines, streamed; the export itself is recorded first."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use csv or jsonl")
    query = events(where).filter(sequence__isnull=False)  # what the log holds: the sequenced events
    record(
        Action.EXPORT,
        Outcome.SUCCESS,
        context,
        extra={"format": fmt, "filter": where.as_dict(), "count": query.count()},
    )
    return _csv(query) if fmt == "csv" else _jsonl(query)


def acknowledgment_reason(event: AuditEvent) -> str:
    """The reason the user gave for an acknowledgment ("" for other events)."""
    if event.action != Action.ACKNOWLEDGE or not isinstance(event.extra, dict):
        return ""
    reason = event.extra.get("reason", "")
    return reason if isinstance(reason, str) else ""


def _row(event: AuditEvent) -> dict[str, Any]:
    return {**event.content(), "previous_mac": event.previous_mac, "mac": event.mac}


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _jsonl(query: QuerySet[AuditEvent]) -> Iterator[str]:
    for event in query.iterator(chunk_size=2000):
        yield json.dumps(_row(event), sort_keys=True) + "\n"


class _Echo:
    """A file that hands back what is written: the csv module formats, the response streams."""

    def write(self, line: str) -> str:
        return line


def _csv(query: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.DictWriter(_Echo(), fieldnames=CSV_FIELDS)
    yield writer.writeheader()
    for event in query.iterator(chunk_size=2000):
        row = _row(event)
        row["acknowledgment_reason"] = acknowledgment_reason(event)
        row["extra"] = json.dumps(row["extra"], sort_keys=True)
        yield writer.writerow({name: _cell(value) for name, value in row.items()})
