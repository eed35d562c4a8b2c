"""System checks of the classification settings (`manage.py check`, and every server start)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from core.errors import SecurePixError

from .config import policy, resnet50_weights
from .engine import backbones


@register()
def check_classifier(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    name = settings.SECUREPIX_CLASSIFIER
    if name != "auto" and name not in backbones.NAMES:
        errors.append(
            Error(
                f"SECUREPIX_CLASSIFIER={name!r} is not a classifier",
                hint=f"use auto or one of {', '.join(backbones.NAMES)}",
                id="securepix.E101",
            )
        )
    try:
        weights = resnet50_weights()
    except SecurePixError as error:
        errors.append(Error(f"SECUREPIX_RESNET50_WEIGHTS: {error.message}", id="securepix.E102"))
    else:
        if name == "resnet50" and weights is None:
            errors.append(
                Error(
                    "SECUREPIX_CLASSIFIER=resnet50, but no ResNet50 weights are here",
                    hint="set SECUREPIX_RESNET50_WEIGHTS to a local .h5 file, or use auto",
                    id="securepix.E103",
                )
            )
    return errors


@register()
def check_mismatch_policy(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    try:
        policy()
    except ValueError as error:
        return [Error(f"the mismatch policy (SECUREPIX_MISMATCH_*): {error}", id="securepix.E104")]
    return []
