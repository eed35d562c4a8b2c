"""Test images made here: photo-like content (smooth gradients, shapes and
mild noise) in every mode the product accepts.  No third-party images."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image


def photo_array(height: int, width: int, channels: int = 3, seed: int = 0, bits: int = 8) -> np.ndarray:
    """Smooth, correlated content like a photograph: neighbouring pixels agree."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for c in range(channels):
        fx, fy = rng.uniform(1, 4, 2)
        plane = 0.5 + 0.25 * np.sin(2 * np.pi * fx * x / max(width, 1) + c) * np.cos(
            2 * np.pi * fy * y / max(height, 1)
        )
        plane += 0.2 * (x / max(width, 1)) - 0.1 * (y / max(height, 1))
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), max(height, width) / 5
        plane += 0.15 * (((y - cy) ** 2 + (x - cx) ** 2) < r * r)
        plane += rng.normal(0, 0.01, plane.shape)
        planes.append(np.clip(plane, 0, 1))
    top = (1 << bits) - 1
    dtype = np.uint16 if bits == 16 else np.uint8
    stacked = np.stack(planes, axis=-1) if channels > 1 else planes[0]
    return np.round(stacked * top).astype(dtype)


def image_in_mode(mode: str, height: int = 37, width: int = 53, seed: int = 0) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(photo_array(height, width, 1, seed, bits=16))
    if mode == "1":
        return Image.fromarray(photo_array(height, width, 1, seed) > 128)
    if mode == "P":
        return Image.fromarray(photo_array(height, width, 3, seed)).quantize(colors=50)
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    return Image.fromarray(photo_array(height, width, channels, seed))


def encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def decoded_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))
