"""What every serving process does once it runs on its own (after gunicorn or
Celery forked it: TensorFlow is not fork-safe, so never before)."""

from __future__ import annotations

import threading
from functools import cache

from django.conf import settings


@cache  # once a process: a second call (gunicorn's hook after wsgi.py) gets the same warm-up
def start_serving() -> threading.Thread | None:
    """Number the audit events this process writes within the bounded delay,
    and load and warm the model in the background; returns the warm-up thread
    (join it to take no work before the model is warm), or None without one."""
    if settings.SECUREPIX_CHECKPOINT_SECONDS > 0:
        from audit.log import keep_sequencing

        keep_sequencing(settings.SECUREPIX_CHECKPOINT_SECONDS)
    if not settings.SECUREPIX_WARM_UP:
        return None
    from classification.services import warm_up_in_background

    return warm_up_in_background()
