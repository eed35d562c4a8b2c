"""Default bounds, importable without loading the engine (settings use them)."""

from __future__ import annotations

DEFAULT_MAX_PIXELS = 100_000_000  # width x height (x frames) of one image
