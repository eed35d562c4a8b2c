# The job workers' Celery application, configured from the settings, so that
# jobs.tasks queue on it (or run in the request without a broker).  Made when
# Django starts (apps.AdminConfig.ready) or when Celery asks for it, not on
# import: the `securepix` command's cipher commands do without both.
from __future__ import annotations

from typing import Any

__all__ = ["celery_app"]


def __getattr__(name: str) -> Any:
    if name == "celery_app":
        from .celery import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
