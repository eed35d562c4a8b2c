"""Classification for the web, the API and the command line: one classifier per
process, the mismatch policy from settings, and acknowledgments."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from accounts import roles
from audit.errors import ServiceError
from audit.models import Action, AuditEvent, Outcome
from audit.services import Context, failed, record, refuse, require
from cipher.engine.errors import SecurePixError
from cipher.engine.imagefile import DecodedImage

from .engine.classifier import Classification, DomainClassifier
from .engine.domains import DOMAINS
from .models import MismatchAcknowledgment
from .policy import ACKNOWLEDGE, Decision, MismatchPolicy

_classifier: DomainClassifier | None = None
_classifier_lock = threading.Lock()


def classifier() -> DomainClassifier:
    """The process's classifier, loaded on first use (the model is loaded once)."""
    global _classifier
    with _classifier_lock:
        if _classifier is None:
            _classifier = DomainClassifier(
                settings.SECUREPIX_CLASSIFIER,
                use_ocr=settings.SECUREPIX_OCR,
                min_confidence=settings.SECUREPIX_MISMATCH_THRESHOLD,
            )
        return _classifier


def model_name() -> str:
    """The backbone in use (or that `auto` will pick), without loading it."""
    if _classifier is not None:
        return _classifier.backbone.name
    from .engine.backbones import resolve

    return resolve(settings.SECUREPIX_CLASSIFIER)


def policy() -> MismatchPolicy:
    return MismatchPolicy.parse(
        settings.SECUREPIX_MISMATCH_THRESHOLD, settings.SECUREPIX_MISMATCH_DEFAULT, settings.SECUREPIX_MISMATCH_RULES
    )


def classify_image(data: bytes, decoded: DecodedImage | None = None) -> Classification:
    return classifier().classify(data, max_pixels=settings.SECUREPIX_MAX_PIXELS, decoded=decoded)


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


def bad_domain(declared: str) -> ServiceError:
    return ServiceError("bad_domain", f"unknown domain {declared!r}; choose one of {', '.join(DOMAINS)}")


def classify(context: Context, data: bytes, declared: str = "") -> tuple[Classification, Decision | None]:
    """Classify an image for a user, with the policy's decision when a domain is declared; recorded."""
    require(context, roles.CLASSIFY, Action.CLASSIFY)
    if declared and declared not in DOMAINS:
        raise refuse(Action.CLASSIFY, context, bad_domain(declared), image_bytes=len(data))
    try:
        result = classify_image(data)
    except SecurePixError as error:
        failed(Action.CLASSIFY, context, error, image_bytes=len(data))
        raise
    decision = decide(declared, result) if declared else None
    record(
        Action.CLASSIFY,
        Outcome.SUCCESS,
        context,
        **prediction_fields(declared, result),
        image_bytes=len(data),
        extra={"decision": decision.action} if decision else {},
    )
    return result, decision


def acknowledge_mismatch(
    context: Context, declared: str, result: Classification, reason: str, encryption: AuditEvent | None = None
) -> MismatchAcknowledgment:
    """Record that the user handles an image as `declared` despite the
    prediction, linked to the encryption's audit event."""
    decision = decide(declared, result)
    if decision.action != ACKNOWLEDGE:
        raise ServiceError(
            "no_acknowledgment_needed", f"no acknowledgment is needed or possible here: {decision.reason}"
        )
    if not reason.strip():
        raise ServiceError("acknowledgment_reason_missing", "an acknowledgment needs a reason")
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
        extra={"acknowledgment": acknowledgment.pk, "encryption_event": encryption.sequence if encryption else None},
    )
    return acknowledgment
