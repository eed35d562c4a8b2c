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

from .offline import LEAF_FIELDS

LEGACY_MISSING = ("sequence", "decision")  # not in the chained content of events recorded before 0.2


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
    WITNESS_ALERT = "witness_alert", "Witness alert"
    PASSWORD_CHANGE = "password_change", "Change own password"
    ADMIN_CHANGE = "admin_change", "Administrative change"  # reason: added, changed or deleted
    JOB_SUBMIT = "job_submit", "Submit a job"
    JOB_CANCEL = "job_cancel", "Cancel a job"
    DOWNLOAD = "download", "Download a stored result"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


class Decision(models.TextChoices):
    """What the mismatch policy decided for an encryption (blank for other events)."""

    ALLOW = "allow", "Allowed"
    ACKNOWLEDGED = "acknowledged", "Allowed after an acknowledgment"
    ACKNOWLEDGMENT_REQUIRED = "acknowledgment_required", "Held for an acknowledgment"
    BLOCKED = "blocked", "Blocked"


class AuditEvent(models.Model):
    # 1, 2, 3, ... in log order; None while the event waits for the sequencer
    # (audit/log.py), which numbers it, chains it and adds it to the Merkle
    # tree as leaf sequence - 1.
    sequence = models.PositiveBigIntegerField(unique=True, null=True, blank=True)
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
    decision = models.CharField(max_length=24, choices=Decision.choices, blank=True, db_index=True)
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
    previous_mac = models.CharField(max_length=64, null=True, blank=True)
    mac = models.CharField(max_length=64, unique=True, null=True, blank=True)

    # Everything but the chain fields and the row id goes into the MAC, the
    # sequence number too: it is what the pages, exports and API headers show.
    CONTENT_FIELDS = LEAF_FIELDS

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
        return f"#{self.sequence or 'pending'} {self.action} {self.outcome} by {self.username or 'anonymous'}"

    @property
    def leaf_index(self) -> int | None:
        """This event's index in the Merkle tree (sequence - 1), once sequenced."""
        return None if self.sequence is None else self.sequence - 1

    def content(self, legacy: bool = False) -> dict[str, Any]:
        """What the MAC (and the leaf) covers; `legacy`: what the chain covered
        for events recorded before 0.2, which lacked the sequence and the decision."""
        names = [n for n in self.CONTENT_FIELDS if n not in LEGACY_MISSING] if legacy else self.CONTENT_FIELDS
        content = {name: getattr(self, name) for name in names}
        content["created"] = self.created.isoformat(timespec="microseconds")
        return content


class ChainHead(models.Model):
    """One row: how many events the chain has and the last MAC, sealed with the
    audit key, so that events cut off the end are noticed too; and the Merkle
    tree's right edge (the hashes of its perfect subtrees, hex), from which the
    sequencer goes on.  Its row lock serialises the sequencer."""

    count = models.PositiveBigIntegerField(default=0)
    last_mac = models.CharField(max_length=64)
    seal = models.CharField(max_length=64)
    tree_edge = models.JSONField(default=list, blank=True)
    # events up to this sequence were chained before 0.2 (content without sequence and decision)
    legacy_until = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.count} events"


class MerkleNode(models.Model):
    """The hash of one perfect subtree of the audit log's Merkle tree (RFC 6962):
    leaves at level 0 (index = sequence - 1), and every complete subtree above
    them, so that any proof costs O(log n) reads."""

    level = models.PositiveSmallIntegerField()
    index = models.PositiveBigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="audit_merkle_node_position")]
        default_permissions = ()


class Checkpoint(models.Model):
    """A signed checkpoint (C2SP tlog-checkpoint as a signed note) of the tree at `size`."""

    size = models.PositiveBigIntegerField(db_index=True)
    root_hash = models.BinaryField(max_length=32)
    note = models.TextField()  # the signed note, as served
    created = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-size", "-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"checkpoint of {self.size} events"


class Cosignature(models.Model):
    """A witness's cosignature (C2SP tlog-cosignature) of a checkpoint, verified
    against a configured witness key before it is kept."""

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="cosignatures")
    witness = models.CharField(max_length=200)
    line = models.TextField()  # the signature line, as it is appended to the note
    signed_at = models.DateTimeField()  # the witness's timestamp
    received = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["checkpoint", "witness"], name="audit_one_cosignature")]
        default_permissions = ()
