"""What every page shows: the classifier in use and who is logged in, as what."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts import roles


def platform(request: HttpRequest) -> dict[str, Any]:
    from classification.services import model_name

    user = getattr(request, "user", None)
    user_roles = roles.roles_of(user) if user is not None else []
    can = {
        "encrypt": bool(user and user.has_perm(roles.ENCRYPT)),
        "decrypt": bool(user and user.has_perm(roles.DECRYPT)),
        "audit": bool(user and user.has_perm(roles.ALL_EVENTS)),
    }
    return {"classifier_model": model_name(), "user_roles": user_roles, "can": can}
