"""What the encrypt page shows of an image before and after encryption:
per-channel histograms (as SVG paths), entropy and adjacent-pixel correlation."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .engine import metrics

CHANNEL_NAMES = {1: ["grey"], 2: ["grey", "alpha"], 3: ["red", "green", "blue"], 4: ["red", "green", "blue", "alpha"]}
HEIGHT = 100


@dataclass(frozen=True)
class Profile:
    histograms: list[tuple[str, str]]  # (channel name, SVG path on a 256 x 100 box)
    entropy: float  # mean over channels, bits per sample
    bits: int
    correlation: dict[str, float]


def _eight_bit(samples: NDArray[Any]) -> NDArray[np.uint8]:
    """Samples as 8-bit levels: 16-bit ones by their high byte."""
    if samples.dtype.itemsize == 1:
        return samples.view(np.uint8)
    return (samples.view(f"u{samples.dtype.itemsize}").astype(np.uint32) >> 8).astype(np.uint8)


def histogram_path(channel: NDArray[Any]) -> str:
    # square-root scale: one tall spike (a black background) does not flatten the rest
    counts = np.sqrt(np.bincount(_eight_bit(channel).reshape(-1), minlength=256).astype(np.float64))
    heights = HEIGHT * (1 - counts / max(counts.max(), 1))
    points = " ".join(f"L{x},{y:.1f}" for x, y in enumerate(heights))
    return f"M0,{HEIGHT} {points} L255,{HEIGHT} Z"


def profile(samples: NDArray[Any]) -> Profile:
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    names = CHANNEL_NAMES.get(channels, [f"channel {i}" for i in range(channels)])
    planes = [samples] if samples.ndim == 2 else [samples[..., c] for c in range(channels)]
    return Profile(
        histograms=[(name, histogram_path(plane)) for name, plane in zip(names, planes, strict=True)],
        entropy=float(np.mean(metrics.entropy(samples))),
        bits=8 * samples.dtype.itemsize,
        correlation=metrics.adjacent_correlation(samples),
    )


def thumbnail_png(samples: NDArray[Any], size: int = 384) -> bytes:
    """A small 8-bit PNG of the samples, for a preview in the page."""
    levels = _eight_bit(samples)
    if levels.ndim == 3 and levels.shape[2] == 2:  # grey + alpha
        levels = levels[..., 0]
    image = Image.fromarray(np.ascontiguousarray(levels))
    image.thumbnail((size, size))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
