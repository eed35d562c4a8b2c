from __future__ import annotations

from django.apps import AppConfig


class CipherConfig(AppConfig):
    name = "cipher"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks of this app's settings)
