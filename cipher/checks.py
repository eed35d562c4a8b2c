"""System checks of the cipher settings (`manage.py check`, and every server start)."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from .services import kdf_limits


@register()
def check_kdf_limits(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    try:
        kdf_limits()
    except ValueError as error:
        return [Error(f"SECUREPIX_KDF_MAX_*: {error}", id="securepix.E201")]
    return []
