"""The cipher of the SecurePix paper (section 4.2-4.3), as published.

Pure Python: SHA-256 of the password seeds three chaotic maps, whose
sequences are normalised to 0..255, summed modulo 256 and XORed onto the image.
It is kept to be measured against, never to protect anything: the keystream
depends on the password alone, so one known image reveals it for every other
image under that password (tests/test_paper_cipher.py shows the attack).

The paper leaves these open; the choices are standard ones:
- the hash becomes seeds by reading 16 hex digits per seed as a fraction of 16**16;
- Logistic r = 3.99; Ikeda u = 0.9 in the paper's printed form (t = x^2 + y^2);
  Circle Omega = 0.5, K = 1.0, taken modulo 1 as the circle map is defined;
- "normalised" means min-max scaled to 0..255 and truncated to integers.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from numpy.typing import NDArray


def _seeds(password: str) -> list[float]:
    hashed = hashlib.sha256(password.encode()).hexdigest()
    return [int(hashed[i : i + 16], 16) / 16**16 for i in range(0, 64, 16)]


def _normalise(sequence: list[float]) -> list[int]:
    low, high = min(sequence), max(sequence)
    span = (high - low) or 1.0
    return [int((v - low) / span * 255) for v in sequence]


def key_matrix(password: str, shape: tuple[int, ...]) -> NDArray[np.uint8]:
    n = math.prod(shape)
    x_logistic, x_ikeda, y_ikeda, x_circle = _seeds(password)
    logistic, ikeda, circle = [], [], []
    r, u, omega, k = 3.99, 0.9, 0.5, 1.0
    for _ in range(n):
        x_logistic = r * x_logistic * (1 - x_logistic)
        logistic.append(x_logistic)
        t = x_ikeda * x_ikeda + y_ikeda * y_ikeda
        x_ikeda, y_ikeda = (
            1 + u * (x_ikeda * math.cos(t) - y_ikeda * math.sin(t)),
            1 + u * (x_ikeda * math.sin(t) + y_ikeda * math.cos(t)),
        )
        ikeda.append(x_ikeda)
        x_circle = (x_circle + omega - k * math.sin(2 * math.pi * x_circle)) % 1.0
        circle.append(x_circle)
    combined = [
        (a + b + c) % 256 for a, b, c in zip(_normalise(logistic), _normalise(ikeda), _normalise(circle), strict=True)
    ]
    return np.array(combined, dtype=np.uint8).reshape(shape)


def encrypt(image: NDArray[np.uint8], password: str) -> NDArray[np.uint8]:
    """The paper's encrypted_img = cv2.bitwise_xor(original_img, key_matrix)."""
    return np.bitwise_xor(image, key_matrix(password, image.shape))


decrypt = encrypt  # XOR is its own inverse
