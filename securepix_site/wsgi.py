from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from securepix_site.processes import start_serving

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securepix_site.settings")
application = get_wsgi_application()

# Every server (runserver and gunicorn's workers too) imports this module after
# it forked: number audit events within the bounded delay, and load the model
# in the background so that the first user waits no longer than the next;
# /readyz says when it is warm (gunicorn.conf.py waits for it).
start_serving()
