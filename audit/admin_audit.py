"""The Django admin and the audit trail: evidence is read-only there, and
every change an administrator makes there is itself an audit event.

`AuditedAdmin` records an event wherever Django writes its own admin history
(a LogEntry: `log_addition`, `log_change`, `log_deletions`), so no admin page
or bulk action that changes a row goes unrecorded; the event joins the
change's transaction.  Custom admin actions that call a `do_*` service (token
revocation) are recorded by that service and write no LogEntry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib import admin
from django.db import models, router, transaction
from django.forms import Form
from django.http import HttpRequest, HttpResponse

from web.context import context_from

from .models import Action, Outcome
from .services import record


class ReadOnlyEvidenceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows that are audit evidence: shown, never added, changed or deleted
    (no delete page, no delete_selected action)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ChangeMessage(list[Any]):
    """Django's change message (stored as JSON in its admin history) that also
    carries the names of the changed fields for the audit event: Django's own
    message names them by their labels."""

    def __init__(self, message: Iterable[Any], fields: Sequence[str]) -> None:
        super().__init__(message)
        self.fields = fields


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Records every addition, change and deletion as an `admin_change` audit
    event: extra = {model, object (its pk), name (as Django's history names
    it), change (the changed fields' names), values (see below)}; reason =
    added, changed or deleted.

    Only the fields named in `audit_values` have their new value recorded (on
    an addition, all of them): never a password, a hash or a key.
    `audit_field_names` maps form fields that stand for a model field
    (password1 for password) to its name."""

    audit_values: tuple[str, ...] = ()
    audit_field_names: dict[str, str] = {}

    def construct_change_message(self, request: HttpRequest, form: Form, formsets: Any, add: bool = False) -> list[Any]:
        fields = {self.audit_field_names.get(name, name) for name in form.changed_data}
        model_fields = {field.name for field in self.model._meta.get_fields()}
        related = [formset.model._meta.model_name for formset in formsets or () if formset.has_changed()]
        return ChangeMessage(
            super().construct_change_message(request, form, formsets, add),
            sorted(fields & model_fields) + sorted(related),
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)
        self._record(request, obj, "added", _changed_fields(message), self.audit_values)
        return entry

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_change(request, obj, message)
        fields = _changed_fields(message)
        self._record(request, obj, "changed", fields, [name for name in fields if name in self.audit_values])
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        entries = super().log_deletions(request, queryset)
        for obj in queryset:
            self._record(request, obj, "deleted")
        return entries

    def response_action(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        # Django runs admin actions outside a transaction: delete_selected logs
        # (and so records) the deletions before it makes them.
        with transaction.atomic(using=router.db_for_write(self.model)):
            return super().response_action(request, queryset)

    def _record(
        self,
        request: HttpRequest,
        obj: models.Model,
        operation: str,
        change: Sequence[str] | None = None,
        values: Iterable[str] = (),
    ) -> None:
        extra: dict[str, Any] = {
            "model": obj._meta.label_lower,
            "object": str(obj.pk),
            "name": str(obj)[:200],  # as Django's history (LogEntry.object_repr)
        }
        if change is not None:
            extra["change"] = list(change)
            extra["values"] = {name: _value(obj, name) for name in values}
        record(Action.ADMIN_CHANGE, Outcome.SUCCESS, context_from(request), reason=operation, extra=extra)


def _changed_fields(message: Any) -> Sequence[str]:
    return message.fields if isinstance(message, ChangeMessage) else ()


def _value(obj: models.Model, name: str) -> Any:
    """A field's value as the audit event holds it: related objects by their names."""
    field = obj._meta.get_field(name)
    value = getattr(obj, name)
    if field.many_to_many:
        return sorted(str(related) for related in value.all())
    if field.is_relation:
        return None if value is None else str(value)
    return value if isinstance(value, bool | int | float | str) or value is None else str(value)
