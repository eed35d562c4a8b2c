"""The auditors' pages: the event table (filtered, paginated, the filter kept
in the address), an event's detail in words, export links and the chain
verification panel."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from core import permissions
from core.domains import DOMAIN_CHOICES
from web.context import context_from
from web.pages import page, problem

from . import log, services
from .api import EventQuery
from .models import Action, AuditEvent, Decision, Outcome

PAGE_SIZE = 25
RELATED_EVENTS = 20  # one request makes an encryption and its acknowledgment: a handful at most

# What each key of an event's `extra` means, in the detail (other keys: their name in words).
EXTRA_LABELS = {
    "reason": "Reason given",
    "acknowledgment": "Acknowledgment record",  # its id in /api/v1/acknowledgments
    "encryption_event": "Encryption",  # events recorded before acknowledgments carried their reason
    "cipher": "Cipher",
    "token": "API token",
    "owner": "Token owner",
    "format": "Export format",
    "filter": "Export filter",
    "count": "Events exported",
    "events": "Events checked",
    "message": "Message",
    "size": "Tree size",
    "model": "Record type",
    "object": "Record id",
    "name": "Record",
    "change": "Fields changed",
    "values": "Values set",
}
EXPORT_FORMAT_NAMES = {"csv": "CSV", "jsonl": "JSON Lines"}
EVENT_LINKS = {"encryption_event"}  # extra keys whose value is another event's sequence


@dataclass(frozen=True)
class Row:
    """A table row: the event, and the reason given for it: its own (an
    acknowledgment's) or, for an encryption, its acknowledgment's (`source`)."""

    event: AuditEvent
    reason_given: str = ""
    source: AuditEvent | None = None

    @property
    def outcome_reason(self) -> str:
        """The outcome's reason code, as words that wrap in a narrow column."""
        return self.event.reason.replace("_", " ")


@dataclass(frozen=True)
class Fact:
    """One line of an event's detail: a label, the value in words, and the event it links to."""

    label: str
    text: str
    sequence: int | None = None


@require_GET
@page(permissions.ALL_EVENTS)
def audit_page(request: HttpRequest) -> HttpResponse:
    values, query = _query(request)
    valid = query.is_valid()
    where = query.to_filter() if valid else services.EventFilter()
    context = {
        "actions": Action.choices,
        "outcomes": Outcome.choices,
        "decisions": Decision.choices,
        "domains": DOMAIN_CHOICES,
        "chosen": values,
        "filter_problem": "" if valid else _first_error(query),
        "mismatch": where.mismatch,  # from an older link: the page no longer offers this filter
        "without_mismatch": urlencode({k: v for k, v in values.items() if k != "mismatch"}),
        **_signed_log(),
    }
    return render(request, "audit/audit.html", {**context, **_table(request, where, values)})


def _signed_log() -> dict[str, object]:
    """The latest signed checkpoint, its witnesses' cosignatures and their age (docs/AUDIT.md)."""
    log.refresh_if_stale()  # as the checkpoint endpoint: never waits for a busy sequencer
    checkpoint = log.latest_checkpoint()
    return {
        "checkpoint": checkpoint,
        "checkpoint_root": log.b64(bytes(checkpoint.root_hash)),
        "cosignatures": checkpoint.cosignatures.order_by("witness"),
        "log_key": log.verifier_key(),
    }


@require_GET
@page(permissions.ALL_EVENTS)
def audit_events(request: HttpRequest) -> HttpResponse:
    values, query = _query(request)
    if not query.is_valid():
        return problem(request, "Bad filter", _first_error(query), 400)
    response = render(request, "audit/_events.html", _table(request, query.to_filter(), values))
    # The address bar shows the page itself with this filter: a reload or a shared link shows the same events.
    shown = {**values, **({"page": request.GET["page"]} if request.GET.get("page", "1") != "1" else {})}
    response["HX-Push-Url"] = reverse("audit") + (f"?{urlencode(shown)}" if shown else "")
    return response


def _query(request: HttpRequest) -> tuple[dict[str, str], EventQuery]:
    """The filter form's non-empty fields, and their validation."""
    values = {key: str(value) for key in request.GET if key != "page" and (value := request.GET.get(key, ""))}
    return values, EventQuery(data=values)


def _first_error(query: EventQuery) -> str:
    field, errors = next(iter(query.errors.items()))
    return f"{field}: {errors[0]}"


def _table(request: HttpRequest, where: services.EventFilter, values: dict[str, str]) -> dict[str, object]:
    """One page of the matching events, newest first (events still waiting for
    their number are the newest), and the filter as a query string for the links."""
    newest_first = services.events(where).order_by(F("sequence").desc(nulls_first=True), "-id")
    paginator = Paginator(newest_first, PAGE_SIZE)
    shown = paginator.get_page(request.GET.get("page"))
    return {"page": shown, "rows": _rows(shown), "filters": urlencode(values), "total": paginator.count}


def _rows(events: Iterable[AuditEvent]) -> list[Row]:
    """The page's events with the reasons given: an encryption allowed after an
    acknowledgment shows the reason recorded by its acknowledgment, the next
    acknowledgment event of its request and user (one transaction makes both)."""
    events = list(events)
    acknowledged = [e for e in events if e.action == Action.ENCRYPT and e.decision == Decision.ACKNOWLEDGED]
    requests = {e.request_id for e in acknowledged if e.request_id}
    candidates = list(AuditEvent.objects.filter(action=Action.ACKNOWLEDGE, request_id__in=requests).order_by("id"))
    rows = []
    for event in events:
        source = None
        if event in acknowledged:
            mine = (a for a in candidates if (a.request_id, a.actor_id) == (event.request_id, event.actor_id))
            source = next((a for a in mine if a.pk > event.pk), None)
        rows.append(Row(event, services.acknowledgment_reason(source or event), source))
    return rows


@require_GET
@page(permissions.ALL_EVENTS)
def audit_event(request: HttpRequest, sequence: int) -> HttpResponse:
    """An event in words: as a fragment for the page's dialog, or as a page of its own (a link to share)."""
    event = get_object_or_404(AuditEvent, sequence=sequence)
    in_dialog = bool(getattr(request, "htmx", False))
    context = {"event": event, "facts": _facts(event), "related": _related(event), "in_dialog": in_dialog}
    return render(request, "audit/_event.html" if in_dialog else "audit/event.html", context)


def _facts(event: AuditEvent) -> list[Fact]:
    """What the event's `extra` holds, with labels a person reads."""
    extra = event.extra if isinstance(event.extra, dict) else {"extra": event.extra}
    facts = []
    for key, value in extra.items():
        label = EXTRA_LABELS.get(key, key.replace("_", " ").capitalize())
        if key in EVENT_LINKS and isinstance(value, int):
            facts.append(Fact(label, f"#{value}", value))
        elif key == "acknowledgment" and isinstance(value, int):
            facts.append(Fact(label, f"#{value}"))
        elif key == "format" and event.action == Action.EXPORT:
            facts.append(Fact(label, EXPORT_FORMAT_NAMES.get(str(value), str(value))))
        else:
            facts.append(Fact(label, _in_words(value)))
    return facts


def _in_words(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_in_words(item) for item in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{key.replace('_', ' ')}: {_in_words(item)}" for key, item in value.items()) or "none"
    return str(value)


def _related(event: AuditEvent) -> list[AuditEvent]:
    """The other events of the same request: an encryption and its acknowledgment."""
    if not event.request_id:
        return []
    same_request = AuditEvent.objects.filter(request_id=event.request_id, sequence__isnull=False).exclude(pk=event.pk)
    return list(same_request.order_by("sequence")[:RELATED_EVENTS])


@require_POST
@page(permissions.VERIFY)
def audit_verify(request: HttpRequest) -> HttpResponse:
    result = services.verify(context_from(request))
    return render(request, "audit/_verification.html", {"result": result})
