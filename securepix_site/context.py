"""What every page shows: the classifier in use and who is logged in, as what."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from classification.services import model_name
from core import permissions
from web.auth import roles_of


def platform(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    can = {
        "encrypt": bool(user and user.has_perm(permissions.ENCRYPT)),
        "decrypt": bool(user and user.has_perm(permissions.DECRYPT)),
        "audit": bool(user and user.has_perm(permissions.ALL_EVENTS)),
    }
    return {"classifier_model": model_name(), "user_roles": roles_of(user), "can": can}
