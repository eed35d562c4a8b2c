"""Encryption and decryption for the web and the API, each recorded in the
audit trail, failures included (wrong password, altered file, bad image,
policy block).  Passwords and image bytes stay in memory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from accounts import roles
from audit.errors import ServiceError
from audit.models import Action, AuditEvent, Outcome
from audit.services import Context, failed, record, refuse, require
from classification import services as classification
from classification.engine.classifier import Classification
from classification.engine.domains import DOMAINS
from classification.models import MismatchAcknowledgment
from classification.policy import ACKNOWLEDGE, BLOCK, Decision

from .engine import imagefile
from .engine.envelope import CIPHERS, decrypt_file, encrypt_image
from .engine.errors import SecurePixError
from .engine.imagefile import DecodedImage

MIME_TYPES = {".png": "image/png", ".dcm": "application/dicom", ".tiff": "image/tiff"}


@dataclass(frozen=True)
class Encrypted:
    data: bytes
    image: DecodedImage  # what was encrypted, in memory only
    classification: Classification
    decision: Decision
    event: AuditEvent
    acknowledgment: MismatchAcknowledgment | None


@dataclass(frozen=True)
class Decrypted:
    data: bytes
    suffix: str  # .png, .dcm or .tiff
    image: DecodedImage
    event: AuditEvent

    @property
    def content_type(self) -> str:
        return MIME_TYPES[self.suffix]


class MismatchNeedsAcknowledgment(ServiceError):
    def __init__(self, result: Classification, decision: Decision) -> None:
        super().__init__(
            "acknowledgment_required",
            f"{decision.reason}; acknowledge the mismatch with a reason to encrypt anyway",
            409,
            {"classification": result.as_dict(), "decision": decision.action},
        )


class BlockedByPolicy(ServiceError):
    def __init__(self, result: Classification, decision: Decision) -> None:
        super().__init__(
            "blocked_by_policy",
            f"{decision.reason}; the policy blocks encrypting it as declared",
            403,
            {"classification": result.as_dict(), "decision": decision.action},
        )


def image_fields(image: DecodedImage, size: int) -> dict[str, Any]:
    return {
        "image_width": image.width,
        "image_height": image.height,
        "image_mode": image.mode,
        "image_format": image.source_format,
        "image_bytes": size,
    }


@sensitive_variables("password")
def encrypt(
    context: Context,
    data: bytes,
    password: str,
    declared: str,
    *,
    cipher: str = "chaotic",
    acknowledgment: str = "",
) -> Encrypted:
    """Classify, apply the mismatch policy, encrypt.  `acknowledgment` is the
    user's reason for encrypting despite a mismatch ("" when none was given)."""
    require(context, roles.ENCRYPT, Action.ENCRYPT)
    if declared not in DOMAINS:
        raise refuse(Action.ENCRYPT, context, classification.bad_domain(declared), image_bytes=len(data))
    if cipher not in CIPHERS:
        error = ServiceError("bad_cipher", f"unknown cipher {cipher!r}; choose one of {', '.join(CIPHERS)}")
        raise refuse(Action.ENCRYPT, context, error, image_bytes=len(data))
    if not password:
        raise refuse(
            Action.ENCRYPT, context, ServiceError("no_password", "a password is required"), image_bytes=len(data)
        )
    try:
        image = imagefile.decode(data, settings.SECUREPIX_MAX_PIXELS)
        result = classification.classify_image(data, decoded=image)
    except SecurePixError as error:
        failed(Action.ENCRYPT, context, error, declared_domain=declared, image_bytes=len(data))
        raise
    decision = classification.decide(declared, result)
    fields = {**image_fields(image, len(data)), **classification.prediction_fields(declared, result)}
    if decision.action == BLOCK:
        raise refuse(Action.ENCRYPT, context, BlockedByPolicy(result, decision), Outcome.DENIED, **fields)
    reason = acknowledgment.strip()
    if decision.action == ACKNOWLEDGE and not reason:
        raise refuse(Action.ENCRYPT, context, MismatchNeedsAcknowledgment(result, decision), Outcome.DENIED, **fields)
    encrypted = encrypt_image(image, password, cipher=cipher)
    with transaction.atomic():
        event = record(
            Action.ENCRYPT,
            Outcome.SUCCESS,
            context,
            encrypted_sha256=hashlib.sha256(encrypted).hexdigest(),
            extra={"cipher": cipher, "decision": decision.action, "acknowledged": decision.action == ACKNOWLEDGE},
            **fields,
        )
        acknowledged = None
        if decision.action == ACKNOWLEDGE:
            acknowledged = classification.acknowledge_mismatch(context, declared, result, reason, event)
    return Encrypted(encrypted, image, result, decision, event, acknowledged)


@sensitive_variables("password")
def decrypt(context: Context, data: bytes, password: str) -> Decrypted:
    """Check and decrypt a SecurePix file; a wrong password or an altered file is an error, never noise."""
    require(context, roles.DECRYPT, Action.DECRYPT)
    fields: dict[str, Any] = {"encrypted_sha256": hashlib.sha256(data).hexdigest(), "image_bytes": len(data)}
    try:
        image = decrypt_file(data, password, max_pixels=settings.SECUREPIX_MAX_PIXELS)
    except SecurePixError as error:
        failed(Action.DECRYPT, context, error, **fields)
        raise
    out, suffix = imagefile.encode(image)
    event = record(Action.DECRYPT, Outcome.SUCCESS, context, **{**fields, **image_fields(image, len(data))})
    return Decrypted(out, suffix, image, event)
