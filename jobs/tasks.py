"""The Celery tasks of jobs: each calls the service that does the work.
Acknowledged after the work, and again delivered when a worker is lost,
ignoring results: the CELERY_* settings say so for every task."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from . import services

# A file that meets a passing shortage is tried again this often, this many
# times (about ten minutes), then fails with that shortage's error.
RETRY_SECONDS = 20
MAX_RETRIES = 30
# A file or export that another worker holds ("busy": a task delivered again
# while the first delivery still runs) is looked at again, for up to about
# two hours: that worker finishes it, or it died and its database session
# ends, its lock with it, and this task does the work.  Acknowledged at once,
# the task of a worker whose machine died holding the lock would be lost,
# and the file left queued for ever (PostgreSQL ends such a session when its
# keepalives go unanswered: securepix_site/settings.py).
BUSY_RETRIES = 360


def _countdown() -> int:
    # A task waiting for its countdown is held unacknowledged by a worker:
    # longer than the redelivery delay, the broker would deliver it again.
    redelivery = int(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"])
    return min(RETRY_SECONDS, max(1, redelivery // 4))


def _unless_busy(task: Any, outcome: str) -> str:
    if outcome == "busy" and not task.request.is_eager:
        raise task.retry(countdown=_countdown(), max_retries=BUSY_RETRIES)
    return outcome


@shared_task(name="jobs.run_file", bind=True)
def run_file(self: Any, file_id: int, sealed: str) -> str:
    """One file of a job (exactly once: see jobs/services.py)."""
    last = self.request.is_eager or self.request.retries >= MAX_RETRIES  # in a request (make run): no waiting
    try:
        outcome = services.run_file(file_id, sealed, may_retry=not last)
    except services.TryLater as exc:
        services.requeued(file_id)  # its new task is under the broker's current run (fail_lost_files)
        raise self.retry(countdown=_countdown(), max_retries=MAX_RETRIES, exc=exc) from exc
    return _unless_busy(self, outcome)


@shared_task(name="jobs.audit_export", bind=True)
def audit_export(self: Any, export_id: str) -> str:
    return _unless_busy(self, services.run_audit_export(export_id))


def dispatch_export(export_id: str) -> None:
    audit_export.delay(export_id)


@shared_task(name="jobs.purge_expired")
def purge_expired() -> int:
    return services.purge_expired()


@shared_task(name="jobs.fail_lost_files")
def fail_lost_files() -> int:
    return services.fail_lost_files(services.broker_run())


def dispatch(file_id: int, sealed: str) -> None:
    run_file.delay(file_id, sealed)
