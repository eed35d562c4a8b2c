"""Roles (DESIGN.md): operators encrypt, decrypt and classify; auditors read
every audit event, export and verify; administrators (staff superusers) do
everything.  Each role is a group with exactly these permissions; a user in
no group may do nothing."""

from __future__ import annotations

from typing import Any

OPERATOR, AUDITOR, ADMIN = "operator", "auditor", "admin"

ENCRYPT = "cipher.encrypt_image"
DECRYPT = "cipher.decrypt_image"
CLASSIFY = "classification.classify_image"
OWN_HISTORY = "audit.view_own_history"
ALL_EVENTS = "audit.view_all_events"
EXPORT = "audit.export_events"
VERIFY = "audit.verify_chain"
ALL_ACKNOWLEDGMENTS = "classification.view_all_acknowledgments"

GROUP_PERMISSIONS = {
    OPERATOR: [ENCRYPT, DECRYPT, CLASSIFY, OWN_HISTORY],
    AUDITOR: [OWN_HISTORY, ALL_EVENTS, EXPORT, VERIFY, ALL_ACKNOWLEDGMENTS],
}


def roles_of(user: Any) -> list[str]:
    if not user.is_authenticated:
        return []
    roles = sorted(set(user.groups.values_list("name", flat=True)) & set(GROUP_PERMISSIONS))
    if user.is_superuser and user.is_staff:
        roles.append(ADMIN)
    return roles


def needs_second_factor(user: Any) -> bool:
    """Whether this user must use a second factor: auditors and administrators, with SECUREPIX_REQUIRE_2FA."""
    from django.conf import settings

    return bool(settings.SECUREPIX_REQUIRE_2FA and set(roles_of(user)) & {AUDITOR, ADMIN})


def otp_verified(user: Any) -> bool:
    """Whether this session was verified with a one-time password (django-otp's middleware tells)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def ensure_groups(apps: Any = None) -> None:
    """The role groups with exactly their permissions: for the data migration
    (with its historical `apps`) and for databases emptied since."""
    if apps is None:
        from django.apps import apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = [
            Permission.objects.get(content_type__app_label=label, codename=codename)
            for label, codename in (perm.split(".") for perm in perms)
        ]
        group.permissions.set(wanted)
