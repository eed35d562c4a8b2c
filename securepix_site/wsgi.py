from __future__ import annotations

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securepix_site.settings")
application = get_wsgi_application()

if settings.SECUREPIX_CHECKPOINT_SECONDS > 0:
    # Events are numbered right after each commit; this also signs the
    # checkpoint that covers the last of them within the bounded delay.
    from audit.log import keep_sequencing

    keep_sequencing(settings.SECUREPIX_CHECKPOINT_SECONDS)

if settings.SECUREPIX_WARM_UP:
    # Every server (runserver and gunicorn's workers too) imports this module:
    # load the model now, in the background, so that the first user waits no
    # longer than the next; /readyz says when it is warm.
    from classification.services import warm_up_in_background

    warm_up_in_background()
