"""Password -> per-file keys: Argon2id with a random salt, then HKDF subkeys."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import InvalidInput, KdfParametersRefused

SALT_BYTES = 16
KEY_BYTES = 32

# OWASP's minimum for Argon2id is the floor; the caps stop a crafted header
# from making a reader allocate gigabytes or spin for minutes before the MAC
# check can reject it.
MIN_MEMORY_KIB = 19 * 1024
MAX_MEMORY_KIB = 1024 * 1024
MIN_ITERATIONS = 2
MAX_ITERATIONS = 16
MIN_PARALLELISM = 1
MAX_PARALLELISM = 16


@dataclass(frozen=True)
class KdfLimits:
    """The most key-derivation work a reader accepts from a file's header.
    The command line takes the format's caps; a server takes a policy of its
    own (no more than it writes itself, by default), so that a crafted header
    cannot make each request cost a gigabyte and half a minute."""

    max_memory_kib: int = MAX_MEMORY_KIB
    max_iterations: int = MAX_ITERATIONS
    max_parallelism: int = MAX_PARALLELISM

    def __post_init__(self) -> None:
        if not (
            MIN_MEMORY_KIB <= self.max_memory_kib <= MAX_MEMORY_KIB
            and MIN_ITERATIONS <= self.max_iterations <= MAX_ITERATIONS
            and MIN_PARALLELISM <= self.max_parallelism <= MAX_PARALLELISM
        ):
            raise ValueError(
                f"KDF limits must lie within the format's bounds: memory {MIN_MEMORY_KIB}-{MAX_MEMORY_KIB} KiB, "
                f"iterations {MIN_ITERATIONS}-{MAX_ITERATIONS}, parallelism {MIN_PARALLELISM}-{MAX_PARALLELISM}"
            )


FORMAT_LIMITS = KdfLimits()


@dataclass(frozen=True)
class KdfParams:
    memory_kib: int = MIN_MEMORY_KIB
    iterations: int = MIN_ITERATIONS
    parallelism: int = 1

    def check(self, limits: KdfLimits = FORMAT_LIMITS) -> None:
        """Refuse parameters outside the format's bounds or the reader's `limits`, before any work."""
        bounds = (
            ("memory", self.memory_kib, MIN_MEMORY_KIB, limits.max_memory_kib, "KiB"),
            ("iterations", self.iterations, MIN_ITERATIONS, limits.max_iterations, ""),
            ("parallelism", self.parallelism, MIN_PARALLELISM, limits.max_parallelism, ""),
        )
        for name, value, low, high, unit in bounds:
            if not low <= value <= high:
                raise KdfParametersRefused(
                    f"Argon2id {name} {value}{unit} is outside the accepted range {low}-{high}{unit}"
                )


@dataclass(frozen=True)
class FileKeys:
    """Independent subkeys, one per purpose, all from one Argon2id output."""

    keystream: bytes
    permutation: bytes
    metadata: bytes
    mac: bytes
    aes: bytes
    password_check: bytes

    @classmethod
    def expand(cls, master: bytes) -> FileKeys:
        names = [f for f in cls.__dataclass_fields__]
        okm = HKDF(
            algorithm=hashes.SHA256(), length=KEY_BYTES * len(names), salt=None, info=b"securepix v1 file keys"
        ).derive(master)
        return cls(**{name: okm[i * KEY_BYTES : (i + 1) * KEY_BYTES] for i, name in enumerate(names)})


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def check_password(password: str) -> None:
    """The one rule every front end applies before any work: a password is required."""
    if not password:
        raise InvalidInput({"password": ["a password is required"]})


def normalise_password(password: str) -> bytes:
    """NFC-normalised UTF-8, so that one password typed on two systems is one key."""
    check_password(password)
    return unicodedata.normalize("NFC", password).encode("utf-8")


def derive_keys(password: str, salt: bytes, params: KdfParams) -> FileKeys:
    params.check()
    if len(salt) != SALT_BYTES:
        raise KdfParametersRefused(f"salt must be {SALT_BYTES} bytes, not {len(salt)}")
    master = hash_secret_raw(
        secret=normalise_password(password),
        salt=salt,
        time_cost=params.iterations,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=KEY_BYTES,
        type=Type.ID,
    )
    return FileKeys.expand(master)
