"""The auditors' pages: the event table (filtered, paginated), an event's
detail, export links and the chain verification panel."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from core import permissions
from core.domains import DOMAIN_CHOICES
from web.context import context_from
from web.pages import page, problem

from . import services
from .api import EventQuery
from .models import Action, AuditEvent, Outcome

PAGE_SIZE = 25


@require_GET
@page(permissions.ALL_EVENTS)
def audit_page(request: HttpRequest) -> HttpResponse:
    values, query = _query(request)
    where = query.to_filter() if query.is_valid() else services.EventFilter()
    context = {"actions": Action.choices, "outcomes": Outcome.choices, "domains": DOMAIN_CHOICES}
    return render(request, "audit/audit.html", {**context, **_table(request, where, values)})


@require_GET
@page(permissions.ALL_EVENTS)
def audit_events(request: HttpRequest) -> HttpResponse:
    values, query = _query(request)
    if not query.is_valid():
        field, errors = next(iter(query.errors.items()))
        return problem(request, "Bad filter", f"{field}: {errors[0]}", 400)
    return render(request, "audit/_events.html", _table(request, query.to_filter(), values))


def _query(request: HttpRequest) -> tuple[dict[str, str], EventQuery]:
    """The filter form's non-empty fields, and their validation."""
    values = {key: str(value) for key in request.GET if key != "page" and (value := request.GET.get(key, ""))}
    return values, EventQuery(data=values)


def _table(request: HttpRequest, where: services.EventFilter, values: dict[str, str]) -> dict[str, object]:
    """One page of the matching events, newest first, and the filter as a query string for the links."""
    paginator = Paginator(services.events(where).order_by("-sequence"), PAGE_SIZE)
    return {"page": paginator.get_page(request.GET.get("page")), "filters": urlencode(values), "total": paginator.count}


@require_GET
@page(permissions.ALL_EVENTS)
def audit_event(request: HttpRequest, sequence: int) -> HttpResponse:
    event = get_object_or_404(AuditEvent, sequence=sequence)
    return render(request, "audit/_event.html", {"event": event})


@require_POST
@page(permissions.VERIFY)
def audit_verify(request: HttpRequest) -> HttpResponse:
    result = services.verify(context_from(request))
    return render(request, "audit/_verification.html", {"result": result})
