"""Sample values to 8 bits for display: one linear stretch for every path."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def stretch(values: NDArray[Any], low: float, high: float) -> NDArray[np.uint8]:
    """Map [low, high] linearly onto 0..255, rounding and clipping outside."""
    span = (high - low) or 1.0
    scaled = (np.asarray(values, dtype=np.float64) - low) / span * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
