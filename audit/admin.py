from __future__ import annotations

from django.contrib import admin

from .admin_audit import ReadOnlyEvidenceAdmin
from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyEvidenceAdmin):
    """Read-only: the database refuses changes anyway."""

    list_display = [
        "sequence",
        "created",
        "username",
        "action",
        "outcome",
        "reason",
        "declared_domain",
        "predicted_domain",
    ]
    list_filter = ["action", "outcome", "mismatch", "declared_domain", "predicted_domain"]
    search_fields = ["username", "request_id", "encrypted_sha256"]
    date_hierarchy = "created"
