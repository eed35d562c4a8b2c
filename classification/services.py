"""Classification for the web, the API and the command line: one classifier per
process, the mismatch policy from settings, and acknowledgments."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from audit.models import Action, AuditEvent, Outcome
from audit.models import Decision as AuditDecision
from audit.services import record, refuse, require
from core import permissions
from core.context import Context
from core.domains import ACKNOWLEDGE, ALLOW, BLOCK, DOMAINS
from core.errors import ErrorCode, InvalidInput, SecurePixError
from imaging import imagefile
from imaging.imagefile import DecodedImage, ParsedUpload

from .config import model_process_key, policy, resnet50_weights
from .contracts import ClassifyRequest, check_acknowledgment_reason, check_domain
from .engine import backbones
from .engine.classifier import Classification, DomainClassifier, warm_up_rendering
from .engine.model_process import RemoteVision
from .models import MismatchAcknowledgment
from .policy import Decision

log = logging.getLogger(__name__)

_classifier: DomainClassifier | None = None
_classifier_lock = threading.Lock()


def classifier(*, wait: float = 5.0) -> DomainClassifier:
    """The process's classifier, loaded on first use (the model is loaded once,
    here or, with SECUREPIX_MODEL_PROCESS, in the model process, which is
    waited for up to `wait` seconds: the warm-up waits longer).  Built outside
    the lock, so that a caller waiting for the model process holds up no
    other (two built at once load the backbone once: backbones.load)."""
    global _classifier
    if _classifier is not None:
        return _classifier
    socket = settings.SECUREPIX_MODEL_PROCESS
    built = DomainClassifier(
        settings.SECUREPIX_CLASSIFIER,
        resnet50_weights=resnet50_weights(),
        use_ocr=settings.SECUREPIX_OCR,
        min_confidence=settings.SECUREPIX_MISMATCH_THRESHOLD,
        vision=RemoteVision(Path(socket), model_process_key(), wait=wait) if socket else None,
    )
    with _classifier_lock:
        if _classifier is None:
            _classifier = built
        return _classifier


_warm = threading.Event()  # the classifier is loaded and has classified once
_warming: threading.Thread | None = None
_warm_up_failed_at: float | None = None  # when the last warm-up failed
_warming_lock = threading.Lock()
RETRY_WARM_UP_SECONDS = 30.0
# Under gunicorn's worker timeout (120 s): a web worker waits for its warm-up
# before it takes requests (gunicorn.conf.py).
MODEL_PROCESS_WAIT_SECONDS = 60.0


def warm_up() -> None:
    """Load the classifier and classify one small generated image, so that the
    first user's classification is as fast as the next (a model's first run is
    slow: graph building, allocations, the face detector's cascade)."""
    classifier(wait=MODEL_PROCESS_WAIT_SECONDS).classify(ParsedUpload(DecodedImage(warm_up_rendering(), "RGB", "PNG")))
    _warm.set()
    log.info("classifier %s loaded and warmed", model_name())


def _warm_up_or_say_why() -> None:
    global _warm_up_failed_at
    try:
        warm_up()
    except Exception:  # a thread's error would otherwise only reach stderr
        _warm_up_failed_at = time.monotonic()
        log.exception("the classifier could not be loaded and warmed; /readyz says failed")


def warm_up_in_background() -> threading.Thread:
    """Start the warm-up in a daemon thread, once per process (later calls
    return the same thread), or again RETRY_WARM_UP_SECONDS after it failed."""
    global _warming, _warm_up_failed_at
    with _warming_lock:
        retry = _warm_up_failed_at is not None and time.monotonic() - _warm_up_failed_at >= RETRY_WARM_UP_SECONDS
        if _warming is None or (retry and not _warming.is_alive()):
            _warm_up_failed_at = None
            _warming = threading.Thread(target=_warm_up_or_say_why, name="securepix-classifier-warm-up", daemon=True)
            _warming.start()
        return _warming


def readiness() -> str:
    """The classifier's state: "ready" once it is warm (and, with a model
    process, while that answers), "failed" if it could not be loaded (tried
    again every RETRY_WARM_UP_SECONDS while asked: a model process may come
    later) or its model process does not answer, else "loading" (and the
    warm-up starts if nothing started it)."""
    if _warm.is_set():
        vision = _classifier.vision if _classifier is not None else None
        return "failed" if isinstance(vision, RemoteVision) and not vision.answers() else "ready"
    warm_up_in_background()
    return "failed" if _warm_up_failed_at is not None else "loading"


def model_name() -> str:
    """The backbone in use (or that `auto` will pick), without loading it."""
    if _classifier is not None:
        return _classifier.model
    return backbones.resolve(settings.SECUREPIX_CLASSIFIER, resnet50_weights())


def parse(data: bytes) -> ParsedUpload:
    """An upload, parsed once for everything that follows (within the pixel limit)."""
    return imagefile.parse(data, settings.SECUREPIX_MAX_PIXELS)


def decide(declared: str, result: Classification) -> Decision:
    return policy().decide(declared, result.domain, result.confidence, result.leaning)


def preview_decision(
    *, declared: str, predicted: str, confidence: float, leaning: tuple[str, float] | None = None
) -> Decision | None:
    """What the policy will decide for a file declared `declared` ("" while the
    user has not chosen: None) that was predicted `predicted` with `confidence`
    (and `leaning`, Classification.leaning), for the page to show per file
    before encrypting (`do_encrypt` classifies and decides again)."""
    if predicted not in DOMAINS:
        raise InvalidInput({"predicted": [f"unknown domain {predicted!r}; choose one of {', '.join(DOMAINS)}"]})
    for name, value in (("confidence", confidence), ("leaning", leaning[1] if leaning else 0.0)):
        if not 0.0 <= value <= 1.0:  # also refuses NaN
            raise InvalidInput({name: ["must be a number from 0 to 1"]})
    if leaning is not None and leaning[0] not in DOMAINS:
        raise InvalidInput({"leaning": [f"unknown domain {leaning[0]!r}; choose one of {', '.join(DOMAINS)}"]})
    if not declared:
        return None
    check_domain(declared)
    return policy().decide(declared, predicted, confidence, leaning)


# What the audit trail records of the policy's decision on a declared domain.
RECORDED_DECISIONS = {
    ALLOW: AuditDecision.ALLOW,
    ACKNOWLEDGE: AuditDecision.ACKNOWLEDGMENT_REQUIRED,
    BLOCK: AuditDecision.BLOCKED,
}


def prediction_fields(declared: str, result: Classification) -> dict[str, Any]:
    """What an audit event says of a classification."""
    return {
        "declared_domain": declared,
        "predicted_domain": result.domain,
        "confidence": result.confidence,
        "mismatch": bool(declared) and result.domain != declared,
        "model_name": result.model,
    }


@dataclass(frozen=True)
class Classified:
    result: Classification
    decision: Decision | None  # with a declared domain only
    event: AuditEvent  # the receipt


def do_classify(*, context: Context, request: ClassifyRequest) -> Classified:
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
    event = record(
        Action.CLASSIFY,
        Outcome.SUCCESS,
        context,
        **prediction_fields(declared, result),
        decision=RECORDED_DECISIONS[decision.action] if decision else "",
        image_bytes=size,
    )
    return Classified(result, decision, event)


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
            decision=AuditDecision.ACKNOWLEDGED,
            # the user's reason is what auditors review; the encryption is the event of the same request
            extra={"acknowledgment": acknowledgment.pk, "reason": acknowledgment.reason},
        )
    return acknowledgment
