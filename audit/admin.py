from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
