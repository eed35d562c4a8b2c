from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from web.context import context_from

from . import services
from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Tokens can be seen and revoked here, never read back or made."""

    list_display = ["key_id", "user", "name", "created", "expires", "last_used", "revoked", "second_factor"]
    list_filter = ["revoked", "second_factor"]
    search_fields = ["key_id", "user__username", "name"]
    readonly_fields = ["user", "key_id", "name", "created", "expires", "last_used", "revoked", "second_factor"]
    exclude = ["secret_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.filter(revoked__isnull=True).select_related("user"):
            services.do_revoke_token(context=context_from(request), token=token)
