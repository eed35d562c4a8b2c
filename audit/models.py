"""The audit trail: append-only events chained by HMAC (see chain.py).

An event never holds a password, image bytes or a hash of the plaintext image
(that hash would let anyone holding a candidate image confirm it was
encrypted); the SHA-256 of the *encrypted* file is kept, so a file can be
traced to the operation that made it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from core.domains import DOMAIN_CHOICES


class Action(models.TextChoices):
    ENCRYPT = "encrypt", "Encrypt"
    DECRYPT = "decrypt", "Decrypt"
    CLASSIFY = "classify", "Classify"
    ACKNOWLEDGE = "acknowledge", "Acknowledge mismatch"
    LOGIN = "login", "Log in"
    LOGOUT = "logout", "Log out"
    TOKEN_CREATE = "token_create", "Create API token"
    TOKEN_REVOKE = "token_revoke", "Revoke API token"
    OTP_ENROL = "otp_enrol", "Enrol two-factor device"
    EXPORT = "export", "Export audit events"
    VERIFY = "verify", "Verify audit chain"
    ADMIN_CHANGE = "admin_change", "Administrative change"  # reason: added, changed or deleted


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


class AuditEvent(models.Model):
    sequence = models.PositiveBigIntegerField(unique=True)  # 1, 2, 3, ... in chain order
    created = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    username = models.CharField(max_length=150, blank=True)  # snapshot: survives renames
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, db_index=True)
    reason = models.CharField(max_length=60, blank=True)  # machine-readable reason code
    declared_domain = models.CharField(max_length=16, choices=DOMAIN_CHOICES, blank=True)
    predicted_domain = models.CharField(max_length=16, choices=DOMAIN_CHOICES, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    mismatch = models.BooleanField(default=False, db_index=True)
    model_name = models.CharField(max_length=40, blank=True)
    image_width = models.PositiveIntegerField(null=True, blank=True)
    image_height = models.PositiveIntegerField(null=True, blank=True)
    image_mode = models.CharField(max_length=16, blank=True)
    image_format = models.CharField(max_length=16, blank=True)
    image_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    encrypted_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    # text, not inet: the MAC covers exactly the text written (normalised by audit.services)
    client_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    previous_mac = models.CharField(max_length=64)
    mac = models.CharField(max_length=64, unique=True)

    # Everything but the chain fields and the row id goes into the MAC, the
    # sequence number too: it is what the pages, exports and API headers show.
    CONTENT_FIELDS = (
        "sequence", "created", "actor_id", "username", "action", "outcome", "reason", "declared_domain",
        "predicted_domain", "confidence", "mismatch", "model_name", "image_width", "image_height", "image_mode",
        "image_format", "image_bytes", "encrypted_sha256", "client_address", "user_agent", "request_id", "extra",
    )  # fmt: skip

    class Meta:
        ordering = ["sequence"]
        default_permissions = ("view",)
        permissions = [
            ("view_own_history", "Can see own audit history"),
            ("view_all_events", "Can see every user's audit events"),
            ("export_events", "Can export audit events"),
            ("verify_chain", "Can verify the audit chain"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.outcome} by {self.username or 'anonymous'}"

    def content(self) -> dict[str, Any]:
        content = {name: getattr(self, name) for name in self.CONTENT_FIELDS}
        content["created"] = self.created.isoformat(timespec="microseconds")
        return content


class ChainHead(models.Model):
    """One row: how many events the chain has and the last MAC, sealed with the
    audit key, so that events cut off the end are noticed too."""

    count = models.PositiveBigIntegerField(default=0)
    last_mac = models.CharField(max_length=64)
    seal = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.count} events"
