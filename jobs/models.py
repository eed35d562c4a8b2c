"""Batch jobs (many files, one request) and the encrypted results kept for their owner."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from core.domains import DOMAIN_CHOICES


class Job(models.Model):
    class Kind(models.TextChoices):
        ENCRYPT = "encrypt", "Encrypt"
        CLASSIFY = "classify", "Classify"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    finished = models.DateTimeField(null=True, blank=True)
    cancelled = models.BooleanField(default=False)
    total = models.PositiveIntegerField()
    client_address = models.CharField(max_length=45, blank=True)  # of the request that submitted it
    cipher = models.CharField(max_length=16, default="chaotic")
    from_page = models.BooleanField(default=False)  # the encrypt page's batch (its files run in the page's requests)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.kind} job {self.id} of {self.owner}"


class JobFile(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="files")
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    declared_domain = models.CharField(max_length=16, choices=DOMAIN_CHOICES, blank=True)
    acknowledgment_reason = models.TextField(blank=True)
    input_bytes = models.PositiveBigIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    finished = models.DateTimeField(null=True, blank=True)
    # What came of it: the classification and the policy's decision, or the
    # error's code and message.  Never the image, never the password.
    outcome = models.JSONField(default=dict)
    audit_event = models.ForeignKey("audit.AuditEvent", null=True, blank=True, on_delete=models.PROTECT)
    # The broker's run its task was last queued under (Redis's run_id, new at
    # each start of the server, whose queue is kept in memory only): set when
    # the file is queued and again when its task is; "" without a broker.
    queue_run = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_file_per_index")]


class AuditExport(models.Model):
    """An audit export run as a job: written to the results storage in chunks,
    for its owner (an auditor) to download until it expires."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="audit_exports")
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    format = models.CharField(max_length=8)
    filter = models.JSONField(default=dict)
    client_address = models.CharField(max_length=45, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    events = models.PositiveBigIntegerField(default=0)
    storage_name = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    deleted = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    queue_run = models.CharField(max_length=64, blank=True, default="")  # the broker's run (services.broker_run)

    class Meta:
        ordering = ["-created"]


class StoredResult(models.Model):
    """An encrypted output (ciphertext only) in the results storage, readable
    by its owner alone until it expires."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="results")
    job_file = models.OneToOneField(JobFile, on_delete=models.CASCADE, related_name="result")
    name = models.CharField(max_length=255)  # the download's file name
    storage_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(db_index=True)
    deleted = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
