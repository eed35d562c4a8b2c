"""splitmix64's finaliser, vectorised, and its inverse.

A fixed bijection of 64-bit words (xor-shifts and odd multipliers) in which
every input bit affects every output bit.  The keystream uses it to whiten map
states; the diffusion uses it as the nonlinear layer between its chains.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Words = NDArray[np.uint64]

_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_M1_INVERSE = pow(_M1, -1, 1 << 64)
_M2_INVERSE = pow(_M2, -1, 1 << 64)


# Work on slices of this many words, so that scratch space stays small and in cache.
CHUNK_WORDS = 1 << 16


def _xorshift_right(z: Words, shift: int, scratch: Words) -> None:
    z ^= np.right_shift(z, np.uint64(shift), out=scratch)


def _unxorshift_right(z: Words, shift: int, scratch: Words) -> None:
    # y = x ^ (x >> s) gives back x = y ^ (y >> s) ^ (y >> 2s) once 3s >= 64.
    _xorshift_right(z, shift, scratch)
    _xorshift_right(z, 2 * shift, scratch)


def _chunks(z: Words) -> list[tuple[Words, Words]]:
    scratch = np.empty(min(z.size, CHUNK_WORDS), dtype=np.uint64)
    return [(z[i : i + CHUNK_WORDS], scratch[: min(CHUNK_WORDS, z.size - i)]) for i in range(0, z.size, CHUNK_WORDS)]


def mix(z: Words) -> Words:
    """Apply the finaliser in place; returns `z`."""
    for part, scratch in _chunks(z):
        _xorshift_right(part, 30, scratch)
        part *= np.uint64(_M1)
        _xorshift_right(part, 27, scratch)
        part *= np.uint64(_M2)
        _xorshift_right(part, 31, scratch)
    return z


def unmix(z: Words) -> Words:
    """Inverse of `mix`, in place; returns `z`."""
    for part, scratch in _chunks(z):
        _unxorshift_right(part, 31, scratch)
        part *= np.uint64(_M2_INVERSE)
        _unxorshift_right(part, 27, scratch)
        part *= np.uint64(_M1_INVERSE)
        _unxorshift_right(part, 30, scratch)
    return z
