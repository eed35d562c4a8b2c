"""The operator and auditor groups with exactly their permissions (core/permissions.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import ensure_groups
from core.permissions import GROUP_PERMISSIONS


def create_roles(apps: Any, schema_editor: Any) -> None:
    # Permissions are normally made after all migrations; make them now.
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, verbosity=0, apps=apps)
        config.models_module = None
    ensure_groups(apps)


def remove_roles(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=list(GROUP_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("cipher", "0001_initial"),
        ("classification", "0002_permissions_audit_link"),
        ("audit", "0001_initial"),
    ]
    operations = [migrations.RunPython(create_roles, remove_roles)]
