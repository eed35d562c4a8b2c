"""Classification for the web, the API and the command line: one classifier per
process, the mismatch policy from settings, and acknowledgments."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.db import transaction

from audit.models import Action, AuditEvent, Outcome
from audit.services import record, refuse, require
from core import permissions
from core.context import Context
from core.domains import ACKNOWLEDGE
from core.errors import ErrorCode, SecurePixError
from imaging import imagefile
from imaging.imagefile import ParsedUpload

from .config import policy, resnet50_weights
from .contracts import ClassifyRequest, check_acknowledgment_reason, check_domain
from .engine import backbones
from .engine.classifier import Classification, DomainClassifier
from .models import MismatchAcknowledgment
from .policy import Decision

_classifier: DomainClassifier | None = None
_classifier_lock = threading.Lock()


def classifier() -> DomainClassifier:
    """The process's classifier, loaded on first use (the model is loaded once)."""
    global _classifier
    with _classifier_lock:
        if _classifier is None:
            _classifier = DomainClassifier(
                settings.SECUREPIX_CLASSIFIER,
                resnet50_weights=resnet50_weights(),
                use_ocr=settings.SECUREPIX_OCR,
                min_confidence=settings.SECUREPIX_MISMATCH_THRESHOLD,
            )
        return _classifier


def model_name() -> str:
    """The backbone in use (or that `auto` will pick), without loading it."""
    if _classifier is not None:
        return _classifier.backbone.name
    return backbones.resolve(settings.SECUREPIX_CLASSIFIER, resnet50_weights())


def parse(data: bytes) -> ParsedUpload:
    """An upload, parsed once for everything that follows (within the pixel limit)."""
    return imagefile.parse(data, settings.SECUREPIX_MAX_PIXELS)


def decide(declared: str, result: Classification) -> Decision:
    return policy().decide(declared, result.domain, result.confidence)


def prediction_fields(declared: str, result: Classification) -> dict[str, Any]:
    """What an audit event says of a classification."""
    return {
        "declared_domain": declared,
        "predicted_domain": result.domain,
        "confidence": result.confidence,
        "mismatch": bool(declared) and result.domain != declared,
        "model_name": result.model,
    }


def do_classify(*, context: Context, request: ClassifyRequest) -> tuple[Classification, Decision | None]:
    """Classify an image for a user, with the policy's decision when a domain is declared; recorded."""
    require(context, permissions.CLASSIFY, Action.CLASSIFY)
    size = len(request.upload.data)
    try:
        request.check()
        result = classifier().classify(parse(request.upload.data))
    except SecurePixError as error:
        refuse(Action.CLASSIFY, context, error, image_bytes=size)
        raise
    declared = request.declared_domain
    decision = decide(declared, result) if declared else None
    record(
        Action.CLASSIFY,
        Outcome.SUCCESS,
        context,
        **prediction_fields(declared, result),
        image_bytes=size,
        extra={"decision": decision.action} if decision else {},
    )
    return result, decision


def do_acknowledge(
    *, context: Context, declared: str, result: Classification, reason: str, encryption: AuditEvent | None = None
) -> MismatchAcknowledgment:
    """Record that the user handles an image as `declared` despite the
    prediction, linked to the encryption's audit event."""
    check_domain(declared)
    decision = decide(declared, result)
    if decision.action != ACKNOWLEDGE:
        raise SecurePixError(
            f"no acknowledgment is needed or possible here: {decision.reason}", code=ErrorCode.NO_ACKNOWLEDGMENT_NEEDED
        )
    check_acknowledgment_reason(reason)
    with transaction.atomic():
        acknowledgment = MismatchAcknowledgment.objects.create(
            user=context.actor,
            declared_domain=declared,
            predicted_domain=result.domain,
            confidence=result.confidence,
            top_label=result.top5[0][0] if result.top5 else "",
            reasons=result.reasons,
            model_name=result.model,
            reason=reason.strip(),
            audit_event=encryption,
        )
        record(
            Action.ACKNOWLEDGE,
            Outcome.SUCCESS,
            context,
            **prediction_fields(declared, result),
            extra={
                "acknowledgment": acknowledgment.pk,
                "encryption_event": encryption.sequence if encryption else None,
            },
        )
    return acknowledgment
