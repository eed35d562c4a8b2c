from __future__ import annotations

from typing import Any

from django.db import migrations

from audit import triggers


def install(apps: Any, schema_editor: Any) -> None:
    triggers.install(schema_editor.connection, log_tables=False)


def remove(apps: Any, schema_editor: Any) -> None:
    triggers.remove(schema_editor.connection, log_tables=False)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
