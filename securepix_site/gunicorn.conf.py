"""gunicorn's settings for the production stack (`make serve`, docs/DEPLOY.md).

Each worker is forked before it imports the application: TensorFlow is not
fork-safe, so the model is loaded after the fork, in every worker, and warmed
before the worker takes its first request (`post_worker_init` waits for the
warm-up that securepix_site/wsgi.py starts).  A worker whose warm-up failed
still serves everything but classification; /readyz says so.
"""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("SECUREPIX_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("SECUREPIX_WEB_WORKERS", "2"))
# One request at a time per worker process: encryption and classification are
# CPU-bound and hold the GIL for most of their time, so threads would only
# queue behind each other; more capacity is more workers (or machines).
worker_class = "sync"
threads = 1
# Long enough for the largest image the limits allow (and a cold KDF); audit
# exports that would take longer are paged (docs/AUDIT.md).
timeout = int(os.environ.get("SECUREPIX_WORKER_TIMEOUT", "120"))
graceful_timeout = 30
# A fresh worker now and then returns memory that TensorFlow and big images
# fragmented; the jitter keeps workers from restarting together.
max_requests = int(os.environ.get("SECUREPIX_WORKER_MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
preload_app = False  # never: the model must be built after the fork
accesslog = "-"
# The access log has the path and status only, never a query string with a
# token or a password in it (none of the API's take one, but clients err).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
limit_request_line = 8190
# No control socket in the home folder: restart with signals (HUP, TERM).
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """Hold the worker back until its classifier is loaded and warm (the
    warm-up securepix_site/wsgi.py started; the same thread)."""
    from securepix_site.processes import start_serving

    if warming := start_serving():
        warming.join()
        worker.log.info("worker %s: classifier warm", worker.pid)
