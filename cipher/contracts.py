"""What an encryption or a decryption request is, for the API and the pages
alike: the fields are read here and the rules checked here, once (the
services call `check` and record a refusal)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from classification.contracts import check_acknowledgment_reason, check_domain
from core.errors import InvalidInput
from core.forms import Upload, boolean, one_upload, text

from .engine.envelope import CIPHERS
from .engine.kdf import check_password
from .passwords import check_file_password

_PASSWORD_MAX = 1024


@dataclass(frozen=True)
class EncryptRequest:
    upload: Upload
    password: str = field(repr=False)
    declared_domain: str
    cipher: str = "chaotic"
    acknowledge: bool = False  # encrypt despite a predicted-domain mismatch ...
    acknowledgment_reason: str = ""  # ... for this reason

    @classmethod
    def from_form(cls, fields: Mapping[str, Any], files: Sequence[tuple[str, bytes]]) -> EncryptRequest:
        return cls(
            upload=one_upload(files, "image", "image"),
            password=text(fields, "password", max_length=_PASSWORD_MAX),
            declared_domain=text(fields, "declared_domain", max_length=32),
            cipher=text(fields, "cipher", "chaotic", max_length=32) or "chaotic",
            acknowledge=boolean(fields, "acknowledge"),
            acknowledgment_reason=text(fields, "acknowledgment_reason").strip(),
        )

    @property
    def acknowledgment(self) -> str:
        """The user's reason for encrypting despite a mismatch ("" when none was given)."""
        return self.acknowledgment_reason if self.acknowledge else ""

    def check(self) -> None:
        self.upload.check()
        check_domain(self.declared_domain)
        if self.cipher not in CIPHERS:
            raise InvalidInput({"cipher": [f"unknown cipher {self.cipher!r}; choose one of {', '.join(CIPHERS)}"]})
        check_password(self.password)
        check_file_password(self.password)
        if self.acknowledge:
            check_acknowledgment_reason(self.acknowledgment_reason)


@dataclass(frozen=True)
class DecryptRequest:
    upload: Upload
    password: str = field(repr=False)

    @classmethod
    def from_form(cls, fields: Mapping[str, Any], files: Sequence[tuple[str, bytes | BinaryIO]]) -> DecryptRequest:
        return cls(
            upload=one_upload(files, "file", "SecurePix file"),
            password=text(fields, "password", max_length=_PASSWORD_MAX),
        )

    def check(self) -> None:
        self.upload.check()
        check_password(self.password)
