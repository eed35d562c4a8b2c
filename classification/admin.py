from __future__ import annotations

from django.contrib import admin

from .models import MismatchAcknowledgment


@admin.register(MismatchAcknowledgment)
class MismatchAcknowledgmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("created", "user", "declared_domain", "predicted_domain", "confidence", "model_name")
    list_filter = ("declared_domain", "predicted_domain", "model_name")
    readonly_fields = [f.name for f in MismatchAcknowledgment._meta.fields]

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
