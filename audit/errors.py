"""Errors the services raise for the front ends to turn into responses."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A refusal with a machine-readable code and an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.details = code, message, status, details or {}


class Forbidden(ServiceError):
    def __init__(self, message: str = "your role does not allow this") -> None:
        super().__init__("forbidden", message, 403)
