from __future__ import annotations

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "securepix_site.admin_site.SecurePixAdminSite"

    def ready(self) -> None:
        super().ready()
        # The Celery application exists before any job task is queued (see __init__.py).
        from . import celery  # noqa: F401
