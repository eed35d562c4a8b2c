"""Audit events for auditors (filter, export, verify) and each user's own history."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, renderers, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import permissions
from core.domains import DOMAIN_CHOICES
from core.errors import Forbidden
from web.auth import requires
from web.context import context_from
from web.throttles import CosignatureAddressThrottle

from . import log, services
from .models import Action, AuditEvent, Decision, Outcome


class EventQuery(serializers.Serializer[Any]):
    user = serializers.CharField(required=False, max_length=150, help_text="part of the username, any case")
    action = serializers.ChoiceField(choices=Action.choices, required=False)
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
    domain = serializers.ChoiceField(choices=DOMAIN_CHOICES, required=False, help_text="declared or predicted")
    decision = serializers.ChoiceField(
        choices=Decision.choices, required=False, help_text="what the mismatch policy decided"
    )
    mismatch = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="declared differs from predicted, even where the policy allowed it (an unsure prediction): "
        "filter on `decision` to review what the policy held or blocked",
    )
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

    @extend_schema(
        parameters=[ExportQuery],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/x-ndjson"): OpenApiTypes.STR},
    )
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


# The verifiable log (docs/AUDIT.md) ------------------------------------------


NOTE_BYTES = 64 * 1024  # a cosigned checkpoint is a few hundred bytes


class PlainTextRenderer(renderers.BaseRenderer):
    """Text bodies (checkpoints, keys); errors go through the JSON renderer (PlainTextView)."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return str(data).encode()


class PlainTextView(APIView):
    """Answers text/plain, and its errors in the one JSON error shape."""

    renderer_classes = [PlainTextRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response


class CheckpointView(PlainTextView):
    """GET: the latest signed checkpoint (C2SP tlog-checkpoint as a signed note,
    with the witnesses' cosignature lines), for anyone: it reveals only the
    number of events. POST (auditors): sign one now."""

    def get_permissions(self) -> list[Any]:
        return [AllowAny()] if self.request.method == "GET" else [requires(permissions.VERIFY)()]

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR})
    def get(self, request: Request) -> Response:
        log.refresh_if_stale()  # never waits for the sequencer: anyone may ask, as often as they like
        return Response(log.served_note(log.latest_checkpoint()))

    @extend_schema(request=None, responses={(200, "text/plain"): OpenApiTypes.STR})
    def post(self, request: Request) -> Response:
        return Response(log.served_note(log.checkpoint_now()))


class KeyView(PlainTextView):
    """The log's public key in the signed-note verifier-key format
    (`<name>+<key hash>+<base64 of 0x01 || Ed25519 public key>`), for anyone;
    with `?all=1`, the keys it signed with before a rotation too, one a line
    (a checkpoint's note names its key by its hash)."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("all", bool, description="also the rotated-out keys")],
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> Response:
        keys = [v.verifier_key for v in log.verifiers()] if request.query_params.get("all") else [log.verifier_key()]
        return Response("".join(key + "\n" for key in keys))


class InclusionQuery(serializers.Serializer[Any]):
    index = serializers.IntegerField(min_value=0, help_text="the leaf: the event's sequence number - 1")
    size = serializers.IntegerField(min_value=1, help_text="the tree size of a checkpoint")


class InclusionProof(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    size = serializers.IntegerField()
    leaf_hash = serializers.CharField(help_text="base64")
    proof = serializers.ListField(child=serializers.CharField(), help_text="RFC 9162 audit path, base64")


class InclusionView(APIView):
    """The RFC 9162 inclusion proof of leaf `index` in the tree of `size`
    leaves, with the leaf's canonical bytes (`leaf`, base64). Auditors may ask
    for any event; every user for their own (`securepix audit receipt`)."""

    permission_classes = [requires(permissions.OWN_HISTORY)]

    @extend_schema(parameters=[InclusionQuery], responses=InclusionProof)
    def get(self, request: Request) -> Response:
        query = InclusionQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        index, size = query.validated_data["index"], query.validated_data["size"]
        event = AuditEvent.objects.filter(sequence=index + 1).first()
        mine = event is not None and event.actor_id == request.user.pk
        if not (mine or request.user.has_perm(permissions.ALL_EVENTS)):
            raise Forbidden("you may ask for the proofs of your own events only")
        leaf, proof = log.inclusion_proof(index, size)
        body = {"index": index, "size": size, "leaf_hash": log.b64(leaf), "proof": [log.b64(p) for p in proof]}
        if event is not None:
            body["leaf"] = log.b64(log.leaf_bytes(event))
        return Response(body)


class ConsistencyQuery(serializers.Serializer[Any]):
    from_ = serializers.IntegerField(min_value=1)
    to = serializers.IntegerField(min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = self.fields.pop("from_")


class ConsistencyProof(serializers.Serializer[Any]):
    proof = serializers.ListField(child=serializers.CharField(), help_text="RFC 9162 consistency proof, base64")


class ConsistencyView(APIView):
    """The RFC 9162 consistency proof between the trees of `from` and `to` leaves."""

    permission_classes = [requires(permissions.ALL_EVENTS)]

    @extend_schema(parameters=[ConsistencyQuery], responses=ConsistencyProof)
    def get(self, request: Request) -> Response:
        query = ConsistencyQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        old, new = query.validated_data["from_"], query.validated_data["to"]  # "from" is a keyword
        proof = log.consistency_proof(old, new)
        return Response({"from": old, "to": new, "proof": [log.b64(p) for p in proof]})


class LeavesQuery(serializers.Serializer[Any]):
    start = serializers.IntegerField(min_value=0)
    end = serializers.IntegerField(min_value=1, help_text=f"exclusive; at most {log.LEAVES_PAGE} leaves a request")


class Leaves(serializers.Serializer[Any]):
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    leaves = serializers.ListField(child=serializers.CharField(), help_text="each event's canonical bytes, base64")


class LeavesView(APIView):
    """The canonical bytes of leaves [start, end): a verifier rebuilds the tree from them."""

    permission_classes = [requires(permissions.ALL_EVENTS)]

    @extend_schema(parameters=[LeavesQuery], responses=Leaves)
    def get(self, request: Request) -> Response:
        query = LeavesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        return Response({"start": start, "end": end, "leaves": [log.b64(leaf) for leaf in log.leaves(start, end)]})


class CosignatureView(APIView):
    """POST a witness's copy of a checkpoint (the signed note with its
    cosignature line): cosignatures that verify against a configured witness
    key are kept and served with the checkpoint."""

    permission_classes = [AllowAny]  # the cosignature itself is the credential
    throttle_classes = [CosignatureAddressThrottle]

    @extend_schema(request={"text/plain": OpenApiTypes.STR}, responses={200: dict[str, Any]})
    def post(self, request: Request) -> Response:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = NOTE_BYTES + 1
        if declared > NOTE_BYTES:  # before the body is read
            raise log.LogError(f"a cosigned checkpoint is at most {NOTE_BYTES} bytes")
        accepted = log.add_cosignature(request.body.decode("utf-8", errors="replace"))
        return Response({"accepted": [{"witness": a.witness, "signed_at": a.signed_at.isoformat()} for a in accepted]})


class AlertRequest(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=["rollback", "truncation", "fork", "wipe", "bad_signature", "bad_proof"])
    message = serializers.CharField(max_length=2000)
    size = serializers.IntegerField(min_value=0, required=False)


class AlertView(APIView):
    """A witness reports what it caught (an auditor's token): recorded as an audit event."""

    permission_classes = [requires(permissions.VERIFY)]

    @extend_schema(request=AlertRequest, responses={201: dict[str, Any]})
    def post(self, request: Request) -> Response:
        form = AlertRequest(data=request.data)
        form.is_valid(raise_exception=True)
        values = form.validated_data
        event = services.record(
            Action.WITNESS_ALERT,
            Outcome.FAILURE,
            context_from(request),
            reason=values["kind"],
            extra={"message": values["message"], "size": values.get("size")},
        )
        return Response({"recorded": event.pk}, status=201)
