"""A keystream generator built from the Logistic, Circle and Ikeda maps.

The generator runs many independent copies of the three maps side by side
(numpy vectors), so that it costs a few dozen vector operations per step rather
than a Python loop per byte.  Each lane's starting point and Circle-map Omega
come from AES-256-CTR under a secret subkey, which is unique to one file (Argon2id
with a fresh salt), so no two files share a keystream.

One step of all lanes yields two 64-bit words per lane.  Each word combines the
low 52 mantissa bits of all four map states (the bits that chaos has stirred the
most) by rotations and XOR, the two words with different rotations, and passes
through the splitmix64 finaliser, a fixed bijection that spreads every input
bit over the whole word.  A couple of warm-up steps are discarded, so that no
output is a simple function of a seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from numpy.typing import NDArray

from . import maps
from .mixing import mix

MIN_LANES = 16
MAX_LANES = 16384
WARMUP_STEPS = 2
_MANTISSA = np.uint64((1 << 52) - 1)
_SEED_WORDS_PER_LANE = 5  # logistic x, circle theta, circle Omega, Ikeda x, Ikeda y


def _expand(key: bytes, length: int) -> bytes:
    """`length` pseudorandom bytes from a 32-byte key: AES-256 in counter mode
    from a zero counter block (each key seeds one stream only).  Ten times
    faster than SHAKE-256, which cost a quarter of a 512x512 encryption."""
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return encryptor.update(bytes(length)) + encryptor.finalize()


def _unit_interval(words: NDArray[np.uint64]) -> NDArray[np.float64]:
    """Odd multiples of 2**-53: uniform in (0, 1), never 0 or 1, exact in float64."""
    return ((words >> np.uint64(12)) * 2 + 1).astype(np.float64) * 2.0**-53


def _rotl(words: NDArray[np.uint64], bits: int) -> NDArray[np.uint64]:
    return (words << np.uint64(bits)) | (words >> np.uint64(64 - bits))


def _mantissa(values: NDArray[np.float64]) -> NDArray[np.uint64]:
    return values.view(np.uint64) & _MANTISSA


def lanes_for(expected_words: int) -> int:
    """How many lanes a stream of about `expected_words` words runs: about 4
    steps (8 words) per lane, since each step costs a hundred numpy calls
    whatever the lane count, up to MAX_LANES.  A power of two from MIN_LANES to MAX_LANES;
    part of the file format."""
    return min(MAX_LANES, max(MIN_LANES, 1 << (expected_words // 8).bit_length()))


class ChaoticKeystream:
    """Deterministic stream of words and bytes for one secret key."""

    def __init__(self, key: bytes, expected_words: int) -> None:
        if len(key) != 32:
            raise ValueError("keystream key must be 32 bytes")
        lanes = lanes_for(expected_words)
        seed = _expand(key, lanes * _SEED_WORDS_PER_LANE * 8)
        words = np.frombuffer(seed, dtype="<u8").astype(np.uint64).reshape(_SEED_WORDS_PER_LANE, lanes)
        self._maps = maps.ChaoticLanes(
            logistic=_unit_interval(words[0]),
            theta=_unit_interval(words[1]),
            omega=_unit_interval(words[2]),
            ikeda_x=_unit_interval(words[3]) - 0.5,
            ikeda_y=_unit_interval(words[4]) - 0.5,
        )
        self._pending = np.empty(0, dtype=np.uint64)
        for _ in range(WARMUP_STEPS):
            self._maps.step()

    def _step(self) -> NDArray[np.uint64]:
        lanes = self._maps
        lanes.step()
        states = [_mantissa(s) for s in (lanes.logistic, lanes.theta, lanes.ikeda_x, lanes.ikeda_y)]
        first = states[0] ^ _rotl(states[1], 13) ^ _rotl(states[2], 26) ^ _rotl(states[3], 39)
        second = states[1] ^ _rotl(states[2], 13) ^ _rotl(states[3], 26) ^ _rotl(states[0], 39)
        return np.concatenate([mix(first), mix(second)])

    def _blocks(self, count: int) -> Iterator[NDArray[np.uint64]]:
        """The next `count` words, as successive arrays of at most one step each."""
        while count > 0:
            if self._pending.size == 0:
                self._pending = self._step()
            block, self._pending = self._pending[:count], self._pending[count:]
            count -= block.size
            yield block

    def words(self, count: int) -> NDArray[np.uint64]:
        """The next `count` 64-bit words of the stream."""
        return np.concatenate([np.empty(0, dtype=np.uint64), *self._blocks(count)])

    def add_to(self, words: NDArray[np.uint64], sign: int = 1) -> None:
        """words += (or -=, with sign=-1) the next words.size words, in place,
        without holding the whole keystream in memory."""
        operation = np.add if sign > 0 else np.subtract
        start = 0
        for block in self._blocks(words.size):
            target = words[start : start + block.size]
            operation(target, block, out=target)
            start += block.size

    def bytes(self, count: int) -> NDArray[np.uint8]:
        """The next `count` bytes of the stream (words in little-endian order)."""
        words = self.words((count + 7) // 8)
        return words.astype("<u8", copy=False).view(np.uint8)[:count]
