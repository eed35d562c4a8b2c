"""A job's secrets on their way to the workers.

Between the request that submits a job and the worker that takes each file,
the input images wait in the results storage, sealed with AES-256-GCM under a
key made for the job (the job and file are its associated data).  That key and
the file password travel only inside the task messages, sealed in turn under a
key derived from SECUREPIX_SECRET_KEY, which every web and job worker shares
(Fernet: AES-CBC with HMAC, and a time limit).  So neither the disk nor Redis
ever holds an image or a password in the clear, and a message older than
MESSAGE_MAX_AGE is refused.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MESSAGE_MAX_AGE = 7 * 24 * 3600  # seconds
_NONCE = 12


@dataclass(frozen=True)
class JobSecrets:
    key: bytes = field(repr=False)  # seals the job's staged inputs
    password: str = field(repr=False)  # the file password of an encryption job ("" to classify)

    @classmethod
    def new(cls, password: str) -> JobSecrets:
        return cls(AESGCM.generate_key(bit_length=256), password)


def _messages(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"securepix job messages").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def seal_secrets(secrets: JobSecrets, secret_key: str) -> str:
    plain = json.dumps({"key": base64.b64encode(secrets.key).decode(), "password": secrets.password})
    return _messages(secret_key).encrypt(plain.encode()).decode()


def open_secrets(token: str, secret_key: str) -> JobSecrets:
    """The secrets of a task message; ValueError when it was not sealed with this
    secret key, was altered, or is older than MESSAGE_MAX_AGE."""
    try:
        plain = json.loads(_messages(secret_key).decrypt(token.encode(), ttl=MESSAGE_MAX_AGE))
    except (InvalidToken, ValueError) as error:
        raise ValueError("the job's task message cannot be opened (another secret key, altered, or too old)") from error
    return JobSecrets(base64.b64decode(plain["key"]), plain["password"])


def seal_input(key: bytes, label: str, data: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, data, label.encode())


def open_input(key: bytes, label: str, sealed: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    try:
        return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], label.encode())
    except InvalidTag as error:
        raise ValueError(f"the staged input {label} was altered or belongs to another job") from error
