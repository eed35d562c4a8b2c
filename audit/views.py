"""The auditors' pages: the event table (filtered, paginated), an event's
detail, export links and the chain verification panel."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from accounts import roles
from classification.models import DOMAIN_CHOICES
from securepix_site.web import page, problem

from . import services
from .api import EventQuery
from .models import Action, AuditEvent, Outcome

PAGE_SIZE = 25


@require_GET
@page(roles.ALL_EVENTS)
def audit_page(request: HttpRequest) -> HttpResponse:
    context = {"actions": Action.choices, "outcomes": Outcome.choices, "domains": DOMAIN_CHOICES}
    return render(request, "audit/audit.html", {**context, **_table(request)})


@require_GET
@page(roles.ALL_EVENTS)
def audit_events(request: HttpRequest) -> HttpResponse:
    query = EventQuery(data=_filters(request))
    if not query.is_valid():
        field, errors = next(iter(query.errors.items()))
        return problem(request, "Bad filter", f"{field}: {errors[0]}", 400)
    return render(request, "audit/_events.html", _table(request))


def _filters(request: HttpRequest) -> dict[str, str]:
    """The filter form's non-empty fields."""
    return {key: str(value) for key in request.GET if key != "page" and (value := request.GET.get(key, ""))}


def _table(request: HttpRequest) -> dict[str, object]:
    values = _filters(request)
    query = EventQuery(data=values)
    where = services.EventFilter(**query.validated_data) if query.is_valid() else services.EventFilter()
    events = services.events(where).order_by("-sequence")
    paginator = Paginator(events, PAGE_SIZE)
    current = paginator.get_page(request.GET.get("page"))
    filters = urlencode(values)
    return {"page": current, "filters": filters, "total": paginator.count}


@require_GET
@page(roles.ALL_EVENTS)
def audit_event(request: HttpRequest, sequence: int) -> HttpResponse:
    event = get_object_or_404(AuditEvent, sequence=sequence)
    return render(request, "audit/_event.html", {"event": event})


@require_POST
@page(roles.VERIFY)
def audit_verify(request: HttpRequest) -> HttpResponse:
    result = services.verify(services.context_from(request))
    return render(request, "audit/_verification.html", {"result": result})
