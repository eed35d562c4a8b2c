"""The API schema says what every operation may answer, errors included: the
one error shape (web/errors.py) under each status an operation can give."""

from __future__ import annotations

from typing import Any

# Every operation may answer these (authentication, role, bad input, limits, throttles).
ERROR_STATUSES = ("400", "401", "403", "404", "405", "406", "409", "413", "415", "429", "503")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "core.errors.ErrorCode; the README lists them"},
                "message": {"type": "string"},
                "fields": {"type": "object", "description": "for `invalid`: each field's problems"},
            },
            "additionalProperties": True,
        }
    },
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the Error component, and a response
    for each error status on every operation that does not describe its own."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {
        "description": "an error (see `error.code`)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status in ERROR_STATUSES:
                responses.setdefault(status, error)
    return result
