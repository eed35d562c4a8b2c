from __future__ import annotations

from django.apps import AppConfig


class CipherConfig(AppConfig):
    name = "cipher"
    default_auto_field = "django.db.models.BigAutoField"
