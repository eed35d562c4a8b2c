"""The Celery application of the job workers (`make serve` starts them):

    celery -A securepix_site worker --concurrency N

Each job file is a task; Redis is the broker (SECUREPIX_JOB_BROKER).  Without
a broker (`make run`), jobs run in-process, in the request that submits them
(CELERY_TASK_ALWAYS_EAGER).  The model is loaded in each worker process after
its fork (TensorFlow is not fork-safe), at its first classification.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securepix_site.settings")

app = Celery("securepix")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["jobs"])


@worker_process_init.connect
def _start_process(**kwargs: object) -> None:
    """Like a web worker: takes no file before its model is warm."""
    from .processes import start_serving

    if warming := start_serving():
        warming.join()
