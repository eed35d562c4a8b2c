# The job workers' Celery application, configured from the settings, so that
# jobs.tasks queue on it (or run in the request without a broker).
from .celery import app as celery_app

__all__ = ["celery_app"]
