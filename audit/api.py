"""Audit events for auditors (filter, export, verify) and each user's own history."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import permissions
from core.domains import DOMAIN_CHOICES
from web.auth import requires
from web.context import context_from

from . import services
from .models import Action, AuditEvent, Outcome


class EventQuery(serializers.Serializer[Any]):
    user = serializers.CharField(required=False, max_length=150)
    action = serializers.ChoiceField(choices=Action.choices, required=False)
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
    domain = serializers.ChoiceField(choices=DOMAIN_CHOICES, required=False, help_text="declared or predicted")
    mismatch = serializers.BooleanField(required=False, allow_null=True, default=None)
    since = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive")

    def to_filter(self) -> services.EventFilter:
        """The validated filter (400 with the field's error when invalid)."""
        self.is_valid(raise_exception=True)
        names = {field.name for field in dataclasses.fields(services.EventFilter)}
        return services.EventFilter(**{k: v for k, v in self.validated_data.items() if k in names})


class ExportQuery(EventQuery):
    format = serializers.ChoiceField(choices=list(services.EXPORT_FORMATS), default="jsonl")


class EventSerializer(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        exclude = ["id", "actor"]


class EventList(generics.ListAPIView[AuditEvent]):
    """Every user's events, filtered, oldest first, paginated (limit/offset)."""

    permission_classes = [requires(permissions.ALL_EVENTS)]
    serializer_class = EventSerializer

    @extend_schema(parameters=[EventQuery])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return services.events(EventQuery(data=self.request.query_params).to_filter())


class History(EventList):
    """Your own events, with the same filters."""

    permission_classes = [requires(permissions.OWN_HISTORY)]

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return services.events(EventQuery(data=self.request.query_params).to_filter(), actor=self.request.user)


class Export(APIView):
    """The filtered events as CSV or JSON Lines (the export itself is recorded)."""

    permission_classes = [requires(permissions.EXPORT)]

    @extend_schema(parameters=[ExportQuery], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request) -> StreamingHttpResponse:
        query = ExportQuery(data=request.query_params)
        where = query.to_filter()
        fmt = query.validated_data["format"]
        lines = services.export(where, fmt, context_from(request))
        response = StreamingHttpResponse(lines, content_type=services.EXPORT_FORMATS[fmt])
        response["Content-Disposition"] = f'attachment; filename="securepix-audit.{fmt}"'
        return response


class VerificationResult(serializers.Serializer[Any]):
    intact = serializers.BooleanField()
    events = serializers.IntegerField()
    problem = serializers.DictField(allow_null=True)


class Verify(APIView):
    """Recompute the chain; name the first altered, deleted, inserted or reordered event."""

    permission_classes = [requires(permissions.VERIFY)]

    @extend_schema(responses=VerificationResult)
    def get(self, request: Request) -> Response:
        return Response(services.verify(context_from(request)).as_dict())
