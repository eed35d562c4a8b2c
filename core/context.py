"""Who performs an operation, and from where: what every audited service takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Context:
    actor: Any = None  # a user, or None (anonymous)
    client_address: str = ""
    user_agent: str = ""
    request_id: str = ""
