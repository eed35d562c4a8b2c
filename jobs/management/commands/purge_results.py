"""Delete the stored results that have expired (Celery beat runs this every ten
minutes under `make serve`; elsewhere, run it from cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from jobs.services import purge_expired


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"deleted {purge_expired()} expired results")
