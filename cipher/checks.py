"""System checks of the cipher settings (`manage.py check`, and every server start)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from .services import kdf_limits


@register()
def check_kdf_limits(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    try:
        kdf_limits()
    except ValueError as error:
        return [Error(f"SECUREPIX_KDF_MAX_*: {error}", id="securepix.E201")]
    return []


@register()
def check_shared_throttles(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """A production server runs several processes: decryption attempts counted
    per process would let each process's limit through."""
    if settings.SECUREPIX_PRODUCTION and settings.SECUREPIX_CACHE == "memory":
        return [
            Warning(
                "throttle counts live in each process's memory: with N server processes, N times "
                "the decryption limit gets through",
                hint="set SECUREPIX_CACHE=redis and SECUREPIX_REDIS_URL (make serve does)",
                id="securepix.W101",
            )
        ]
    return []
