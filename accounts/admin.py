"""The admin pages for accounts: users, groups (the roles), authenticator
devices, login lockouts and API tokens.  Every change made here is recorded in
the audit trail (audit.admin_audit.AuditedAdmin): Django's and django-otp's
own registrations are replaced by audited subclasses."""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.admin_audit import AuditedAdmin
from web.context import context_from

from . import services
from .models import ApiToken

# what gives a user access: recorded with its new value when it changes
ACCESS_FIELDS = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")
# the user forms' password fields stand for the one model field
PASSWORD_FIELDS = {"password1": "password", "password2": "password", "usable_password": "password"}


class AuditedUserAdmin(AuditedAdmin, UserAdmin):  # type: ignore[type-arg]
    audit_values = ACCESS_FIELDS
    audit_field_names = PASSWORD_FIELDS

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        # Django's password page saves outside a transaction: the new password
        # and its audit event go together or not at all.
        with transaction.atomic(using=router.db_for_write(self.model)):
            return super().user_change_password(request, id, form_url)


class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    audit_values = ("name", "permissions")


class AuditedTOTPDeviceAdmin(AuditedAdmin, TOTPDeviceAdmin):  # type: ignore[misc]
    audit_values = ("user", "name", "confirmed")  # never the key


class AuditedAccessAttemptAdmin(AuditedAdmin, AccessAttemptAdmin):  # type: ignore[misc]
    """Deleting an attempt lifts a lockout."""


class AuditedAccessLogAdmin(AuditedAdmin, AccessLogAdmin):  # type: ignore[misc]
    pass


class AuditedAccessFailureLogAdmin(AuditedAdmin, AccessFailureLogAdmin):  # type: ignore[misc]
    pass


def _replace(model: Any, model_admin: type[admin.ModelAdmin]) -> None:  # type: ignore[type-arg]
    """Register an audited admin in place of an app's own, if that app registered one."""
    if admin.site.is_registered(model):
        admin.site.unregister(model)
        admin.site.register(model, model_admin)


# Importing those admin modules (above) made their registrations, whatever the app order.
_replace(get_user_model(), AuditedUserAdmin)
_replace(Group, AuditedGroupAdmin)
_replace(TOTPDevice, AuditedTOTPDeviceAdmin)
_replace(AccessAttempt, AuditedAccessAttemptAdmin)  # only with AXES_ENABLE_ADMIN
_replace(AccessLog, AuditedAccessLogAdmin)
_replace(AccessFailureLog, AuditedAccessFailureLogAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin):
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
