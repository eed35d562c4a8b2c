"""Roles (DESIGN.md): operators encrypt, decrypt and classify; auditors read
every audit event, export and verify; administrators (staff superusers) do
everything.  Each role is a group with exactly these permissions; a user in
no group may do nothing."""

from __future__ import annotations

from typing import Any

OPERATOR, AUDITOR, ADMIN = "operator", "auditor", "admin"

GROUP_PERMISSIONS = {
    OPERATOR: [
        "cipher.encrypt_image",
        "cipher.decrypt_image",
        "classification.classify_image",
        "audit.view_own_history",
    ],
    AUDITOR: [
        "audit.view_own_history",
        "audit.view_all_events",
        "audit.export_events",
        "audit.verify_chain",
        "classification.view_all_acknowledgments",
    ],
}

ENCRYPT = "cipher.encrypt_image"
DECRYPT = "cipher.decrypt_image"
CLASSIFY = "classification.classify_image"
OWN_HISTORY = "audit.view_own_history"
ALL_EVENTS = "audit.view_all_events"
EXPORT = "audit.export_events"
VERIFY = "audit.verify_chain"
ALL_ACKNOWLEDGMENTS = "classification.view_all_acknowledgments"


def roles_of(user: Any) -> list[str]:
    if not user.is_authenticated:
        return []
    roles = sorted(set(user.groups.values_list("name", flat=True)) & set(GROUP_PERMISSIONS))
    if user.is_superuser and user.is_staff:
        roles.append(ADMIN)
    return roles


def needs_second_factor(user: Any) -> bool:
    """With SECUREPIX_REQUIRE_2FA, auditors and administrators must use a second factor."""
    return bool(set(roles_of(user)) & {AUDITOR, ADMIN})


def ensure_groups() -> None:
    """The role groups with exactly their permissions (as the data migration
    makes them; for databases that were emptied since)."""
    from django.contrib.auth.models import Group, Permission

    for name, perms in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = [
            Permission.objects.get(content_type__app_label=label, codename=codename)
            for label, codename in (perm.split(".") for perm in perms)
        ]
        group.permissions.set(wanted)
