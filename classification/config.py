"""The classification settings, read in one place for the services, the
command line and the system checks (no models: the command line has no database)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from django.conf import settings

from .engine import backbones
from .policy import MismatchPolicy


def resnet50_weights() -> Path | None:
    return backbones.find_resnet50_weights(settings.SECUREPIX_RESNET50_WEIGHTS, Path(settings.SECUREPIX_KERAS_HOME))


def policy() -> MismatchPolicy:
    return MismatchPolicy.parse(
        settings.SECUREPIX_MISMATCH_THRESHOLD,
        settings.SECUREPIX_MISMATCH_DEFAULT,
        settings.SECUREPIX_MISMATCH_RULES,
        tuple(settings.SECUREPIX_SENSITIVITY_ORDER),
        settings.SECUREPIX_MISMATCH_LEANING,
    )


def model_process_key() -> bytes:
    """The key a worker proves to the model process (the same secret key on both sides)."""
    return hmac.new(settings.SECRET_KEY.encode(), b"securepix model process", hashlib.sha256).digest()
