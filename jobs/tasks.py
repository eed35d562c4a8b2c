"""The Celery tasks of jobs: each calls the service that does the work.
Acknowledged after the work, and again delivered when a worker is lost,
ignoring results: the CELERY_* settings say so for every task."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="jobs.run_file")
def run_file(file_id: int, sealed: str) -> str:
    """One file of a job (exactly once: see jobs/services.py)."""
    return services.run_file(file_id, sealed)


@shared_task(name="jobs.audit_export")
def audit_export(export_id: str) -> str:
    return services.run_audit_export(export_id)


def dispatch_export(export_id: str) -> None:
    audit_export.delay(export_id)


@shared_task(name="jobs.purge_expired")
def purge_expired() -> int:
    return services.purge_expired()


def dispatch(file_id: int, sealed: str) -> None:
    run_file.delay(file_id, sealed)
