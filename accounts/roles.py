"""The role groups in the database (the names and permissions are in core/permissions.py)."""

from __future__ import annotations

from typing import Any

from core.permissions import GROUP_PERMISSIONS


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
