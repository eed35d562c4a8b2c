"""The audit context (who, from where) of a Django or DRF request."""

from __future__ import annotations

from typing import Any

from core.context import Context


def context_from(request: Any, actor: Any = None) -> Context:
    """The context of a Django request (or a DRF request, which wraps one)."""
    request = getattr(request, "_request", request)
    user = actor if actor is not None else getattr(request, "user", None)
    return Context(
        actor=user if user is not None and user.is_authenticated else None,
        client_address=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        request_id=getattr(request, "request_id", ""),
    )
