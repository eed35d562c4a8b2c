from __future__ import annotations

from django.conf import settings
from django.db import models

from core.domains import DOMAIN_CHOICES


class MismatchAcknowledgment(models.Model):
    """A user's statement that an image whose predicted domain differs from the
    declared one is to be handled as declared, and why."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="acknowledgments")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    declared_domain = models.CharField(max_length=16, choices=DOMAIN_CHOICES)
    predicted_domain = models.CharField(max_length=16, choices=DOMAIN_CHOICES)
    confidence = models.FloatField()
    top_label = models.CharField(max_length=100, blank=True)
    reasons = models.JSONField(default=list)
    model_name = models.CharField(max_length=40)
    reason = models.TextField(help_text="why the user handles the image as declared")
    audit_event = models.OneToOneField(
        "audit.AuditEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="acknowledgment"
    )

    class Meta:
        ordering = ["-created"]
        permissions = [
            ("classify_image", "Can classify images"),
            ("view_all_acknowledgments", "Can see every user's acknowledgments"),
        ]

    def __str__(self) -> str:
        return f"{self.user} declared {self.declared_domain}, predicted {self.predicted_domain}"
