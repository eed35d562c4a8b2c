"""Classification for the web, the API and the command line: one classifier per
process, the mismatch policy from settings, and acknowledgments."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from .engine.classifier import Classification, DomainClassifier
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


def policy() -> MismatchPolicy:
    return MismatchPolicy.parse(
        settings.SECUREPIX_MISMATCH_THRESHOLD, settings.SECUREPIX_MISMATCH_DEFAULT, settings.SECUREPIX_MISMATCH_RULES
    )


def classify_image(data: bytes) -> Classification:
    return classifier().classify(data, max_pixels=settings.SECUREPIX_MAX_PIXELS)


def decide(declared: str, result: Classification) -> Decision:
    return policy().decide(declared, result.domain, result.confidence)


def acknowledge_mismatch(user: Any, declared: str, result: Classification, reason: str) -> MismatchAcknowledgment:
    """Record that `user` handles an image as `declared` despite the prediction."""
    decision = decide(declared, result)
    if decision.action != ACKNOWLEDGE:
        raise ValidationError(f"no acknowledgment is needed or possible here: {decision.reason}")
    if not reason.strip():
        raise ValidationError("an acknowledgment needs a reason")
    return MismatchAcknowledgment.objects.create(
        user=user,
        declared_domain=declared,
        predicted_domain=result.domain,
        confidence=result.confidence,
        top_label=result.top5[0][0] if result.top5 else "",
        reasons=result.reasons,
        model_name=result.model,
        reason=reason.strip(),
    )
