"""POST /api/v1/classify and GET /api/v1/acknowledgments."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import permissions
from core.domains import DOMAIN_CHOICES
from web.auth import Authenticated, requires
from web.context import context_from
from web.uploads import uploads

from . import services
from .contracts import ClassifyRequest
from .models import MismatchAcknowledgment


class ClassifyForm(serializers.Serializer[Any]):
    """The schema of ClassifyRequest (classification/contracts.py)."""

    image = serializers.FileField()
    declared_domain = serializers.ChoiceField(
        choices=DOMAIN_CHOICES, required=False, help_text="to get the policy's decision"
    )


class ClassificationResult(serializers.Serializer[Any]):
    domain = serializers.ChoiceField(choices=DOMAIN_CHOICES)
    confidence = serializers.FloatField()
    scores = serializers.DictField(child=serializers.FloatField())
    top5 = serializers.ListField(child=serializers.ListField())
    model = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())
    ocr = serializers.CharField()
    head = serializers.CharField(allow_null=True)
    decision = serializers.CharField(
        allow_null=True, help_text="allow, acknowledge or block; null with no declared domain"
    )
    decision_reason = serializers.CharField(allow_null=True)


class ClassifyView(APIView):
    """The image's content domain, with reasons; never stores the image."""

    permission_classes = [requires(permissions.CLASSIFY)]
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": ClassifyForm}, responses=ClassificationResult)
    def post(self, request: Request) -> Response:
        contract = ClassifyRequest.from_form(request.data, uploads(request, "image"))
        done = services.do_classify(context=context_from(request), request=contract)
        result, decision = done.result, done.decision
        response = Response(
            {
                **result.as_dict(),
                "decision": decision.action if decision else None,
                "decision_reason": decision.reason if decision else None,
            }
        )
        return response


class AcknowledgmentSerializer(serializers.ModelSerializer[MismatchAcknowledgment]):
    username = serializers.CharField(source="user.username", read_only=True)
    audit_event = serializers.IntegerField(source="audit_event.sequence", read_only=True, allow_null=True)

    class Meta:
        model = MismatchAcknowledgment
        fields = [
            "id", "username", "created", "declared_domain", "predicted_domain", "confidence", "top_label",
            "reasons", "model_name", "reason", "audit_event",
        ]  # fmt: skip


class AcknowledgmentList(generics.ListAPIView[MismatchAcknowledgment]):
    """Your acknowledgments; every user's for auditors."""

    permission_classes = [Authenticated]
    serializer_class = AcknowledgmentSerializer

    def get_queryset(self) -> QuerySet[MismatchAcknowledgment]:
        query = MismatchAcknowledgment.objects.select_related("user", "audit_event").order_by("-created", "-id")
        user = self.request.user
        if user.has_perm(permissions.ALL_ACKNOWLEDGMENTS):
            return query
        if user.has_perm(permissions.OWN_HISTORY):
            return query.filter(user=cast(Any, user))
        return query.none()
