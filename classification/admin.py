from __future__ import annotations

from django.contrib import admin

from audit.admin_audit import ReadOnlyEvidenceAdmin

from .models import MismatchAcknowledgment


@admin.register(MismatchAcknowledgment)
class MismatchAcknowledgmentAdmin(ReadOnlyEvidenceAdmin):
    """Evidence for the audit trail (each points at its event): read-only."""

    list_display = ("created", "user", "declared_domain", "predicted_domain", "confidence", "model_name")
    list_filter = ("declared_domain", "predicted_domain", "model_name")
    readonly_fields = [f.name for f in MismatchAcknowledgment._meta.fields]
