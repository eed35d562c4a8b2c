"""Memory measured in tests: the peak that tracemalloc sees (numpy's arrays included)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def traced(action: Callable[[], T]) -> tuple[T, int]:
    """What `action` returns, and the peak of memory traced while it ran."""
    tracemalloc.start()
    try:
        return action(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
